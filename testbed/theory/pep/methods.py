"""Fixed-step first-order methods as linear maps of the Gram basis [x_0, g_0, ..., g_N] (step matrices).

Each builder returns the :class:`~testbed.theory.pep.formulation.PointSet` of the points where the method
queries the oracle, in units where steps are multiples of 1/L (``h`` = 1 is the step 1/L), written exactly as
the optimizers of :mod:`testbed.optimizers.lecture`:

* ``gd``:          x_{k+1} = x_k - (h_k / L) g_k, with h_k a constant or one step per iteration.
* ``heavy_ball``:  v_{k+1} = beta v_k - (h / L) g_k, x_{k+1} = x_k + v_{k+1}, v_0 = 0 (Polyak 1964, the lecture's
  form; equivalently x_{k+1} = x_k - (h/L) g_k + beta (x_k - x_{k-1}) with x_{-1} = x_0).
* ``nesterov``:    y_{k+1} = x_k + beta_k (x_k - x_{k-1}), x_{k+1} = y_{k+1} - (h / L) grad f(y_{k+1}), x_{-1} = x_0,
  with FISTA's beta_k = (t_k - 1)/t_{k+1} (t_1 = 1, t_{k+1} = (1 + sqrt(1 + 4 t_k^2))/2, beta_0 = beta_1 = 0:
  the ``nesterov`` optimizer's variant "convex"), or a constant beta = ``momentum`` (variant "strongly_convex").

Gradients are sampled at x_0..x_N (gd, heavy ball) or at y_1..y_N and x_N (nesterov; y_1 = x_0); the last
point is x_N with its gradient, so f(x_N), ||x_N - x*||^2 and ||grad f(x_N)||^2 are all expressible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from testbed.theory.pep.formulation import PointSet

__all__ = ["METHODS", "fista_momenta", "points_for"]

#: Methods the PEP knows.
METHODS = ("gd", "heavy_ball", "nesterov")


def fista_momenta(n: int) -> list[float]:
    """beta_0, ..., beta_{n-1} of the ``nesterov`` optimizer's convex variant (beta_0 = beta_1 = 0)."""
    t, t_next = 1.0, 1.0
    out = []
    for _ in range(n):
        out.append((t - 1.0) / t_next)
        t, t_next = t_next, (1.0 + math.sqrt(1.0 + 4.0 * t_next * t_next)) / 2.0
    return out


def _unit(d: int, k: int) -> np.ndarray:
    e = np.zeros(d)
    e[k] = 1.0
    return e


def _point_set(xs: list[np.ndarray], d: int) -> PointSet:
    """Points x_k (given) with gradients g_k = basis vector k + 1 and one value variable each."""
    P = len(xs)
    X = np.array(xs)
    Gr = np.zeros((P, d))
    Gr[np.arange(P), np.arange(1, P + 1)] = 1.0
    return PointSet(X=X, Gr=Gr, Fc=np.eye(P), last=P - 1, sampled=tuple(range(P)))


def _gd(steps: Sequence[float], L: float) -> PointSet:
    n = len(steps)
    d = n + 2
    x = _unit(d, 0)
    xs = [x]
    for k, h in enumerate(steps):
        x = x - (h / L) * _unit(d, k + 1)
        xs.append(x)
    return _point_set(xs, d)


def _heavy_ball(steps: Sequence[float], L: float, beta: float) -> PointSet:
    n = len(steps)
    d = n + 2
    x = _unit(d, 0)
    v = np.zeros(d)
    xs = [x]
    for k, h in enumerate(steps):
        v = beta * v - (h / L) * _unit(d, k + 1)
        x = x + v
        xs.append(x)
    return _point_set(xs, d)


def _nesterov(steps: Sequence[float], L: float, momentum: float | None) -> PointSet:
    n = len(steps)
    d = n + 2
    betas = fista_momenta(n) if momentum is None else [float(momentum)] * n
    x = x_prev = _unit(d, 0)
    ys = []
    for k, h in enumerate(steps):
        y = x + betas[k] * (x - x_prev)
        ys.append(y)
        x_prev, x = x, y - (h / L) * _unit(d, k + 1)
    return _point_set([*ys, x], d)


def points_for(method: str, steps: Sequence[float], L: float, momentum: float | None) -> PointSet:
    """The :class:`PointSet` of ``method`` with per-iteration steps ``steps`` (in units of 1/L)."""
    if method == "gd":
        return _gd(steps, L)
    if method == "heavy_ball":
        return _heavy_ball(steps, L, float(momentum))
    if method == "nesterov":
        return _nesterov(steps, L, momentum)
    raise ValueError(f"method: unknown PEP method {method!r}")
