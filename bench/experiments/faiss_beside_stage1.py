"""Session 13: at 1,000,000 passages, FAISS searched in a worker while stage 1 reads the BM25 top list's rows
(bench/experiments/faiss_beside_stage1.patch, Answerer._candidates_stage1: not shipped, slower), against session 12's path (FAISS in the calling thread, then stage 1 over
all the candidates). Loads the 1M store saved in DIR (default /tmp/exp-1m; made there if missing, _scale.py), checks that both
give the same rankings and scores, then times both interleaved with the bare encode.
REPS=3 python bench/experiments/faiss_beside_stage1.py [DIR], with the patch applied (OMP1=1: the pool's threads run FAISS
on one OpenMP thread)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _scale import saved_store, warmed  # noqa: E402
from _timing import race  # noqa: E402
from bench import perf  # noqa: E402

A = importlib.import_module("retrieval.answer")


class Before(A.Answerer):
    """Session 12's path: the FAISS search in the calling thread after the encode, then stage 1 over the union."""

    def _candidates_stage1(self, terms, qvec, qtype, snap, article, lexical):  # type: ignore[no-untyped-def]
        lo, hi = self._bounds(snap, article)
        if hi - lo <= A.FULL_SCAN_LIMIT:
            return super()._candidates_stage1(terms, qvec, qtype, snap, article, lexical)
        if lexical is None:
            lexical = self._lexical_top(terms, snap, lo, hi)
        k = A.CANDIDATES if article is None else 4 * A.CANDIDATES
        try:
            _, ids = snap.index.search(qvec[None, :].astype(np.float32), k)
        finally:
            top, bmean, bsd = lexical.result()
        dense = ids[0][(ids[0] >= lo) & (ids[0] < hi)]
        rows = A._unique(np.concatenate([dense.astype(np.int64), top]))
        return (rows, *self.stage1(terms, qvec, qtype, snap, rows,
                                   stats=self._scope_stats(snap, qvec, article, bmean, bsd)))


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/exp-1m")
    if os.environ.get("OMP1"):  # the pool's threads run FAISS on one OpenMP thread
        import faiss
        from concurrent.futures import ThreadPoolExecutor

        A._LEXICAL_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lexical-top",
                                             initializer=lambda: faiss.omp_set_num_threads(1))
    enc = perf.make_encoder("onnx")
    store = saved_store(d, enc)
    now, before = warmed(A.Answerer(store)), Before(store)
    before._built = now._built  # the same lexical index
    qs = perf.squad_questions(100)
    for q in qs:
        x, y = before.run(q), now.run(q)
        assert [(c.text, c.score) for c in x.ranked] == [(c.text, c.score) for c in y.ranked], q
        assert x.abstained == y.abstained
    print(f"same ranked lists and scores on {len(qs)} questions", flush=True)
    race({"FAISS, then stage 1 (session 12)": before.run, "FAISS beside stage 1 (the patch)": now.run,
          "bare encode": perf.bare_encode(enc.model)}, qs, int(os.environ.get("REPS", 3)))


if __name__ == "__main__":
    main()
