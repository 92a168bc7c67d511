"""Timing primitives for side-by-side benchmarks on a noisy machine.

Targets are *ratios* of two timings taken in one process, interleaved
(A, B, A, B, ...) so that a burst of load from elsewhere hits both sides, and
summarised by the median over repeats.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Timing", "interleaved", "time_once"]


@dataclass(frozen=True)
class Timing:
    """Median seconds of two interleaved measurements and their ratio ``ours / reference``."""

    ours: float
    reference: float

    @property
    def ratio(self) -> float:
        """ours / reference (lower is better for us)."""
        return self.ours / self.reference


def time_once(fn: Callable[[], object]) -> float:
    """Wall seconds of one call of ``fn``."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(ours: Callable[[], object], reference: Callable[[], object], repeats: int, warmup: int = 1) -> Timing:
    """Time ``ours`` and ``reference`` alternately ``repeats`` times each (after ``warmup`` rounds); medians."""
    for _ in range(warmup):
        ours()
        reference()
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats):
        if i % 2 == 0:
            a.append(time_once(ours))
            b.append(time_once(reference))
        else:
            b.append(time_once(reference))
            a.append(time_once(ours))
    return Timing(statistics.median(a), statistics.median(b))
