"""(shared by the session 12-13 scale experiments) bench.perf's 1M material: the SQuAD corpus's snapshot with the
synthetic vectors around it, and a saved 1M store that later experiments load in ~12 s instead of building it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import perf


def corpus_vectors(n: int, enc: Any) -> tuple[Any, np.ndarray, np.ndarray, np.random.Generator]:
    """(the corpus's snapshot, n vectors: its own then synthetic ones, their anchors, the generator to go on with),
    as bench.perf's scale section makes them."""
    from retrieval import Assistant

    corpus = Assistant(articles=perf.squad_articles(False), index_dir=Path(tempfile.gettempdir()) / "exp-corpus",
                       encoder=enc)
    corpus.warm_up()
    snap0 = corpus.store.snapshot
    rng = np.random.default_rng(0)
    vecs, anchors = perf.scale_vectors(np.ascontiguousarray(snap0.vectors, dtype=np.float32), n, rng)
    return snap0, vecs, anchors, rng


def saved_store(directory: Path, enc: Any, n: int = 1_000_000) -> Any:
    """The store of bench.perf's n-passage snapshot in directory: loaded when saved there before, else built
    (FAISS as the store builds it) and saved."""
    from retrieval.store import Store, build_faiss

    store = Store(directory, enc)
    t = time.perf_counter()
    if not store.load():
        snap0, vecs, anchors, rng = corpus_vectors(n, enc)
        snap = perf.scale_snapshot(snap0, vecs, anchors, build_faiss(vecs, exact_limit=0), rng)
        directory.mkdir(parents=True, exist_ok=True)
        store._save(snap)
        store._snapshot = snap
    print(f"store ready in {time.perf_counter() - t:.0f} s ({type(store.snapshot.index).__name__})", flush=True)
    return store


def warmed(answerer: Any) -> Any:
    """answerer after its warm-up (the lexical index: ~25 s at 1M, ~12 s with the kept lexicon), timed."""
    t = time.perf_counter()
    answerer.warm_up()
    print(f"warm-up {time.perf_counter() - t:.1f} s", flush=True)
    return answerer
