"""Timing helper shared by the benchmarks."""
from __future__ import annotations

import statistics
import time


def median_time(fn, runs: int, warm: bool = True) -> float:
    """Median wall time of ``fn()`` over ``runs`` calls, after one warm-up call
    (page cache, imports) unless ``warm`` is False."""
    if warm:
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
