"""Session 13: where stage 1 spends its time over a 1,000,000-passage index, line by line (line_profiler, a
development tool, not a dependency). The snapshot of bench.perf's scale section is saved once to DIR (default
/tmp/exp-1m) and loaded on later runs, so an iteration takes ~1 minute instead of ~4.
python bench/experiments/stage1_lines.py [DIR]"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import perf  # noqa: E402

A = importlib.import_module("retrieval.answer")


def main() -> None:
    from line_profiler import LineProfiler

    from retrieval import Assistant
    from retrieval.store import Store, build_faiss

    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/exp-1m")
    enc = perf.make_encoder("onnx")
    store = Store(d, enc)
    t = time.perf_counter()
    if not store.load():
        corpus = Assistant(articles=perf.squad_articles(False), index_dir=Path(tempfile.gettempdir()) / "exp-corpus",
                           encoder=enc)
        corpus.warm_up()
        snap0 = corpus.store.snapshot
        rng = np.random.default_rng(0)
        vecs, anchors = perf.scale_vectors(np.ascontiguousarray(snap0.vectors, dtype=np.float32), 1_000_000, rng)
        snap = perf.scale_snapshot(snap0, vecs, anchors, build_faiss(vecs, exact_limit=0), rng)
        d.mkdir(parents=True, exist_ok=True)
        store._save(snap)
        store._snapshot = snap
    print(f"store ready in {time.perf_counter() - t:.0f} s ({type(store.snapshot.index).__name__})", flush=True)
    answerer = A.Answerer(store)
    t = time.perf_counter()
    answerer.warm_up()
    print(f"warm-up {time.perf_counter() - t:.0f} s", flush=True)
    qs = perf.squad_questions(100)
    for q in qs[:10]:
        answerer.run(q)
    prof = LineProfiler()
    for fn in (A.Answerer.stage1, A.Answerer._candidates, A.Answerer.rank, A.Answerer.stage2, A._Postings.at):
        prof.add_function(fn)
    t0 = time.perf_counter()
    prof.enable_by_count()
    for q in qs * 2:
        answerer.run(q)
    prof.disable_by_count()
    print(f"{(time.perf_counter() - t0) / (2 * len(qs)) * 1000:.2f} ms per answer under the line profiler")
    prof.print_stats(output_unit=1e-3, stripzeros=True)


if __name__ == "__main__":
    main()
