"""Whether recorded iterates stay where a problem's ``L`` is valid, checked in vectorised chunks.

Some families give ``L`` on a region only (Rosenbrock's box, the tanh MLP's
ball ``||W^y||_2 <= r``). Bounds that need ``L`` apply to a run only if every
recorded iterate lies there, so the run loop records an ``in_region`` column
(1.0 or 0.0). Checking each iterate as it is recorded would cost a few
microseconds per iteration (more than the whole loop overhead on a 2-D
problem), so iterates are copied into a small buffer and checked
``CHUNK`` at a time with :meth:`problems.Problem.in_region_rows`.
"""

from __future__ import annotations

import numpy as np

from problems import Problem

__all__ = ["CHUNK", "RegionChecker"]

#: Iterates buffered before one vectorised region check.
CHUNK = 256


class RegionChecker:
    """Buffers recorded iterates and writes their region membership into one history column."""

    __slots__ = ("_buf", "_column", "_data_rows", "_k", "_problem", "_rec")

    def __init__(self, problem: Problem, recorder: object, column: int) -> None:
        self._problem = problem
        self._rec = recorder
        self._column = column
        self._buf = np.empty((CHUNK, problem.dim))
        self._data_rows = np.empty(CHUNK, dtype=np.int64)
        self._k = 0

    def add(self, x: np.ndarray, row: int) -> None:
        """Queue the iterate recorded in history row ``row``."""
        k = self._k
        self._buf[k] = x
        self._data_rows[k] = row
        self._k = k + 1
        if self._k == CHUNK:
            self.flush()

    def flush(self) -> None:
        """Check the queued iterates and write 1.0 / 0.0 into their rows."""
        k = self._k
        if k:
            inside = self._problem.in_region_rows(self._buf[:k])
            self._rec.data[self._data_rows[:k], self._column] = np.where(inside, 1.0, 0.0)
            self._k = 0
