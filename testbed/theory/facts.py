"""The facts about one run that the bounds read: history arrays, constants, the optimizer's identity.

:class:`RunFacts` is built once per :func:`testbed.theory.certify` call from a
:class:`~testbed.result.Run` and its :class:`~problems.Problem`, so that every
bound evaluates the same numbers. Nothing here decides applicability (see
:mod:`testbed.theory.assumptions`) or evaluates a bound.

Conventions (those of :mod:`testbed.run`): row i of the history holds iteration
``it[i]``, ``f[i]`` = f(x_t), ``gnorm[i]`` = ||grad f(x_t)||, ``dist[i]`` =
||x_t - x*||, and ``lr[i]`` = the step used *from* x_t (NaN on the last row, and
on rows from which no step was taken).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from problems import Problem
from testbed.result import Run

__all__ = ["RunFacts"]


def _column(history: Any, name: str) -> np.ndarray:
    if name in history.columns:
        return history[name].to_numpy(dtype=np.float64, copy=True)
    return np.full(len(history), np.nan)


@dataclass
class RunFacts:
    """Everything a bound needs about a run, as float64 arrays and plain numbers."""

    run: Run
    problem: Problem | None
    method: str
    hparams: dict[str, Any]
    it: np.ndarray
    f: np.ndarray
    f_gap: np.ndarray
    gnorm: np.ndarray
    dist: np.ndarray
    lr: np.ndarray
    L: float | None
    mu: float | None
    f_star: float | None
    x_star: np.ndarray | None
    R2: float | None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_run(cls, run: Run, problem: Problem | None) -> RunFacts:
        """Collect the facts of ``run`` on ``problem`` (the constants as the run recorded them).

        ``problem`` may be None when only the history and the run's constants are needed (no applicability).
        """
        h = run.history
        it = h["iter"].to_numpy(dtype=np.int64, copy=True) if "iter" in h.columns else np.zeros(0, dtype=np.int64)
        x_star = None if run.x_star is None else np.asarray(run.x_star, dtype=np.float64)
        R2 = None
        if x_star is not None:
            diff = np.asarray(run.x0, dtype=np.float64) - x_star
            R2 = float(np.dot(diff, diff))
        known = set(h.columns)
        standard = {"iter", "f", "f_gap", "grad_norm", "dist_to_opt", "lr"}
        extra = {c: _column(h, c) for c in known - standard}
        return cls(
            run=run,
            problem=problem,
            method=str(run.optimizer),
            hparams=dict(run.hparams or {}),
            it=it,
            f=_column(h, "f"),
            f_gap=_column(h, "f_gap"),
            gnorm=_column(h, "grad_norm"),
            dist=_column(h, "dist_to_opt"),
            lr=_column(h, "lr"),
            L=None if run.L is None else float(run.L),
            mu=None if run.mu is None else float(run.mu),
            f_star=None if run.f_star is None else float(run.f_star),
            x_star=x_star,
            R2=R2,
            extra=extra,
        )

    # ----------------------------------------------------------------- derived
    @property
    def n_rows(self) -> int:
        """Number of recorded iterations."""
        return int(self.it.size)

    @property
    def step_rows(self) -> np.ndarray:
        """Indices of the rows from which a step was recorded (finite ``lr``)."""
        return np.flatnonzero(np.isfinite(self.lr))

    @property
    def consecutive(self) -> np.ndarray:
        """Row indices i with ``it[i + 1] == it[i] + 1`` (x_t and x_{t+1} both recorded)."""
        if self.n_rows < 2:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.diff(self.it) == 1)

    @property
    def complete(self) -> bool:
        """True if every iteration 0, 1, ..., T is recorded (``record_every = 1``)."""
        return self.n_rows > 0 and self.it[0] == 0 and bool(np.all(np.diff(self.it) == 1))

    @property
    def x_star_norm2(self) -> float:
        """||x*||^2 (0.0 if x* is unknown)."""
        return 0.0 if self.x_star is None else float(np.dot(self.x_star, self.x_star))

    @property
    def dist_scale(self) -> float:
        """max(||x*||^2, ||x_0 - x*||^2): the magnitude of the squared distances compared (for the tolerance)."""
        return max(self.x_star_norm2, self.R2 or 0.0)

    def hparam(self, name: str, default: Any = None) -> Any:
        """The run's hyperparameter ``name`` (``default`` if it was not recorded)."""
        return self.hparams.get(name, default)

    def describe_step(self, h: float) -> str:
        """A step size in words, e.g. ``"0.01"`` or ``"0.5 (= 2.1/L)"``."""
        if self.L is None or not math.isfinite(h):
            return f"{h:.6g}"
        return f"{h:.6g} (= {h * self.L:.6g}/L)"
