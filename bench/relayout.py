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
import json
import random
import sys
from pathlib import Path
from typing import Any

from retrieval.eval import load_questions
from retrieval.ingest import split_sentences
from retrieval.score_ref import norm

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
    questions = load_questions(questions_file)
    by_article: dict[str, list[dict[str, Any]]] = {}
    for q in questions:
        by_article.setdefault(q["article"], []).append(q)
    new_of: dict[str, list[list[int]]] = {}  # article -> old body paragraph -> its new body paragraphs
    texts_of: dict[str, list[str]] = {}
    for rel in sorted(by_article):
        src = (questions_file.parent / rel).read_text(encoding="utf-8")
        if not src.startswith("# "):
            raise ValueError(f"{rel}: only Markdown articles ('# Title', blank-line paragraphs) are laid out again")
        out_blocks: list[str] = []
        mapping: list[list[int]] = []
        bodies: list[str] = []
        for b in src.split("\n\n"):  # as score.py reads paragraphs; the '# ' title block stays
            if not b.strip() or b.strip().startswith("# "):
                out_blocks.append(b)
                continue
            pieces = cut(b, random.Random(f"{seed}:{rel}:{len(mapping)}"))
            mapping.append(list(range(len(bodies), len(bodies) + len(pieces))))
            bodies += pieces
            out_blocks += pieces
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("\n\n".join(out_blocks), encoding="utf-8")
        new_of[rel], texts_of[rel] = mapping, [norm(t) for t in bodies]
    out_questions = []
    for q in questions:
        q = dict(q)
        p = q.get("paragraph")
        if p is not None:
            pieces = new_of[q["article"]][p]
            answers = [norm(a) for a in q["answers"]]
            holding = [i for i in pieces if any(a in texts_of[q["article"]][i] for a in answers)]
            q["paragraph"] = holding[0] if holding else pieces[0]
            q["paragraphs"] = pieces
        out_questions.append(q)
    out = out_dir / questions_file.name
    out.write_text("".join(json.dumps(q) + "\n" for q in out_questions), encoding="utf-8")
    return out


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
