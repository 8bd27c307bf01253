"""Session 14: at 1,000,000 passages, does the BM25 top list still gain from running beside the encode now that
the encode's intra-op threads spin within a run (bounded, session 14)? The shipped answer, the same with the top
list started after the encode (beside the FAISS search only), and the encode with threads that never spin,
interleaved with the bare encode. Loads the store saved by stage1_lines.py.
python bench/experiments/spin_overlap.py [DIR]"""

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
from _timing import race  # noqa: E402
from bench import perf  # noqa: E402

A = importlib.import_module("retrieval.answer")


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/exp-1m")
    enc = perf.make_encoder("onnx")
    store = saved_store(d, enc)
    shipped = warmed(A.Answerer(store))

    def after(q: str):  # type: ignore[no-untyped-def]
        shipped.lexical_top = lambda *a, **k: None  # (an instance attribute: _candidates starts the top list)
        try:
            return shipped.run(q)
        finally:
            del shipped.lexical_top
    os.environ["RETRIEVAL_ONNX_SPIN"] = "0"
    nospin = perf.make_encoder("onnx")  # the product's session with threads that never spin
    del os.environ["RETRIEVAL_ONNX_SPIN"]
    qs = perf.squad_questions(100)
    same = sum(shipped.run(q).citations == after(q).citations for q in qs[:20])
    print(f"same citations on {same} of 20", flush=True)
    race({"bare encode": lambda q: enc.model.encode([q]),
          "bare encode, no spin": lambda q: nospin.model.encode([q]),
          "answer, top list beside the encode (shipped)": lambda q: shipped.run(q),
          "answer, top list after the encode": after}, qs, int(os.environ.get("REPS", "3")))


if __name__ == "__main__":
    main()
