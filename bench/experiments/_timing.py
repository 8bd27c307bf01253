"""(shared by the session 12 timing experiments) several ways of answering timed interleaved on the same questions."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np


def race(fns: dict[str, Callable[[str], Any]], questions: list[str], rounds: int, *, floor: str = "bare encode"
         ) -> dict[str, list[float]]:
    """Each question asked of every fn in turn (the order reversed every other question and round), `rounds` times;
    prints each fn's p50 / p95 and its p50 as a ratio of fns[floor]'s. Returns the times (ms)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for rnd in range(rounds):
        for i, q in enumerate(questions):
            for name in (list(fns) if (i + rnd) % 2 else list(fns)[::-1]):
                t = time.perf_counter()
                fns[name](q)
                times[name].append((time.perf_counter() - t) * 1000)
    base = float(np.median(times[floor]))
    width = max(len(k) for k in fns)
    for name, v in times.items():
        print(f"{name:{width}s} p50 {np.median(v):6.2f} ms  p95 {np.percentile(v, 95):6.2f}  "
              f"ratio {np.median(v) / base:.2f}x")
    return times


def line_profile(fns: list[Callable[..., Any]], body: Callable[[], int]) -> None:
    """body() (returning how many answers it gave) under line_profiler (a development tool: `pip install
    line_profiler`) with fns profiled line by line; prints ms per answer, then every line's time in ms."""
    from line_profiler import LineProfiler

    prof = LineProfiler()
    for fn in fns:
        prof.add_function(fn)
    t0 = time.perf_counter()
    prof.enable_by_count()
    n = body()
    prof.disable_by_count()
    print(f"{(time.perf_counter() - t0) / n * 1000:.2f} ms per answer under the line profiler")
    prof.print_stats(output_unit=1e-3, stripzeros=True)
