"""Session 13: where the seed article's answer spends its time outside the encode, line by line (line_profiler, a
development tool, not a dependency): the answer path's functions over 100 rounds of the seed-dev questions.
python bench/experiments/seed_lines.py"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _timing import line_profile  # noqa: E402
from bench import perf  # noqa: E402

A = importlib.import_module("retrieval.answer")
T = importlib.import_module("retrieval.tokens")


def main() -> None:
    from retrieval import Assistant

    enc = perf.make_encoder("onnx")
    a = Assistant(articles=[str(ROOT / "data" / "seed_article.txt")], index_dir=Path(tempfile.mkdtemp()), encoder=enc)
    a.warm_up()
    qs = [json.loads(x)["question"] for x in (perf.SHARED / "seed" / "seed-dev.jsonl").read_text().splitlines() if x]
    for q in qs * 3:
        a.answer(q)
    n = 100

    def body() -> int:
        for _ in range(n):
            for q in qs:
                a.answer(q)
        return n * len(qs)

    line_profile([A.Answerer._run, A.Answerer.rank, A.Answerer.stage2, A.Answerer._stage1_scope,
                  A.Answerer.encode_query, T.TokenScorer.features, T.TokenScorer._best, A.Answerer.choose,
                  A.Answerer._cite], body)

if __name__ == "__main__":
    main()
