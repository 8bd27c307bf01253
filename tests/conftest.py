"""Shared fixtures: the real model (loaded once), the seed article, and a tiny deterministic fake encoder."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"

SEED = ROOT / "data" / "seed_article.txt"
SHARED_BENCH = ROOT.parent / "shared" / "bench"


class FakeEncoder:
    """Hashed bag-of-words unit vectors: deterministic and instant, for logic around the model."""

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self) -> None:
        self.calls = 0
        self.encoded = 0

    def warm_up(self) -> None:
        pass

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dimension] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
        return out


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(scope="session")
def encoder():
    """The real all-MiniLM-L6-v2, verified and loaded offline once per test session."""
    from retrieval.embed import default_encoder

    enc = default_encoder()
    enc.warm_up()
    return enc


@pytest.fixture(scope="session")
def seed_assistant(encoder, tmp_path_factory):
    """An assistant over the shipped seed article with the real model."""
    from retrieval import Assistant

    a = Assistant(articles=[SEED], index_dir=tmp_path_factory.mktemp("seed-index"), encoder=encoder)
    a.warm_up()
    return a


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
