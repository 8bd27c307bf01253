"""Crash-safe writes: streamed, hashed as written, and a failed write leaves the old file and nothing beside it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from retrieval.fileio import sha256_file, write_atomic, write_atomic_with


def test_a_streamed_array_write_returns_the_files_sha256_and_reads_back(tmp_path) -> None:
    a = np.random.default_rng(0).random((20_000, 384)).astype(np.float32)  # 30 MB: np.save writes it in chunks
    path = tmp_path / "v.npy"
    sha = write_atomic_with(path, lambda fh: np.save(fh, a, allow_pickle=False))
    assert sha == sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert np.array_equal(np.load(path), a)
    assert [p.name for p in tmp_path.iterdir()] == ["v.npy"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_one(tmp_path) -> None:
    path = tmp_path / "manifest.json"
    write_atomic(path, b"old")

    def half(fh) -> None:  # type: ignore[no-untyped-def]
        fh.write(b"new but ")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic_with(path, half)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
