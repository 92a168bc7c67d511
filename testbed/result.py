"""The result of one run: its history table, status and what produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas is imported by whoever builds a history, not by `import testbed`
    import pandas as pd

__all__ = ["HISTORY_COLUMNS", "STATUSES", "Run"]

#: Possible run outcomes. ``diverged`` is a result, not an error.
STATUSES = ("converged", "max_iters", "max_grad_evals", "time_limit", "diverged", "error")

#: Columns every history has (``f_gap``/``dist_to_opt`` are NaN when f*/x* are unknown).
HISTORY_COLUMNS = (
    "iter",
    "f",
    "f_gap",
    "grad_norm",
    "dist_to_opt",
    "lr",
    "grad_evals",
    "f_evals",
    "hvp_evals",
    "hess_evals",
    "epochs",
    "time_s",
)


@dataclass
class Run:
    """One optimizer run on one problem.

    ``history`` has one row per recorded iteration ``t`` (0, ``record_every``,
    ..., and always the last): ``f`` = f(x_t) on the full objective, ``f_gap`` =
    f(x_t) - f*, ``grad_norm`` = ||grad f(x_t)||, ``dist_to_opt`` = ||x_t - x*||,
    ``lr`` = the step size used for the step *from* x_t (NaN on the last row),
    the oracle counts spent to reach x_t, ``epochs`` (samples seen / n for
    finite sums) and ``time_s`` (optimizer time, recording excluded).
    """

    problem: str
    problem_params: dict[str, Any]
    optimizer: str
    hparams: dict[str, Any]
    status: str
    message: str
    history: pd.DataFrame
    x0: np.ndarray
    x_final: np.ndarray
    iterations: int
    seed: int
    L: float | None
    mu: float | None
    f_star: float | None
    x_star: np.ndarray | None
    base_lr: float | None
    batch_size: int | None = None
    iterates: np.ndarray | None = None
    diverged_at: int | None = None
    traceback: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> pd.Series:
        """The last history row."""
        return self.history.iloc[-1]

    def summary(self) -> dict[str, Any]:
        """One flat record: identity, status and final values."""
        last = self.final
        return {
            "problem": self.problem,
            "optimizer": self.optimizer,
            "status": self.status,
            "iterations": self.iterations,
            "f": float(last["f"]),
            "f_gap": float(last["f_gap"]),
            "grad_norm": float(last["grad_norm"]),
            "grad_evals": int(last["grad_evals"]),
            "time_s": float(last["time_s"]),
        }

    def __repr__(self) -> str:
        last = self.history.iloc[-1] if len(self.history) else None
        tail = f", f={last['f']:.6g}" if last is not None else ""
        return f"<Run {self.optimizer} on {self.problem}: {self.status} after {self.iterations} iterations{tail}>"
