"""Session 14: the BM25 top list's k-th score at 1,000,000 passages found by partitioning only the scores at or
above a strided sample's k-th (answer._kth_largest) instead of all ~35,000 of them. Checks the top lists and
their moments are identical on 100 squad questions, then times the top list alone and the whole answer
(interleaved with the bare encode). Loads the store saved by stage1_lines.py.
python bench/experiments/kth_sample.py [DIR]"""

from __future__ import annotations

import importlib
import os
import sys
import time
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
SAMPLED = A._kth_largest


def one_partition(x: np.ndarray, k: int) -> np.floating:
    return -np.partition(-x, k - 1)[k - 1]


def with_kth(fn, kth):  # type: ignore[no-untyped-def]
    def run(*a):  # type: ignore[no-untyped-def]
        A._kth_largest = kth
        try:
            return fn(*a)
        finally:
            A._kth_largest = SAMPLED
    return run


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/exp-1m")
    enc = perf.make_encoder("onnx")
    store = saved_store(d, enc)
    answerer = warmed(A.Answerer(store))
    sent = answerer.index(store.snapshot).sent
    qs = perf.squad_questions(100)
    terms = [A._query_terms(A.tokenize([q])[0], None) for q in qs]
    top = {name: with_kth(lambda t: sent.top_stats(t, A.LEXICAL_CANDIDATES), kth)
           for name, kth in (("one partition (before)", one_partition), ("sampled bound (shipped)", SAMPLED))}
    a, b = ([f(t) for t in terms] for f in top.values())
    same = all(np.array_equal(x[0], y[0]) and x[1:] == y[1:] for x, y in zip(a, b))
    print(f"identical top lists and moments on {len(qs)} questions: {same}", flush=True)
    for rnd in range(2):
        for name, f in (top.items() if rnd % 2 == 0 else list(top.items())[::-1]):
            t0 = time.perf_counter()
            for t in terms * 3:
                f(t)
            print(f"BM25 top list alone, {name}: {(time.perf_counter() - t0) / (3 * len(terms)) * 1000:.3f} ms",
                  flush=True)
    race({"bare encode": lambda q: enc.model.encode([q]),
          "answer, one partition (before)": with_kth(answerer.run, one_partition),
          "answer, sampled bound (shipped)": with_kth(answerer.run, SAMPLED)}, qs, int(os.environ.get("REPS", "3")))


if __name__ == "__main__":
    main()
