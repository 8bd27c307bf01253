"""Reword a bench set's articles the way the product's news articles arrive: common words swapped for near-synonyms.

    python -m bench.spin ../shared/bench/squad/squad-v1.1-dev.jsonl index/spun/squad [--rate 0.4] [--seed 0]

The seed article reads as if run through a synonym spinner ("struggle" for "war", "decision signal" for "call
sign", "dwelling" for "living"), while the questions asked of it are plain English. SQuAD's articles are not
reworded, so weights fitted on them alone learn to trust exact word overlap more than such articles allow. This
writes a copy of a set whose article bodies are reworded (questions, answers and titles unchanged) so bench/fit.py
can fit on both (``--augment``). Synonyms come from the embedding model's own input word vectors (nearest whole
words that are not inflections of the word), so no thesaurus has to be downloaded. Answer strings inside a
paragraph and capitalised words (names) are left as they are, so score.py's definition of a correct sentence holds.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from retrieval.answer import STOPWORDS

from .copies import rewrite_articles, write_questions

_WORDS = re.compile(r"\b[a-z]{3,}\b")
#: Candidate synonyms per word: the nearest few whole-word vocabulary entries by input-embedding cosine.
NEIGHBOURS = 3
MIN_COSINE = 0.45


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, int], list[str], np.ndarray]:
    """The model's whole-word vocabulary and unit input-embedding rows."""
    from safetensors.numpy import load_file

    from retrieval.embed import _find, model_path

    root = model_path()
    vocab = json.loads(Path(_find(root, "tokenizer.json")).read_text(encoding="utf-8"))["model"]["vocab"]
    emb = load_file(str(_find(root, "model.safetensors")))["embeddings.word_embeddings.weight"].astype(np.float32)
    words = sorted((i, t) for t, i in vocab.items() if t.isalpha() and t.islower() and len(t) >= 3)
    ids = np.array([i for i, _ in words])
    mat = emb[ids] / np.linalg.norm(emb[ids], axis=1, keepdims=True)
    return {t: k for k, (_, t) in enumerate(words)}, [t for _, t in words], mat


@lru_cache(maxsize=None)
def synonyms(word: str) -> tuple[str, ...]:
    """Near-synonyms of a lower-case word (nearest input embeddings, inflections of the word left out)."""
    index, words, mat = _table()
    k = index.get(word)
    if k is None or word in STOPWORDS:
        return ()
    sims = mat @ mat[k]
    out: list[str] = []
    for j in np.argsort(-sims)[1:40]:
        w = words[int(j)]
        if sims[j] < MIN_COSINE or len(out) == NEIGHBOURS:
            break
        if w[:4] == word[:4] or word in w or w in word or w in STOPWORDS:
            continue
        out.append(w)
    return tuple(out)


def spin(text: str, protect: list[str], rng: random.Random, rate: float, *,
         substitutes: Callable[[str], tuple[str, ...]] = synonyms) -> str:
    """text with a share `rate` of its lower-case content words swapped for one of substitutes(word) (default: the
    embedding neighbours), protected strings kept."""
    low = text.lower()
    keep = np.zeros(len(text) + 1, dtype=bool)
    for a in protect:
        a = a.lower().strip()
        start = low.find(a) if a else -1
        while start >= 0:
            keep[start:start + len(a)] = True
            start = low.find(a, start + 1)
    parts, last = [], 0
    for m in _WORDS.finditer(text):
        if keep[m.start():m.end()].any() or rng.random() >= rate:
            continue
        options = substitutes(m.group(0))
        if options:
            parts += [text[last:m.start()], rng.choice(options)]
            last = m.end()
    return "".join(parts) + text[last:]


def spin_set(questions_file: Path, out_dir: Path, *, rate: float = 0.4, seed: int = 0,
             substitutes: Callable[[str], tuple[str, ...]] = synonyms, what: str = "reworded") -> Path:
    """Write the reworded copy of a set (articles + questions file) under out_dir; returns the questions file."""

    def reword(rel: str, body: int, text: str, qs: list[dict[str, Any]]) -> list[str]:
        protect = [a for q in qs if q.get("paragraph") in (None, body) for a in q["answers"]]
        return [spin(text, protect, random.Random(f"{seed}:{rel}:{body}"), rate, substitutes=substitutes)]

    questions = rewrite_articles(questions_file, out_dir, reword, what=what)
    return write_questions(questions, questions_file, out_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.spin", description=__doc__.split("\n")[0])
    p.add_argument("questions", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--rate", type=float, default=0.4, help="share of eligible words swapped")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(spin_set(args.questions, args.out_dir, rate=args.rate, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
