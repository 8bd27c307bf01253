"""Keep the server's memory to what serving needs: defer modules Gradio imports but never uses here, and hand the
heap the start-up freed back to the OS.

Gradio imports pandas at start (only to hash DataFrames for its optional cache, ~25 MB) and tries IPython (notebook
magics, ~20 MB); this server uses neither. Measured in bench/PERF.md (peak RSS serving the seed article).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import sys
import types
from typing import Iterator

#: Modules Gradio imports eagerly that this server never uses: (name, how it is deferred). "lazy": a stand-in that
#: imports the real module the first time one of its attributes is used; "absent": looks not installed during Gradio's
#: import, which Gradio handles (IPython: its notebook magics are only defined when IPython is importable).
DEFERRED: tuple[tuple[str, str], ...] = (("pandas", "lazy"), ("IPython", "absent"))

#: glibc's mallopt parameter number for the most malloc arenas (M_ARENA_MAX in malloc.h).
_M_ARENA_MAX = -8


class LazyModule(types.ModuleType):
    """Stands in for a module until an attribute of it is used; then imports the real one and forwards to it."""

    def __getattr__(self, attr: str) -> object:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]  # still inside the deferring block: let the real import happen
        real = importlib.import_module(name)
        self.__dict__.update({k: v for k, v in vars(real).items() if k not in ("__name__", "__spec__", "__loader__")})
        return getattr(real, attr)


@contextlib.contextmanager
def deferred_imports(deferred: tuple[tuple[str, str], ...] = DEFERRED) -> Iterator[None]:
    """While importing Gradio: unused modules it imports are not loaded (see DEFERRED); outside the block every
    import works as usual (a later `import pandas` loads the real pandas)."""
    placed: dict[str, object] = {}
    for name, how in deferred:
        if name in sys.modules:  # already loaded (e.g. under IPython): nothing to save
            continue
        placed[name] = sys.modules[name] = LazyModule(name) if how == "lazy" else None
    try:
        yield
    finally:
        for name, stub in placed.items():
            if name in sys.modules and sys.modules[name] is stub:
                del sys.modules[name]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return None


def limit_malloc_arenas(n: int = 2) -> None:
    """At most n glibc malloc arenas (default 8 per core): the answer threads then share heaps instead of each
    keeping its own half-empty one. Call before the server starts its threads."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, n)


def release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc keeps them otherwise): ~30 MB after the model's graph is loaded."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
