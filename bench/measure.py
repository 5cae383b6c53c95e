"""Timing in this process and peak memory in a fresh one: the two measurements every section uses."""

from __future__ import annotations

import multiprocessing
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def best_time(run: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Call `run` `repeats` times; return the shortest wall time in seconds and the last result.

    The minimum is the figure least disturbed by other work on a shared machine.
    Raises ValueError when `repeats` is below 1.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    best = float("inf")
    result: Any = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def traced_in_subprocess(build: Callable[[Any], Any], run: Callable[[Any], Any], spec: Any) -> tuple[float, int]:
    """Return (seconds, peak bytes) of ``run(build(spec))`` in a fresh Python process.

    The inputs are built before tracing starts, so the peak is what `run` allocates on top
    of them, as tracemalloc sees it: every Python and numpy allocation, not the BLAS
    library's own buffers. A fresh process keeps one contender's freed memory or caches
    from flattering the next. `build` and `run` must be module-level functions and `spec`
    picklable. Raises whatever the child raised.
    """
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_traced, (build, run, spec))


def _traced(build: Callable[[Any], Any], run: Callable[[Any], Any], spec: Any) -> tuple[float, int]:
    inputs = build(spec)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        run(inputs)
        seconds = time.perf_counter() - started
        return seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
