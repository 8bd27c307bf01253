"""Session 14: the 1M IVF index's coarse search over its 3,968 centroids by an HNSW graph instead of a flat scan.
The flat scan reads 6 MB of centroids per question, which the question's encode has just pushed out of the caches.
Same centroids and lists (only the quantizer is swapped); recall@10 / @128 against exact search and the search
timed right after a bare encode (as in an answer), interleaved. Loads the store saved by stage1_lines.py.
python bench/experiments/hnsw_quantizer.py [DIR]"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "experiments"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import faiss  # noqa: E402
from _scale import saved_store  # noqa: E402
from bench import perf  # noqa: E402


def recall(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(ids, gt)]))


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/exp-1m")
    enc = perf.make_encoder("onnx")
    store = saved_store(d, enc)
    snap = store.snapshot
    ivf = faiss.downcast_index(snap.index)
    cents = faiss.downcast_index(ivf.quantizer).reconstruct_n(0, ivf.nlist)
    qs = perf.squad_questions(200)
    qv = np.ascontiguousarray(enc.encode(qs), dtype=np.float32)
    exact = faiss.IndexFlatIP(qv.shape[1])
    vecs = np.asarray(snap.vectors, dtype=np.float32)
    t = time.perf_counter()
    for lo in range(0, len(vecs), 100_000):
        exact.add(np.ascontiguousarray(vecs[lo:lo + 100_000]))
    _, gt = exact.search(qv, 128)
    print(f"exact top 128 of {len(qs)} questions in {time.perf_counter() - t:.0f} s", flush=True)
    del exact
    flat_q = ivf.quantizer
    graphs = {}
    for m, ef in ((16, 32), (32, 48), (32, 96)):
        h = faiss.IndexHNSWFlat(ivf.d, m, faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = 128
        h.add(cents)
        h.hnsw.efSearch = ef
        graphs[f"HNSW M={m}, efSearch={ef}"] = h
    configs = {"flat scan (shipped)": flat_q, **graphs}
    times: dict[str, list[float]] = {k: [] for k in configs}
    ids_of: dict[str, np.ndarray] = {}
    for name, q in configs.items():
        ivf.quantizer = q
        ids_of[name] = ivf.search(qv, 128)[1]
    for rnd in range(3):
        for i, q in enumerate(qs):
            for name in (list(configs) if (i + rnd) % 2 else list(configs)[::-1]):
                v = enc.model.encode([q])  # the answer's encode runs just before its search
                ivf.quantizer = configs[name]
                t = time.perf_counter()
                ivf.search(np.ascontiguousarray(v / np.linalg.norm(v), dtype=np.float32).reshape(1, -1), 128)
                times[name].append((time.perf_counter() - t) * 1000)
    ivf.quantizer = flat_q
    for name in configs:
        print(f"{name:24s} recall@10 {recall(ids_of[name], gt, 10):.4f}  recall@128 {recall(ids_of[name], gt, 128):.4f}"
              f"  search after an encode p50 {np.median(times[name]):.3f} ms  p95 {np.percentile(times[name], 95):.3f}")


if __name__ == "__main__":
    main()
