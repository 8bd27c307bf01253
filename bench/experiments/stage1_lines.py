"""Session 13: where stage 1 spends its time over a 1,000,000-passage index, line by line (line_profiler, a
development tool, not a dependency). The snapshot of bench.perf's scale section is saved once to DIR (default
/tmp/exp-1m) and loaded on later runs, so an iteration takes ~1 minute instead of ~4.
python bench/experiments/stage1_lines.py [DIR]"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _scale import saved_store, warmed  # noqa: E402
from _timing import line_profile  # noqa: E402
from bench import perf  # noqa: E402

A = importlib.import_module("retrieval.answer")


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/exp-1m")
    enc = perf.make_encoder("onnx")
    store = saved_store(d, enc)
    answerer = warmed(A.Answerer(store))
    qs = perf.squad_questions(100)
    for q in qs[:10]:
        answerer.run(q)

    def body() -> int:
        for q in qs * 2:
            answerer.run(q)
        return 2 * len(qs)

    line_profile([A.Answerer.stage1, A.Answerer._candidates, A.Answerer.rank, A.Answerer.stage2, A._Postings.at], body)


if __name__ == "__main__":
    main()
