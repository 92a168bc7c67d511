"""Problem family ``worst_case``: Nesterov's "worst function in the world" for first-order methods.

From Nesterov, *Introductory Lectures on Convex Optimization* (2004), Sec. 2.1.2
(2nd ed. 2018, Sec. 2.1.2): for 1 <= k <= dim,

    f_k(x) = L/4 * ( 1/2 [ x_1^2 + sum_{i=1}^{k-1} (x_i - x_{i+1})^2 + x_k^2 ] - x_1 )
           = L/4 * ( 1/2 x'A_k x - e_1'x ),

where A_k is the tridiagonal matrix tridiag(-1, 2, -1) acting on the first k
coordinates (zero elsewhere). Facts used here (ibid., Lemma 2.1.3 and the proof of
Thm 2.1.7):

* grad f = L/4 (A_k x - e_1), grad^2 f = L/4 A_k. The eigenvalues of A_k are
  2 - 2 cos(j pi/(k+1)), j = 1..k, all in (0, 4); so ||grad^2 f|| < L and ``L`` is a valid
  global Lipschitz constant of the gradient (not tight: the exact top eigenvalue
  L/4 (2 + 2 cos(pi/(k+1))) is in ``lambda_max``; it tends to L as k grows).
* f is convex; ``mu`` is reported as 0.0, the class the lower bound is about. (For
  k = dim the Hessian is nonsingular with smallest eigenvalue
  ``lambda_min`` = L/4 (2 - 2 cos(pi/(k+1))) ~ L pi^2 / (4 (k+1)^2); 0.0 is still a valid,
  smaller strong-convexity constant.)
* The minimiser with zeros after coordinate k (the minimum-norm one when k < dim) is
  x*_i = 1 - i/(k+1) for i <= k, f* = L/8 (-1 + 1/(k+1)) ("closed form").
* Start x0 = 0. Any method with x_t in x0 + span{grad f(x_0), ..., grad f(x_{t-1})} has
  x_t supported on the first t coordinates, whence for k = 2t + 1 <= dim (Thm 2.1.7)
  f(x_t) - f* >= 3 L ||x0 - x*||^2 / (32 (t+1)^2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from problems import register
from problems._validate import check_float, check_int
from problems.base import Index, Problem
from problems.errors import UserInputError
from problems.reference import Reference

__all__ = ["WorstCase", "worst_case", "worst_case_lower_bound"]


def worst_case_lower_bound(t: int, L: float, R: float) -> float:
    """Nesterov's Thm 2.1.7 bound 3 L R^2 / (32 (t+1)^2) on f(x_t) - f* for k = 2t+1, R = ||x0 - x*||."""
    return 3.0 * L * R * R / (32.0 * (t + 1) ** 2)


class WorstCase(Problem):
    """Nesterov's worst function f_k on R^dim (see the module docstring).

    Public attributes beyond the contract: ``k`` (number of coupled coordinates),
    ``lambda_max`` and ``lambda_min`` (exact extreme eigenvalues of the Hessian
    restricted to the first k coordinates).
    """

    family = "worst_case"
    #: f is a quadratic form: the exact line-search step and Newton's one-step convergence apply.
    is_quadratic = True

    def __init__(self, *, dim: int, k: int, L: float, params: dict[str, Any]) -> None:
        super().__init__(params=params, x0=np.zeros(dim), L=L, mu=0.0, convex=True)
        self.k = k
        self._c = L / 4.0
        self.lambda_max = self._c * (2.0 + 2.0 * math.cos(math.pi / (k + 1)))
        self.lambda_min = self._c * (2.0 - 2.0 * math.cos(math.pi / (k + 1)))

    def _tri(self, x: np.ndarray) -> np.ndarray:
        """A_k x padded with zeros after coordinate k: (A_k x)_i = 2 x_i - x_{i-1} - x_{i+1}."""
        k = self.k
        y = x[:k]
        out = np.zeros_like(x)
        out[:k] = 2.0 * y
        out[: k - 1] -= y[1:]
        out[1:k] -= y[: k - 1]
        return out

    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        ax = self._tri(x)
        f = self._c * (0.5 * float(x @ ax) - x[0])
        ax[0] -= 1.0
        return f, self._c * ax

    def _value(self, x: np.ndarray, idx: Index) -> float:
        y = x[: self.k]
        quad = y[0] ** 2 + float(np.sum(np.diff(y) ** 2)) + y[-1] ** 2
        return self._c * (0.5 * quad - y[0])

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._c * self._tri(v)

    def _hess(self, x: np.ndarray) -> np.ndarray:
        k = self.k
        h = np.zeros((self.dim, self.dim))
        i = np.arange(k)
        h[i, i] = 2.0 * self._c
        h[i[:-1], i[:-1] + 1] = -self._c
        h[i[:-1] + 1, i[:-1]] = -self._c
        return h

    def _compute_reference(self) -> Reference:
        k = self.k
        x_star = np.zeros(self.dim)
        x_star[:k] = 1.0 - np.arange(1, k + 1) / (k + 1)
        f_star = self.L / 8.0 * (-1.0 + 1.0 / (k + 1))
        grad_norm = float(np.linalg.norm(self._grad(x_star, None)))
        return Reference(
            f_star,
            x_star,
            "closed form",
            {
                "grad_norm": grad_norm,
                "formula": "x*_i = 1 - i/(k+1) (i <= k), 0 after; f* = L/8 (-1 + 1/(k+1)) [Nesterov 2004, Sec. 2.1.2]",
                "unique": k == self.dim,
            },
        )


@register(
    "worst_case",
    summary="Nesterov's worst function in the world for first-order methods (tridiagonal quadratic)",
    convex=True,
    L="exact bound: ||grad^2 f|| = L/4 ||A_k|| < L globally (the L parameter)",
    mu="0.0 (reported; lambda_min > 0 when k = dim is given as an attribute)",
    f_star="closed form: x*_i = 1 - i/(k+1), f* = L/8 (-1 + 1/(k+1))",
)
def worst_case(dim: int = 100, k: int | None = None, L: float = 1.0) -> WorstCase:
    """Nesterov's f_k on R^dim: ``dim`` >= 1, ``k`` in [1, dim] (None: dim), ``L`` > 0; x0 = 0."""
    dim = check_int("dim", dim, low=1)
    k = dim if k is None else check_int("k", k, low=1)
    if k > dim:
        raise UserInputError(f"k: must be <= dim = {dim}, got {k}")
    L = check_float("L", L, low=0.0, low_open=True)
    return WorstCase(dim=dim, k=k, L=L, params={"dim": dim, "k": k, "L": L})
