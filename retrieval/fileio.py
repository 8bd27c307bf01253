"""File helpers shared by the index and the model cache: streamed hashes and crash-safe writes."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO, Callable


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks (model weights and indexes can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file, fsync, then rename: a reader sees the old file or the new, never half."""
    write_atomic_with(path, lambda fh: fh.write(data))


class _Hashing:
    """A binary file's write() that also feeds a sha256 (np.save writes a large array to it in 16 MB chunks)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        return self.fh.write(data)


def write_atomic_with(path: Path, write: Callable[[_Hashing], object]) -> str:
    """write_atomic of what write(fh) writes, streamed (no copy of it in memory: at 1,000,000 sentences an index's
    vectors are 1.5 GB); returns the written bytes' sha256."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as fh:
            out = _Hashing(fh)
            write(out)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # (a failed write leaves the old file, and no half-written one beside it)
        raise
    return out.digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename in this folder durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
