"""Session 13: at 1,000,000 passages, IVF lists stored as 8-bit scalar codes (IndexIVFScalarQuantizer) instead of
float32 (IndexIVFFlat). Stage 1 reads the exact vectors from the snapshot, so FAISS only picks the dense top list:
its codes can be 4x smaller. Same centroids for every variant. Prints recall@10 against exact search, FAISS alone,
memory, the ranking quality of 400 squad questions (QUALITY=1) and the whole answer interleaved with the bare encode.
REPS=3 python bench/experiments/ivf_sq.py [N]"""

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
sys.path.insert(0, str(ROOT / "bench" / "experiments"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import faiss  # noqa: E402
from _scale import corpus_vectors  # noqa: E402
from _timing import race  # noqa: E402
from bench import perf  # noqa: E402

A = importlib.import_module("retrieval.answer")


def variant(base: faiss.IndexIVF, vecs: np.ndarray, qtype: int | None, qquant: int | None,
            residual: bool = True) -> faiss.Index:
    """An IVF index with base's centroids: lists coded by qtype (None: float32), the centroids by qquant."""
    d, nlist = base.d, base.nlist
    cents = faiss.downcast_index(base.quantizer).reconstruct_n(0, nlist)
    if qquant is None:
        quant = faiss.IndexFlatIP(d)
    else:
        quant = faiss.IndexScalarQuantizer(d, qquant, faiss.METRIC_INNER_PRODUCT)
        quant.train(cents)
    quant.add(cents)
    if qtype is None:
        ix = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        ix = faiss.IndexIVFScalarQuantizer(quant, d, nlist, qtype, faiss.METRIC_INNER_PRODUCT, residual)
    ix.own_fields = True
    quant.this.disown()
    rng = np.random.default_rng(0)
    ix.train(vecs[rng.choice(len(vecs), min(len(vecs), 40 * nlist), replace=False)])
    for lo in range(0, len(vecs), 100_000):
        ix.add(vecs[lo:lo + 100_000])
    ix.nprobe = base.nprobe
    return ix


def main() -> None:
    from retrieval.store import Store, build_faiss

    N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    enc = perf.make_encoder("onnx")
    snap0, vecs, anchors, rng = corpus_vectors(N, enc)
    t = time.perf_counter()
    shipped = build_faiss(vecs, exact_limit=0)
    print(f"{type(shipped).__name__} built in {time.perf_counter() - t:.0f} s (nlist {shipped.nlist}, nprobe "
          f"{shipped.nprobe})", flush=True)
    SQ = faiss.ScalarQuantizer
    flat = variant(shipped, vecs, None, None)  # (session 12's lists, on the same centroids)
    kinds = {"IVFFlat (before)": flat}
    for name, qt, qq, res in (("IVF-SQ8", SQ.QT_8bit, None, True), ("IVF-SQ8 direct", SQ.QT_8bit, None, False),
                              ("IVF-SQfp16 direct", SQ.QT_fp16, None, False),
                              ("IVF-SQfp16 direct, fp16 centroids", SQ.QT_fp16, SQ.QT_fp16, False)):
        t = time.perf_counter()
        kinds[name] = variant(shipped, vecs, qt, qq, res)
        print(f"{name} built in {time.perf_counter() - t:.0f} s", flush=True)
    kinds["IVF-SQfp16 (shipped: store.build_faiss)"] = shipped
    qs = perf.squad_questions(200)
    qv = enc.encode(qs)
    exact = faiss.IndexFlatIP(vecs.shape[1])
    exact.add(vecs)
    _, gt = exact.search(qv, 10)
    _, gt128 = exact.search(qv, 128)
    del exact
    print(f"{'index':28s} {'bytes':>8s} recall@10 recall@128 search p50 ms")
    for name, ix in kinds.items():
        size = faiss.serialize_index(ix).nbytes / 2**20
        _, got = ix.search(qv, 128)
        r10 = np.mean([len(set(got[i][:10]) & set(gt[i])) / 10 for i in range(len(qv))])
        r128 = np.mean([len(set(got[i]) & set(gt128[i])) / 128 for i in range(len(qv))])
        lat = []
        for _ in range(3):
            for q in qv:
                t = time.perf_counter()
                ix.search(q[None, :], 128)
                lat.append((time.perf_counter() - t) * 1000)
        print(f"{name:28s} {size:7.0f}M {r10:9.4f} {r128:10.4f} {np.median(lat):8.3f}", flush=True)
    snap = perf.scale_snapshot(snap0, vecs, anchors, flat, rng)
    store = Store(Path(tempfile.mkdtemp(prefix="exp-sq-")), enc)
    store._snapshot = snap
    answerer = A.Answerer(store)
    answerer.warm_up()

    import dataclasses

    snaps = {id(ix): dataclasses.replace(snap, index=ix) for ix in kinds.values()}  # (same version: same structures)

    def on(ix):  # type: ignore[no-untyped-def]
        def run(q):  # type: ignore[no-untyped-def]
            b = answerer._built  # (the served snapshot is the one its structures were built with: swap it)
            answerer._built = (b[0], snaps[id(ix)], b[2], b[3])
            store._snapshot = snaps[id(ix)]
            got = answerer.run(q)
            assert answerer._built[1].index is ix
            return got
        return run

    if os.environ.get("QUALITY"):
        sys.path.insert(0, str(ROOT / "bench" / "experiments"))
        from scale_overlap import quality
        for name, ix in kinds.items():
            print(f"{name}: {quality(on(ix))}", flush=True)
    same = {name: 0 for name in kinds}
    for q in qs[:100]:
        ref = [c.text for c in on(flat)(q).ranked]
        for name, ix in kinds.items():
            same[name] += [c.text for c in on(ix)(q).ranked] == ref
    print("same top 10 as IVFFlat, of 100 questions:", same, flush=True)
    fns = {name: on(ix) for name, ix in kinds.items()}
    fns["bare encode"] = perf.bare_encode(enc.model)
    race(fns, perf.squad_questions(100), int(os.environ.get("REPS", 3)))


if __name__ == "__main__":
    main()
