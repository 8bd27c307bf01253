"""Evaluation command: answer a benchmark question set and write predictions in the shared bench format.

    python -m retrieval.eval QUESTIONS.jsonl --predictions OUT.jsonl [--scope article|corpus] [--index-dir DIR]

Each question is asked of its own article (one cached index per article) or, with --scope corpus, of one index
holding every article of the set. The summary is computed by the reference scorer's own code (score_ref.py, a
verbatim copy of the bench's score.py), so its numbers are score.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import score_ref
from .assistant import DEFAULT_INDEX_DIR, Assistant
from .embed import default_encoder
from .ingest import slugify


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Questions of a bench file, one JSON object a line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _collection(paths: list[Path]) -> str:
    digest = hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:10]
    stem = slugify(paths[0].stem) if len(paths) == 1 else f"corpus-{len(paths)}"
    return f"eval/{stem}-{digest}"


def predict(questions: list[dict[str, Any]], base: Path, *, scope: str = "article",
            index_dir: Path = DEFAULT_INDEX_DIR, quiet: bool = False) -> list[dict[str, Any]]:
    """Predictions for the questions, in the bench format."""
    encoder = default_encoder()
    encoder.warm_up()
    by_article: dict[Path, list[dict[str, Any]]] = {}
    for q in questions:
        by_article.setdefault((base / q["article"]).resolve(), []).append(q)
    groups: list[tuple[list[Path], list[dict[str, Any]]]]
    if scope == "corpus":
        paths = sorted(by_article)
        groups = [(paths, [q for q in questions if q.get("kind") != "off-topic"])]
    else:
        groups = [([p], qs) for p, qs in by_article.items()]
    preds = []
    for paths, qs in groups:
        assistant = Assistant(articles=paths, index_dir=index_dir, encoder=encoder, collection=_collection(paths))
        assistant.warm_up()
        for q in qs:
            t0 = time.perf_counter()
            ans = assistant.answer(q["question"])
            ms = (time.perf_counter() - t0) * 1000
            preds.append({"id": q["id"], "abstained": ans.abstained, "ranked": [c.text for c in ans.ranked[:10]],
                          "cited": [c.text for c in ans.citations], "latency_ms": round(ms, 3)})
        if not quiet:
            print(f"  {', '.join(p.name for p in paths)[:70]}: {len(qs)} questions", file=sys.stderr)
    return preds


def score(questions_path: Path, predictions_path: Path) -> dict[str, Any]:
    """score.py's metrics for a predictions file."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        score_ref.main([str(questions_path), str(predictions_path), "--json"])
    return json.loads(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m retrieval.eval", description=__doc__.split("\n")[0])
    p.add_argument("questions", type=Path, help="questions file (shared bench format)")
    p.add_argument("--predictions", type=Path, required=True, help="where to write predictions (JSONL)")
    p.add_argument("--scope", choices=("article", "corpus"), default="article",
                   help="ask each question of its own article (default) or of one index of all the set's articles")
    p.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR, help="where the per-article indexes are cached")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    questions = load_questions(args.questions)
    preds = predict(questions, args.questions.parent, scope=args.scope, index_dir=args.index_dir)
    args.predictions.parent.mkdir(parents=True, exist_ok=True)
    args.predictions.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in preds), encoding="utf-8")
    if args.scope == "corpus":  # off-topic questions are left out: the corpus holds their article
        kept = {x["id"] for x in preds}
        qfile = args.predictions.with_suffix(".questions.jsonl")
        rows = [dict(q, article=str((args.questions.parent / q["article"]).resolve())) for q in questions if q["id"] in kept]
        qfile.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        summary = score(qfile, args.predictions)
    else:
        summary = score(args.questions, args.predictions)
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>24}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
