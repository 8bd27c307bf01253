"""Session 12: where a mid-size library's answer goes. The SQuAD corpus copied K times into one index (as bench.perf's
sizes section builds it), each stage of the answerer wrapped with a timer, 100 squad questions x 3 rounds.
    python bench/experiments/midsize_stages.py K     (K = 1: 3,741 sentences; 2: 7,482, the last full scan)
AB=1 adds the pieces' float16 cast by ONNX Runtime (shipped) against the lookup table before it, interleaved with the
bare encode."""

import dataclasses
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
sys.path.insert(0, str(ROOT / "bench" / "experiments"))
from _timing import race  # noqa: E402
from bench import perf
from retrieval import Assistant
from retrieval.store import Snapshot, Store
A = importlib.import_module("retrieval.answer")
enc = perf.make_encoder("onnx")
corpus = Assistant(articles=perf.squad_articles(False), index_dir=Path(tempfile.gettempdir()) / "exp-corpus", encoder=enc); corpus.warm_up()
snap0 = corpus.store.snapshot; n0 = len(snap0.sentences)
k = int(sys.argv[1]) if len(sys.argv) > 1 else 2
arts, vba, tba = {}, {}, {}
for c in range(k):
    for aid, art in snap0.articles.items():
        nid = f"{aid}-copy{c}" if c else aid
        arts[nid] = dataclasses.replace(art, id=nid, sentences=[dataclasses.replace(x, article_id=nid) for x in art.sentences])
        lo, hi = snap0.offsets[aid]; vba[nid] = snap0.vectors[lo:hi]; tba[nid] = snap0.tokens.rows(lo, hi)
snap = Snapshot.make(arts, vba, snap0.vectors.shape[1], tokens_by_article=tba)
store = Store(Path(tempfile.mkdtemp()), enc); store._snapshot = snap
a = A.Answerer(store); a.warm_up()
qs = perf.squad_questions(100)
for q in qs[:10]: a.run(q)
# manual timers around stages
T = {}
def timed(name, fn):
    def w(*x, **kw):
        t = time.perf_counter(); r = fn(*x, **kw); T[name] = T.get(name, 0) + time.perf_counter() - t; return r
    return w
for name in ("encode_query", "stage1", "stage2", "_candidates"):
    setattr(a, name, timed(name, getattr(a, name)))
ts = a.token_scorer(snap)
ts.features = timed("tok.features", ts.features)
ix = a.index(snap)
for nm in ("bm25_present",):
    setattr(ix.sent, nm, timed("sent." + nm, getattr(ix.sent, nm)))
    setattr(ix.para, nm, timed("para." + nm, getattr(ix.para, nm)))
ix.prefix.present = timed("prefix.present", ix.prefix.present)
t0 = time.perf_counter(); n = 0
for rep in range(3):
    for q in qs: a.run(q); n += 1
tot = time.perf_counter() - t0
print(f"{len(snap.sentences)} sentences: per answer {tot/n*1000:.2f} ms")
for kk, v in sorted(T.items(), key=lambda x: -x[1]): print(f"  {kk:20s} {v/n*1000:.3f} ms")

if os.environ.get("AB"):  # the float16 -> float32 cast of session 12 against the lookup table before it
    import retrieval.tokens as tokens_mod

    cast = tokens_mod._as_float32
    table = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)

    def by_table(half):  # type: ignore[no-untyped-def]
        return np.take(table, np.asarray(half, dtype=np.float16).view(np.uint16))

    b = A.Answerer(store)
    b.warm_up()
    bare = perf.bare_encode(enc.model)

    def with_cast(fn):  # type: ignore[no-untyped-def]
        def run(q):  # type: ignore[no-untyped-def]
            tokens_mod._as_float32 = fn
            try:
                return b.run(q)
            finally:
                tokens_mod._as_float32 = cast
        return run

    for q in qs[:20]:
        x, y = with_cast(by_table)(q), with_cast(cast)(q)
        assert [c.text for c in x.ranked] == [c.text for c in y.ranked] and x.abstained == y.abstained
    fns = {"lookup table (before)": with_cast(by_table), "onnxruntime Cast (shipped)": with_cast(cast), "bare encode": bare}
    race(fns, qs, 3)
