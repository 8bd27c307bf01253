"""Bench sets loaded once: one cached index per article (as retrieval.eval builds them) and cached question vectors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.assistant import DEFAULT_INDEX_DIR, Assistant
from retrieval.embed import default_encoder
from retrieval.eval import _collection, load_questions


@dataclass
class BenchSet:
    path: Path
    questions: list[dict[str, Any]]
    assistants: dict[str, Assistant]  # article path (as in the questions file) -> assistant over that article alone


def load_set(path: Path, *, index_dir: Path = DEFAULT_INDEX_DIR, encoder=None) -> BenchSet:  # type: ignore[no-untyped-def]
    """Questions plus one warmed-up assistant per article (indexes cached under index_dir/eval/)."""
    encoder = encoder or default_encoder()
    encoder.warm_up()
    questions = load_questions(path)
    assistants: dict[str, Assistant] = {}
    for q in questions:
        rel = q["article"]
        if rel not in assistants:
            p = (path.parent / rel).resolve()
            a = Assistant(articles=[p], index_dir=index_dir, encoder=encoder, collection=_collection([p]))
            a.warm_up()
            assistants[rel] = a
    return BenchSet(path, questions, assistants)


def cached_encode(encoder, texts: list[str], cache_dir: Path, prefix: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Embeddings of texts, cached on disk under a key of the texts, so benchmark reruns embed nothing."""
    key = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16]
    cache = cache_dir / f"{prefix}-{key}.npy"
    if cache.exists():
        return np.load(cache)
    vecs = encoder.encode(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vecs)
    return vecs


def question_vectors(bench: BenchSet, *, index_dir: Path = DEFAULT_INDEX_DIR, encoder=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Embeddings of every question text (cached on disk, keyed by the texts)."""
    return cached_encode(encoder or default_encoder(), [q["question"] for q in bench.questions],
                         index_dir / "eval", "qvecs")


def question_tokens(bench: BenchSet, *, index_dir: Path = DEFAULT_INDEX_DIR, encoder=None) -> list[tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Each question's word pieces worth matching (as Answerer.encode_query gives them), cached on disk."""
    from retrieval.tokens import TokenVectors, question_pieces, stop_mask

    encoder = encoder or default_encoder()
    texts = [q["question"] for q in bench.questions]
    key = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16]
    cache = index_dir / "eval" / f"qtokens-{key}.npz"
    if cache.exists():
        with np.load(cache) as z:
            tv = TokenVectors(z["ids"], z["offsets"], z["vectors"])
    else:
        _, tv = encoder.encode_tokens(texts)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, ids=tv.ids, offsets=tv.offsets, vectors=tv.vectors)
    stop = stop_mask(encoder.tokenizer_file())
    return [question_pieces(tv.rows(i, i + 1), stop) for i in range(len(texts))]

