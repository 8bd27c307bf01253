"""Session 13: at 1,000,000 passages, stage 1 reading its ~1,000 rows' postings from a document-major copy
(_Postings.index_documents, in the patch) instead of searching each query term's postings for the rows. Loads the 1M
store saved in DIR (default /tmp/exp-1m; made there if missing, _scale.py), checks that both give the same
rankings, then times both interleaved with the bare encode.
REPS=3 python bench/experiments/postings_by_doc.py [DIR], with bench/experiments/postings_by_doc.patch applied (not
shipped: slower, see bench/PERF.md session 13)."""

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
    answerer = warmed(A.Answerer(store))
    ix = answerer.index(store.snapshot)
    parts = (ix.sent, ix.prefix, ix.para)
    saved = [p._by_doc for p in parts]
    print("document-major copies:", ", ".join(f"{len(s[1]):,} postings" for s in saved), flush=True)

    def searched(q):  # type: ignore[no-untyped-def]
        for p in parts:
            p._by_doc = None
        try:
            return answerer.run(q)
        finally:
            for p, s in zip(parts, saved):
                p._by_doc = s

    def by_doc(q):  # type: ignore[no-untyped-def]
        return answerer.run(q)

    qs = perf.squad_questions(100)
    for q in qs:
        x, y = searched(q), by_doc(q)
        assert [(c.text, c.score) for c in x.ranked] == [(c.text, c.score) for c in y.ranked], q
        assert x.abstained == y.abstained
    print(f"same ranked lists and scores on {len(qs)} questions", flush=True)
    race({"postings searched per term (before)": searched, "postings by document (shipped)": by_doc,
          "bare encode": perf.bare_encode(enc.model)}, qs, int(os.environ.get("REPS", 3)))


if __name__ == "__main__":
    main()
