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
from .errors import ArticleError, QuestionError
from .ingest import slugify


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Questions of a bench file, one JSON object a line; a ValueError naming the file and line for one that is not
    (score.py could not read the file either, so nothing is answered)."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{n}: not a JSON object ({exc})") from None
        if not isinstance(q, dict):
            raise ValueError(f"{path}:{n}: not a JSON object")
        if q.get("id") is None or not isinstance(q.get("article"), str):  # (an unusable "question" is refused later)
            raise ValueError(f"{path}:{n}: a question needs an \"id\" and an \"article\" path")
        out.append(q)
    return out


def refused(q: dict[str, Any], error: str, ms: float | None = None) -> dict[str, Any]:
    """The prediction for a question the assistant could not take (its message kept), scored as an abstention; ms:
    the time the refusal took (none when nothing was asked: score.py then leaves it out of the latencies)."""
    out = {"id": q["id"], "abstained": True, "ranked": [], "cited": [], "error": error}
    return out if ms is None else dict(out, latency_ms=round(ms, 3))


def _collection(paths: list[Path]) -> str:
    digest = hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:10]
    stem = slugify(paths[0].stem) if len(paths) == 1 else f"corpus-{len(paths)}"
    return f"eval/{stem}-{digest}"


def predict(questions: list[dict[str, Any]], base: Path, *, scope: str = "article",
            index_dir: Path = DEFAULT_INDEX_DIR, quiet: bool = False, unread: list[str] | None = None
            ) -> list[dict[str, Any]]:
    """Predictions for the questions, in the bench format (unread: gets the message of each article that could not
    be read; its questions are predicted as refusals)."""
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
        # one unreadable article or unusable question costs its own predictions only (each written as a refusal
        # with its message), never the run's
        assistant = Assistant(articles=paths, index_dir=index_dir, encoder=encoder, collection=_collection(paths))
        try:
            assistant.warm_up()
        except ArticleError as exc:
            print(f"  {exc}: its {len(qs)} question(s) are written as refusals", file=sys.stderr)
            if unread is not None:
                unread.append(str(exc))
            preds.extend(refused(q, str(exc)) for q in qs)
            continue
        for q in qs:
            t0 = time.perf_counter()
            try:
                ans = assistant.answer(q.get("question"))
            except QuestionError as exc:
                if not quiet:
                    print(f"  question {q['id']}: {exc} (written as a refusal)", file=sys.stderr)
                preds.append(refused(q, str(exc), (time.perf_counter() - t0) * 1000))
                continue
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
    try:
        questions = load_questions(args.questions)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unread: list[str] = []
    preds = predict(questions, args.questions.parent, scope=args.scope, index_dir=args.index_dir, unread=unread)
    args.predictions.parent.mkdir(parents=True, exist_ok=True)
    args.predictions.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in preds), encoding="utf-8")
    n_refused = sum(1 for x in preds if "error" in x)
    if n_refused:
        print(f"{n_refused} of {len(preds)} questions could not be asked (each predicted as a refusal, with its error); "
              f"{len(unread)} article(s) could not be read", file=sys.stderr)
    scored = args.questions
    if args.scope == "corpus":  # off-topic questions are left out: the corpus holds their article
        kept = {x["id"] for x in preds}
        qfile = scored = args.predictions.with_suffix(".questions.jsonl")
        rows = [dict(q, article=str((args.questions.parent / q["article"]).resolve())) for q in questions if q["id"] in kept]
        qfile.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    try:
        summary = score(scored, args.predictions)
    except OSError as exc:  # (an article score.py must read is missing: already reported above)
        print(f"error: predictions written to {args.predictions}, but they cannot be scored: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>24}: {v}")
    return 1 if unread else 0


if __name__ == "__main__":
    sys.exit(main())
