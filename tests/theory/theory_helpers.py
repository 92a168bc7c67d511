"""Small problems and optimizers the theory tests build on (importable from the tests of this directory)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

import problems
import testbed


def diag_quadratic(
    eigs: list[float], x0: list[float], *, L: float | None = None, mu: float | None = None, bias: float = 0.0,
    name: str = "diag_quadratic",
) -> problems.Problem:
    """f(x) = 1/2 sum_i eigs_i x_i^2 (x* = 0, f* = 0) with a stated L and mu (default: the true ones).

    ``bias`` plants an error in the gradient: grad = eigs * x + bias * e_1.
    """
    d = np.asarray(eigs, dtype=np.float64)
    shift = np.zeros(d.size)
    shift[0] = bias
    return problems.custom(
        value=lambda x: 0.5 * float(np.dot(d * x, x)),
        grad=lambda x: d * x + shift,
        x0=np.asarray(x0, dtype=np.float64),
        L=float(d.max()) if L is None else L,
        mu=float(d.min()) if mu is None else mu,
        f_star=0.0,
        x_star=np.zeros(d.size),
        convex=True,
        name=name,
    )


class LyingGD:
    """Gradient descent that steps ``factor * lr`` but reports ``lr`` (and calls itself "gd")."""

    name = "gd"

    def __init__(self, lr: str | float = "1/L", factor: float = 1.1) -> None:
        self.lr = testbed.optimizers.parse_lr("lr", lr)
        self.factor = factor
        self.hparams = {"lr": "1/L" if lr == "1/L" else lr}

    def config(self) -> dict[str, Any]:
        return dict(self.hparams)

    def init(self, x0: np.ndarray, problem: problems.Problem) -> tuple:
        return ()

    def step(self, x: np.ndarray, state: tuple, oracle: Any, lr: float) -> tuple[np.ndarray, tuple, float]:
        x -= self.factor * lr * oracle.grad(x)
        return x, state, lr


def gd(lr: object = "1/L", **kw: Any) -> Any:
    """The registered gd optimizer."""
    return testbed.optimizers.make("gd", lr=lr, **kw)


def with_planted_gradient(problem: problems.Problem, bias: np.ndarray) -> problems.Problem:
    """A copy of ``problem`` whose every gradient (full or minibatch) is off by the constant ``bias``."""
    base = type(problem)

    def _grad(self, x, idx):
        return base._grad(self, x, idx) + bias

    def _value_and_grad(self, x, idx):
        f, g = base._value_and_grad(self, x, idx)
        return f, g + bias

    planted = copy.copy(problem)
    planted.__class__ = type(f"Planted{base.__name__}", (base,), {"_grad": _grad, "_value_and_grad": _value_and_grad})
    return planted
