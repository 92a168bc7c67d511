"""Preallocated history buffers for the run loop (no per-iteration row objects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from testbed.result import HISTORY_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Recorder"]

_INT_COLUMNS = frozenset({"iter", "grad_evals", "f_evals", "hvp_evals", "hess_evals"})


class Recorder:
    """Column buffers of float64 that grow by doubling; ``frame()`` builds the tidy table once at the end."""

    def __init__(self, capacity: int, extra_columns: tuple[str, ...] = (), dim: int | None = None) -> None:
        self.columns = HISTORY_COLUMNS + tuple(extra_columns)
        self.extra_columns = tuple(extra_columns)
        self._cap = max(int(capacity), 2)
        self.data = np.full((self._cap, len(self.columns)), np.nan)
        self._dim = dim
        self.iterates = None if dim is None else np.empty((self._cap, dim))
        self.n = 0

    def _grow(self) -> None:
        new = np.full((self._cap * 2, len(self.columns)), np.nan)
        new[: self._cap] = self.data
        self.data = new
        if self.iterates is not None:
            it = np.empty((self._cap * 2, self._dim))
            it[: self._cap] = self.iterates
            self.iterates = it
        self._cap *= 2

    def row(self) -> np.ndarray:
        """A fresh row to fill in place (returned as a view); the caller writes the columns in order."""
        if self.n == self._cap:
            self._grow()
        r = self.data[self.n]
        self.n += 1
        return r

    def set_last_lr(self, lr: float) -> None:
        """Record the step size used from the last recorded iterate."""
        self.data[self.n - 1, 5] = lr

    def keep(self, x: np.ndarray) -> None:
        """Store a copy of the iterate of the last row."""
        if self.iterates is not None:
            self.iterates[self.n - 1] = x

    def frame(self) -> pd.DataFrame:
        """The history as a pandas DataFrame with integer count columns."""
        import pandas as pd

        df = pd.DataFrame(self.data[: self.n].copy(), columns=list(self.columns))
        for col in _INT_COLUMNS:
            df[col] = df[col].astype(np.int64)
        return df

    def kept_iterates(self) -> np.ndarray | None:
        """The kept iterates, one row per history row."""
        return None if self.iterates is None else self.iterates[: self.n].copy()
