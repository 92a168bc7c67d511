"""Problem family ``rosenbrock``: the (extended) Rosenbrock function.

    f(x) = sum_{i=1}^{n-1} [ a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 ],   a = 100 by default,

Rosenbrock (1960), "An automatic method for finding the greatest or least value of a
function", Comput. J. 3; for n = 2 the classic banana valley, for n > 2 the chained
("extended") form of Nocedal & Wright, *Numerical Optimization*, 2nd ed., Exercise 9.1.
f >= 0 and f = 0 only at x = (1, ..., 1) (every term vanishes iff x_i = 1 for i < n and
x_{i+1} = x_i^2), so f* = 0, x* = 1 ("known"). Start: the standard x0 = (-1.2, 1, -1.2, 1, ...).
Nonconvex: ``convex`` False, ``mu`` None.

Not globally L-smooth (the Hessian grows like 12 a x_i^2), so ``L`` is valid on a stated
region, a box B_w = {x : |x_i| <= w_i for all i} (described in ``L_region``, half-widths in
``box``, membership by ``in_region``):

*Hessian.* grad^2 f is tridiagonal with (1-based, [.] the indicator)
    H_ii = [i < n] (12 a x_i^2 - 4 a x_{i+1} + 2) + [i > 1] 2a,   H_{i,i+1} = -4 a x_i.

*Bound on B_w* (Gershgorin's theorem, Golub & Van Loan Thm 7.2.1; H is symmetric, so
||H||_2 = max |eigenvalue| <= max_i sum_j |H_ij|), by the triangle inequality row by row:
    sum_j |H_ij| <= [i < n] (12 a w_i^2 + 4 a w_{i+1} + 2 + 4 a w_i) + [i > 1] (2a + 4 a w_{i-1}) =: R_i(w),
and L = max_i R_i(w) (:func:`gershgorin_L`). For the cube w_i = r this is
12 a r^2 + 12 a r + 2a + 2. B_w is convex, so for x, y in B_w the segment stays in B_w and
||grad f(x) - grad f(y)|| <= sup_{B_w} ||H||_2 ||x - y|| <= L ||x - y||.

*Default box: contains the sublevel set* S = {f <= F}, F = f(x0). Every term is >= 0, so on
S each term is <= F: (1 - x_i)^2 <= F gives |x_i| <= s := 1 + sqrt(F) for i < n, and
a (x_n - x_{n-1}^2)^2 <= F gives |x_n| <= s^2 + sqrt(F/a) =: t. The default box is
w = (s, ..., s, t) (:func:`sublevel_box`), so every descent method started at x0 stays in S
and in the region. The bound is still pessimistic (about 6e4 for n = 2, while
||H(x*)||_2 ~ 1e3); ``radius`` = r chooses the cube ||x||_inf <= r instead, and
``L_estimate`` (method in ``L_estimate_method``) is a heuristic value, not a bound: the
largest ||H||_2 on the segment from x0 to x*.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from problems import register
from problems._validate import check_float, check_int
from problems.base import Index, Problem
from problems.reference import Reference

__all__ = ["Rosenbrock", "gershgorin_L", "rosenbrock", "sublevel_box"]

#: Points on the segment x0 -> x* at which ||hess||_2 is evaluated for ``L_estimate``.
ESTIMATE_POINTS = 201


def gershgorin_L(a: float, box: np.ndarray) -> float:
    """max_i R_i(w): Gershgorin bound on ||grad^2 f||_2 over the box |x_i| <= w_i (module docstring)."""
    w = np.asarray(box, dtype=np.float64)
    rows = np.zeros_like(w)
    rows[:-1] += 12.0 * a * w[:-1] ** 2 + 4.0 * a * w[1:] + 2.0 + 4.0 * a * w[:-1]
    rows[1:] += 2.0 * a + 4.0 * a * w[:-1]
    return float(rows.max())


def sublevel_box(a: float, F: float, dim: int) -> np.ndarray:
    """Half-widths (s, ..., s, t), s = 1 + sqrt F, t = s^2 + sqrt(F/a): the box contains {f <= F}."""
    s = 1.0 + np.sqrt(F)
    w = np.full(dim, s)
    w[-1] = s * s + np.sqrt(F / a)
    return w


def _standard_start(dim: int) -> np.ndarray:
    x0 = np.ones(dim)
    x0[0::2] = -1.2
    return x0


class Rosenbrock(Problem):
    """The extended Rosenbrock function (see the module docstring).

    Public attributes beyond the contract: ``a`` (valley steepness), ``box`` (half-widths
    w of the box ``L_region`` on which ``L`` is valid, read-only), ``tridiagonal(x)``
    (diagonal and off-diagonal of the Hessian).
    """

    family = "rosenbrock"

    def __init__(self, *, dim: int, a: float, radius: float | None, params: dict[str, Any]) -> None:
        self.a = a
        x0 = _standard_start(dim)
        F = self._value(x0, None)
        if radius is None:
            box = sublevel_box(a, F, dim)
            where = (
                f"the box |x_i| <= {box[0]:.6g} (i < {dim}), |x_{dim}| <= {box[-1]:.6g}, "
                f"which contains the sublevel set {{f <= f(x0) = {F:.6g}}}"
            )
        else:
            box = np.full(dim, radius)
            where = f"the box ||x||_inf <= {radius:.6g}"
        self.box = box
        self.box.setflags(write=False)
        est, method = self._estimate(x0)
        super().__init__(
            params=params,
            x0=x0,
            L=gershgorin_L(a, box),
            mu=None,
            convex=False,
            L_region=where,
            L_estimate=est,
            L_estimate_method=method,
        )

    # ---------------------------------------------------------- curvature
    def tridiagonal(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(diagonal (n,), off-diagonal (n-1,)) of grad^2 f(x)."""
        return self._tridiagonal(self._check_x(x))

    def _tridiagonal(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _tridiagonal(self.a, x)

    def _estimate(self, x0: np.ndarray) -> tuple[float, str]:
        """``L_estimate`` from the standard start ``x0`` (memoised per (dim, a): see :func:`_segment_estimate`)."""
        method = (
            f"max of ||grad^2 f(x)||_2 (exact tridiagonal eigenvalues) over {ESTIMATE_POINTS} evenly spaced "
            "points of the segment from x0 to x* = (1, ..., 1); a heuristic, not a bound"
        )
        return _segment_estimate(x0.size, self.a), method

    def in_region(self, x: np.ndarray) -> bool:
        """Whether |x_i| <= box_i for all i (the box on which ``L`` is valid)."""
        return bool(np.all(np.abs(self._check_x(x)) <= self.box))

    def in_region_rows(self, X: np.ndarray) -> np.ndarray:
        """``in_region`` of every row of ``X`` at once."""
        return np.all(np.abs(X) <= self.box, axis=1)

    # ------------------------------------------------------------- oracle
    def _value(self, x: np.ndarray, idx: Index) -> float:
        head, tail = x[:-1], x[1:]
        r = tail - head * head
        s = 1.0 - head
        return float(self.a * (r @ r) + s @ s)

    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        a = self.a
        head, tail = x[:-1], x[1:]
        r = tail - head * head
        s = 1.0 - head
        g = np.zeros_like(x)
        g[:-1] = -4.0 * a * head * r - 2.0 * s
        g[1:] += 2.0 * a * r
        return float(a * (r @ r) + s @ s), g

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        d, e = self._tridiagonal(x)
        out = d * v
        out[:-1] += e * v[1:]
        out[1:] += e * v[:-1]
        return out

    def _hess(self, x: np.ndarray) -> np.ndarray:
        d, e = self._tridiagonal(x)
        return np.diag(d) + np.diag(e, 1) + np.diag(e, -1)

    def _compute_reference(self) -> Reference:
        x_star = np.ones(self.dim)
        return Reference(
            0.0,
            x_star,
            "known",
            {
                "grad_norm": float(np.linalg.norm(self._grad(x_star, None))),
                "value_at_x_star": self._value(x_star, None),
                "note": "f >= 0 with equality only at x = (1, ..., 1)",
            },
        )


def _segment_max_norm(a: float, x0: np.ndarray) -> float:
    """max ||grad^2 f(x)||_2 over ESTIMATE_POINTS evenly spaced points of the segment x0 -> (1, ..., 1)."""
    from scipy.linalg import eigvalsh_tridiagonal

    worst = 0.0
    for t in np.linspace(0.0, 1.0, ESTIMATE_POINTS):
        x = (1.0 - t) * x0 + t * np.ones_like(x0)
        d, e = _tridiagonal(a, x)
        n = d.size
        lo = eigvalsh_tridiagonal(d, e, select="i", select_range=(0, 0))[0]
        hi = eigvalsh_tridiagonal(d, e, select="i", select_range=(n - 1, n - 1))[0]
        worst = max(worst, abs(lo), abs(hi))
    return float(worst)


@functools.lru_cache(maxsize=32)
def _segment_estimate(dim: int, a: float) -> float:
    """:func:`_segment_max_norm` from the standard start, memoised: it depends only on (dim, a) and costs
    ~400 tridiagonal eigenvalue solves (~9 ms at dim 2), which a sweep building the problem for each run repeated."""
    return _segment_max_norm(a, _standard_start(dim))


def _tridiagonal(a: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(diagonal, off-diagonal) of grad^2 f(x) for valley steepness ``a`` (formula in the module docstring)."""
    head, tail = x[:-1], x[1:]
    diag = np.zeros_like(x)
    diag[:-1] += 12.0 * a * head * head - 4.0 * a * tail + 2.0
    diag[1:] += 2.0 * a
    return diag, -4.0 * a * head


@register(
    "rosenbrock",
    summary="Rosenbrock's banana function (dim 2) and its extended n-D chained form",
    convex=False,
    L="valid on a box (Gershgorin on the tridiagonal Hessian); the default box contains {f <= f(x0)}",
    mu="None (nonconvex)",
    f_star="known: f* = 0 at x* = (1, ..., 1)",
)
def rosenbrock(dim: int = 2, a: float = 100.0, radius: float | None = None) -> Rosenbrock:
    """Extended Rosenbrock sum a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2: ``dim`` >= 2, ``a`` > 0.

    ``radius`` > 0 makes ``L`` valid on the cube ||x||_inf <= radius; None (default) uses the
    box |x_i| <= 1 + sqrt F (i < dim), |x_dim| <= (1 + sqrt F)^2 + sqrt(F/a), F = f(x0),
    which contains the sublevel set {f <= f(x0)}.
    """
    dim = check_int("dim", dim, low=2)
    a = check_float("a", a, low=0.0, low_open=True)
    radius = check_float("radius", radius, low=0.0, low_open=True, allow_none=True)
    return Rosenbrock(dim=dim, a=a, radius=radius, params={"dim": dim, "a": a, "radius": radius})
