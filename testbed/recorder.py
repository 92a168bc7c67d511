"""Preallocated history buffers for the run loop (no per-iteration row objects).

The history lives in one float64 array of shape (capacity, columns), filled
with NaN and grown by doubling. The loop writes the twelve standard columns of
a row with a single :meth:`Recorder.push` -- one ``struct.pack_into`` into the
array's memory, several times cheaper than twelve numpy scalar assignments,
which matters on problems whose gradient costs a few microseconds (a 2-D
Rosenbrock step is ~10 us). Optimizer extras and monitor columns, when present,
are written into a view of the row.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from testbed.result import HISTORY_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Recorder"]

_INT_COLUMNS = frozenset({"iter", "grad_evals", "f_evals", "hvp_evals", "hess_evals"})
_N_BASE = len(HISTORY_COLUMNS)
_LR = HISTORY_COLUMNS.index("lr")
_ROW = struct.Struct(f"={_N_BASE}d")  # native float64, no padding: the layout of one row of the base columns
_NAN = float("nan")


class Recorder:
    """Column buffers of float64 that grow by doubling; ``frame()`` builds the tidy table once at the end."""

    def __init__(self, capacity: int, extra_columns: tuple[str, ...] = (), dim: int | None = None) -> None:
        self.columns = HISTORY_COLUMNS + tuple(extra_columns)
        self.extra_columns = tuple(extra_columns)
        self._cap = max(int(capacity), 2)
        self._width = len(self.columns)
        self._dim = dim
        self.iterates = None if dim is None else np.empty((self._cap, dim))
        self.n = 0
        self._allocate(np.full((self._cap, self._width), np.nan))

    def _allocate(self, data: np.ndarray) -> None:
        self.data = data
        self._bytes = memoryview(data).cast("B")  # byte view for pack_into
        self._flat = self._bytes.cast("d")  # element view for single writes
        self._row_bytes = self._width * 8

    def _grow(self) -> None:
        new = np.full((self._cap * 2, self._width), np.nan)
        new[: self._cap] = self.data
        self._allocate(new)
        if self.iterates is not None:
            it = np.empty((self._cap * 2, self._dim))
            it[: self._cap] = self.iterates
            self.iterates = it
        self._cap *= 2

    def push(
        self,
        t: int,
        f: float,
        f_gap: float,
        grad_norm: float,
        dist_to_opt: float,
        grad_evals: int,
        f_evals: int,
        hvp_evals: int,
        hess_evals: int,
        epochs: float,
        time_s: float,
    ) -> None:
        """Append a row with the standard columns in :data:`~testbed.result.HISTORY_COLUMNS` order (``lr``
        is left NaN until :meth:`set_last_lr`; extra columns stay NaN unless written through :meth:`last_row`)."""
        if self.n == self._cap:
            self._grow()
        _ROW.pack_into(
            self._bytes, self.n * self._row_bytes, t, f, f_gap, grad_norm, dist_to_opt, _NAN,
            grad_evals, f_evals, hvp_evals, hess_evals, epochs, time_s,
        )
        self.n += 1

    def last_row(self) -> np.ndarray:
        """The last pushed row as a writable view (for the extra columns)."""
        return self.data[self.n - 1]

    def set_last_lr(self, lr: float) -> None:
        """Record the step size used from the last recorded iterate."""
        self._flat[(self.n - 1) * self._width + _LR] = lr

    def keep(self, x: np.ndarray) -> None:
        """Store a copy of the iterate of the last row."""
        if self.iterates is not None:
            self.iterates[self.n - 1] = x

    def frame(self) -> pd.DataFrame:
        """The history as a pandas DataFrame with integer count columns (built from columns in one go)."""
        import pandas as pd

        data = self.data[: self.n]
        return pd.DataFrame(
            {
                name: data[:, i].astype(np.int64) if name in _INT_COLUMNS else data[:, i].copy()
                for i, name in enumerate(self.columns)
            }
        )

    def kept_iterates(self) -> np.ndarray | None:
        """The kept iterates, one row per history row."""
        return None if self.iterates is None else self.iterates[: self.n].copy()
