"""Session 12: at 1,000,000 passages, the BM25 top list made beside the question's encode (shipped) instead of beside
the FAISS search after it, and FAISS splitting one query's probes over the cores (IndexIVF.parallel_mode 1: not
shipped, no gain). Builds bench.perf's 1M snapshot once, then times the answerer before and after, and the bare
encode, interleaved on the same questions (same rankings checked first).
REPS=6 python bench/experiments/scale_overlap.py [N]; PROFILE=1 adds a cProfile of the shipped path."""

from __future__ import annotations

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

from _scale import corpus_vectors  # noqa: E402
from _timing import race  # noqa: E402
from bench import perf  # noqa: E402
import importlib  # noqa: E402

A = importlib.import_module("retrieval.answer")  # (retrieval.answer the module, not the function)


class Before(A.Answerer):
    """Session 11's large-scope path: the FAISS search in a worker beside the BM25 top list in this thread, both
    after the encode (the product's code before session 12)."""

    def lexical_top(self, question, snap, *, article=None, previous=None):  # type: ignore[no-untyped-def]
        return None

    def _candidates(self, terms, qvec, snap, article, lexical=None):  # type: ignore[no-untyped-def]
        lo, hi = self._bounds(snap, article)
        if hi - lo <= A.FULL_SCAN_LIMIT:
            return self.scope_rows(snap, article), None
        k = A.CANDIDATES
        search = A._lexical_pool().submit(snap.index.search, qvec[None, :].astype(np.float32),
                                          k if article is None else 4 * k)
        ix = self.index(snap)
        try:
            lexical, bmean, bsd = ix.sent.top_stats(terms, A.LEXICAL_CANDIDATES, lo, hi)
        finally:
            _, ids = search.result()
        dense = ids[0][(ids[0] >= lo) & (ids[0] < hi)]
        stats = None
        if article is None and ix.vsum is not None:
            stats = (*A._moments(float(ix.vsum @ qvec), float((ix.vmom @ qvec) @ qvec), hi - lo), bmean, bsd)
        return A._unique(np.concatenate([dense.astype(np.int64), lexical])), stats


def quality(run) -> str:  # type: ignore[no-untyped-def]
    """Ranking P@1 / R@3 (abstention ignored) of 400 squad-v1.1-dev questions asked of the whole 1M index (their
    articles are among its real ones), a sentence being right as score.py decides it (an answer, in the paragraph)."""
    import json

    from retrieval.score_ref import body_paragraphs, norm

    path = perf.SHARED / "squad" / "squad-v1.1-dev.jsonl"
    qs = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    qs = [q for q in qs if q["kind"] == "answerable"]
    qs = [qs[i] for i in np.random.default_rng(3).permutation(len(qs))[:400]]
    pars: dict[str, list[str]] = {}

    def right(q, text: str) -> bool:  # type: ignore[no-untyped-def]
        s = norm(text)
        if not any(norm(a) in s for a in q["answers"]):
            return False
        if q["article"] not in pars:
            pars[q["article"]] = [norm(p) for p in body_paragraphs(path.parent / q["article"])]
        return s in pars[q["article"]][q["paragraph"]]

    p1 = r3 = 0
    for q in qs:
        ranked = [c.text for c in run(q["question"]).ranked[:3]]
        p1 += bool(ranked) and right(q, ranked[0])
        r3 += any(right(q, t) for t in ranked)
    return f"P@1 {p1 / len(qs):.4f}  R@3 {r3 / len(qs):.4f}  ({len(qs)} questions)"


def main() -> None:
    from retrieval.store import Store, build_faiss

    N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    enc = perf.make_encoder("onnx")
    snap0, vecs, anchors, rng = corpus_vectors(N, enc)
    t = time.perf_counter()
    ivf = build_faiss(vecs, exact_limit=0)
    print(f"ivf {time.perf_counter() - t:.0f} s", flush=True)
    snap = perf.scale_snapshot(snap0, vecs, anchors, ivf, rng)
    store = Store(Path(tempfile.mkdtemp(prefix="exp-scale-")), enc)
    store._snapshot = snap
    now, before = A.Answerer(store), Before(store)
    now.warm_up()
    before._built = now._built  # the same lexical index

    def with_mode(answerer, mode):  # type: ignore[no-untyped-def]
        def run(q):  # type: ignore[no-untyped-def]
            ivf.parallel_mode = mode
            return answerer.run(q)
        return run

    qs = perf.squad_questions(100)
    for q in qs[:20]:
        a, b = with_mode(now, 0)(q), with_mode(before, 0)(q)
        assert [c.text for c in a.ranked] == [c.text for c in b.ranked] and a.abstained == b.abstained, q
    ivf.parallel_mode = 0

    def lists(dense: int, lexical: int):  # type: ignore[no-untyped-def]
        def run(q):  # type: ignore[no-untyped-def]
            A.CANDIDATES, A.LEXICAL_CANDIDATES = dense, lexical
            try:
                return now.run(q)
            finally:
                A.CANDIDATES, A.LEXICAL_CANDIDATES = 128, 256
        return run

    sizes = [(128, 256), (128, 128), (64, 128)]
    if os.environ.get("QUALITY"):
        for d, lx in sizes:
            print(f"top lists dense {d} + BM25 {lx}: " + quality(lists(d, lx)), flush=True)
    bare = perf.bare_encode(enc.model)
    fns = {"before (S11)": with_mode(before, 0), "BM25 beside the encode (shipped)": with_mode(now, 0),
           "+ FAISS probes on both cores": with_mode(now, 1), "bare encode": bare}
    for d, lx in sizes[1:]:
        fns[f"shipped, top lists {d} + {lx}"] = lists(d, lx)
    race(fns, qs, int(os.environ.get("REPS", 3)))
    if os.environ.get("STAGES"):  # each stage of the shipped path wrapped with a timer (no profiler overhead)
        spent: dict[str, float] = {}

        def timed(name, fn):  # type: ignore[no-untyped-def]
            def run(*a, **kw):  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
            return run

        ix = now.index(snap)
        for name in ("encode_query", "_candidates", "stage1", "stage2", "lexical_top", "abstain_probability"):
            setattr(now, name, timed(name, getattr(now, name)))
        for name in ("at",):
            for part in ("sent", "para", "prefix"):
                obj = getattr(ix, part)
                setattr(obj, name, timed(f"{part}.{name}", getattr(obj, name)))
        snap.index.search = timed("faiss search", snap.index.search)
        ivf.parallel_mode = 0
        t0, n = time.perf_counter(), 0
        for q in qs * 3:
            now.run(q)
            n += 1
        print(f"per answer {(time.perf_counter() - t0) / n * 1000:.2f} ms, by stage (ms):")
        for name, v in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f"  {name:22s} {v / n * 1000:.3f}")
    if os.environ.get("PROFILE"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        ivf.parallel_mode = 0
        for q in qs * 2:
            now.run(q)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
