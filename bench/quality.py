"""Quality benchmark: the three reference recipes and the project's answerer side by side, in one run.

    python -m bench.quality SET.jsonl [--out DIR] [--methods dense,rrf,chunk,answerer] [--index-dir DIR] [--json]

Prints one table of the reference scorer's metrics (score.py's own code) and latency per method, plus the bare
query-embedding time measured in the same run (the floor answer latency is compared against). The answerer is
timed end to end through ``Answerer.run`` (validation, embedding, ranking, abstention, citations). The recipes
embed the same question text, so they reuse the vector embedded for the floor: their latency is that question's
measured embedding time plus their own measured ranking time. Predictions are written under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


from retrieval.answer import clean_question
from retrieval.assistant import DEFAULT_INDEX_DIR
from retrieval.embed import default_encoder
from retrieval.errors import QuestionError
from retrieval.eval import refused, score

from .data import cached_encode, load_set
from .recipes import ChunkRecipe, SentenceRecipes, chunks

METHODS = ("dense", "rrf", "chunk", "answerer")
LABELS = {"dense": "embedding top sentence (cos<0.35 abstains)", "rrf": "BM25+embedding RRF k=60",
          "chunk": "1000-char chunks, 200 overlap", "answerer": "project answerer (retrieval.answer)"}
COLUMNS = ("P@1", "R@3", "MRR@10", "false_abstain", "abstain[off-topic]", "abstain[unanswerable]", "cited_words_mean",
           "cited_faithful", "latency_ms_p50", "latency_ms_p95")


def run(qpath: Path, out: Path, methods: tuple[str, ...] = METHODS, quiet: bool = False, *,
        index_dir: Path = DEFAULT_INDEX_DIR) -> dict[str, Any]:
    encoder = default_encoder()
    bench = load_set(qpath, encoder=encoder, index_dir=index_dir)
    preds: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    floor: list[float] = []
    by_article: dict[str, list[dict[str, Any]]] = {}
    for q in bench.questions:
        by_article.setdefault(q["article"], []).append(q)
    for rel, qs in by_article.items():
        assistant = bench.assistants[rel]
        snap = assistant.store.snapshot
        art = next(iter(snap.articles.values()))
        sents = [s.text for s in snap.sentences]
        srec = SentenceRecipes(sents, snap.vectors)
        body = art.source[art.paragraphs[0].start:art.paragraphs[-1].end]
        pieces = chunks(body)
        crec = ChunkRecipe(pieces, cached_encode(encoder, pieces, assistant.index_dir / "eval" / "chunks", "chunks"))
        answerer = assistant.answerer
        answerer.warm_up()
        encoder.encode(["warm up"])
        for q in qs:
            try:  # a question the answerer cannot take is a refusal for every method, so all score the same set
                clean_question(q.get("question"))
            except QuestionError as exc:
                print(f"  question {q['id']}: {exc} (a refusal for every method)", file=sys.stderr)
                for m in methods:
                    preds[m].append(refused(q, str(exc)))
                continue
            t0 = time.perf_counter()
            qvec = encoder.encode([q["question"]])[0]
            emb_ms = (time.perf_counter() - t0) * 1000
            floor.append(emb_ms)
            for m in methods:
                if m == "answerer":
                    t0 = time.perf_counter()
                    ans = answerer.run(q["question"])
                    ms = (time.perf_counter() - t0) * 1000
                    abstained, ranked, cited = ans.abstained, [c.text for c in ans.ranked[:10]], \
                        [c.text for c in ans.citations]
                else:
                    t0 = time.perf_counter()
                    if m == "dense":
                        abstained, ranked = srec.dense(qvec)
                    elif m == "rrf":
                        abstained, ranked = srec.rrf(q["question"], qvec)
                    else:
                        abstained, ranked = crec.rank(qvec)
                    ms = emb_ms + (time.perf_counter() - t0) * 1000
                    cited = [] if abstained else ranked[:1]
                preds[m].append({"id": q["id"], "abstained": abstained, "ranked": ranked, "cited": cited,
                                 "latency_ms": round(ms, 3)})
        if not quiet:
            print(f"  {Path(rel).name}: {len(qs)} questions", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for m in methods:
        path = out / f"{qpath.stem}.{m}.pred.jsonl"
        path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in preds[m]), encoding="utf-8")
        results[m] = score(qpath, path)
    results["query_embedding_ms_p50"] = round(statistics.median(floor), 2)
    results["query_embedding_ms_p95"] = round(statistics.quantiles(floor, n=20)[18], 2) if len(floor) >= 20 else None
    return results


def table(qpath: Path, results: dict[str, Any], methods: tuple[str, ...]) -> str:
    cols = [c for c in COLUMNS if any(results[m].get(c) is not None for m in methods)]
    short = {"abstain[off-topic]": "abst[off]", "abstain[unanswerable]": "abst[unans]", "false_abstain": "false_abs",
             "cited_words_mean": "words", "cited_faithful": "faithful", "latency_ms_p50": "ms_p50",
             "latency_ms_p95": "ms_p95"}
    head = "| method | " + " | ".join(short.get(c, c) for c in cols) + " |"
    lines = [f"{qpath.name}: {results[methods[0]]['questions']} questions", "", head,
             "|---|" + "---|" * len(cols)]
    for m in methods:
        vals = ["" if results[m].get(c) is None else f"{results[m][c]}" for c in cols]
        lines.append(f"| {LABELS[m]} | " + " | ".join(vals) + " |")
    lines.append("| query embedding alone (floor) | " + " | ".join(
        {"latency_ms_p50": str(results["query_embedding_ms_p50"]),
         "latency_ms_p95": str(results["query_embedding_ms_p95"])}.get(c, "") for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    p.add_argument("questions", type=Path)
    p.add_argument("--out", type=Path, default=Path("out/quality"), help="where predictions are written")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR, help="where the per-article indexes are cached")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        p.error(f"unknown methods {bad}; choose from {METHODS}")
    try:
        results = run(args.questions, args.out, methods, index_dir=args.index_dir)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # (RetrievalError: an article that cannot be read)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (args.out / f"{args.questions.stem}.summary.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(results) if args.json else table(args.questions, results, methods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
