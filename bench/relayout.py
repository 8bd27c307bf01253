"""Lay a bench set's articles out as news articles are: paragraphs of one to three sentences.

    python -m bench.relayout ../shared/bench/squad/squad-v1.1-dev.jsonl index/spun/n00 [--seed 0]
    python -m bench.relayout index/spun/r40/squad-v1.1-dev.jsonl index/spun/n40

The product's articles are news: a third of the seed article's paragraphs are one sentence, and none is longer than
four. SQuAD's are encyclopaedia paragraphs of four to six sentences (3 % are one sentence). The ranking's context
evidence (the paragraph's cosine and BM25, the neighbours' scores) means something else in each layout: a sentence
alone in its paragraph has no neighbours, and its paragraph is itself. Weights fitted on SQuAD's layout alone learn
those features where they seldom take such values. This writes a copy of a set whose every body paragraph is cut, at
the answerer's own sentence boundaries, into consecutive paragraphs of 1-3 sentences (sizes drawn uniformly, seeded
per article and paragraph); sentences, titles and questions are unchanged. A question's `paragraph` becomes the
first new paragraph holding an answer, and `paragraphs` lists every piece of the old paragraph (bench/fit.py's
definition of a correct sentence reads it; score.py reads `paragraph`).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from retrieval.ingest import split_sentences
from retrieval.score_ref import norm

from .copies import rewrite_articles, write_questions

#: Sentences per news-style paragraph, drawn uniformly.
SIZES = (1, 2, 3)


def cut(paragraph: str, rng: random.Random) -> list[str]:
    """paragraph as consecutive pieces of SIZES sentences each (verbatim text between the sentence boundaries)."""
    spans = split_sentences(paragraph)
    if len(spans) <= 1:
        return [paragraph]
    pieces: list[str] = []
    i = 0
    while i < len(spans):
        k = rng.choice(SIZES)
        j = min(len(spans), i + k)
        start = 0 if i == 0 else spans[i][0]
        end = len(paragraph) if j == len(spans) else spans[j][0]
        pieces.append(paragraph[start:end].strip())
        i = j
    return pieces


def relayout_set(questions_file: Path, out_dir: Path, *, seed: int = 0) -> Path:
    """Write the re-paragraphed copy of a set (articles + questions file) under out_dir; returns the questions file."""
    new_of: dict[str, list[list[int]]] = {}  # article -> old body paragraph -> its new body paragraphs
    texts_of: dict[str, list[str]] = {}  # article -> the new body paragraphs' normalised texts

    def pieces(rel: str, body: int, text: str, qs: list[dict[str, Any]]) -> list[str]:
        out = cut(text, random.Random(f"{seed}:{rel}:{body}"))
        texts = texts_of.setdefault(rel, [])
        new_of.setdefault(rel, []).append(list(range(len(texts), len(texts) + len(out))))
        texts += [norm(t) for t in out]
        return out

    out_questions = []
    for q in rewrite_articles(questions_file, out_dir, pieces, what="laid out again"):
        q = dict(q)
        p = q.get("paragraph")
        if p is not None:
            held = new_of[q["article"]][p]
            answers = [norm(a) for a in q["answers"]]
            holding = [i for i in held if any(a in texts_of[q["article"]][i] for a in answers)]
            q["paragraph"] = holding[0] if holding else held[0]
            q["paragraphs"] = held
        out_questions.append(q)
    return write_questions(out_questions, questions_file, out_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.relayout", description=__doc__.split("\n")[0])
    p.add_argument("questions", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(relayout_set(args.questions, args.out_dir, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
