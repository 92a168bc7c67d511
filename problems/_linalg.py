"""Small linear-algebra tools shared by the problem families and their checks.

* :func:`random_orthogonal` -- a Haar-distributed orthogonal matrix (Mezzadri 2007,
  "How to generate random matrices from the classical compact groups": QR of a
  Gaussian matrix with the signs of R's diagonal moved into Q).
* :func:`power_iteration` -- the dominant eigenvalue of a symmetric operator given
  as a matrix-vector product (Golub & Van Loan, *Matrix Computations*, 4th ed.,
  Sec. 8.2.1), stopped on the eigen-residual ||Hv - rho v|| <= tol |rho|, which
  bounds the distance from rho to an eigenvalue by the residual (ibid., Thm 8.1.13).
* :func:`fd_gradient`, :func:`fd_jacobian` -- central finite differences
  (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Sec. 8.1, eq. 8.7), with the
  step h_i = h (1 + |x_i|) near the eps^(1/3) optimum of the truncation/rounding trade-off.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from problems._validate import check_float, check_int

__all__ = ["fd_gradient", "fd_jacobian", "power_iteration", "random_orthogonal"]


def random_orthogonal(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-random ``dim x dim`` orthogonal matrix drawn from ``rng``."""
    dim = check_int("dim", dim, low=1)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


def power_iteration(
    matvec: Callable[[np.ndarray], np.ndarray],
    dim: int,
    *,
    seed: int = 0,
    tol: float = 1e-10,
    max_iter: int = 100_000,
) -> tuple[float, np.ndarray, int]:
    """Dominant eigenpair (largest |eigenvalue|) of the symmetric operator ``matvec``.

    Returns ``(rho, v, iterations)`` where rho = v' H v is the Rayleigh quotient of
    the unit vector v. Iterates v <- Hv / ||Hv|| from a seeded Gaussian start until
    the residual ||Hv - rho v|| <= tol |rho| or ``max_iter`` is reached. For a
    PSD operator (every Hessian of a convex family) rho is the largest eigenvalue
    once the residual is small, and rho <= lambda_max always holds.
    """
    dim = check_int("dim", dim, low=1)
    tol = check_float("tol", tol, low=0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, low=1)
    v = np.random.default_rng(seed).standard_normal(dim)
    v /= np.linalg.norm(v)
    rho = 0.0
    for it in range(1, max_iter + 1):
        hv = np.asarray(matvec(v), dtype=np.float64)
        rho = float(v @ hv)
        if np.linalg.norm(hv - rho * v) <= tol * abs(rho):
            return rho, v, it
        norm = np.linalg.norm(hv)
        if norm == 0.0:
            return 0.0, v, it
        v = hv / norm
    return rho, v, max_iter


def _steps(x: np.ndarray, h: float) -> np.ndarray:
    return h * (1.0 + np.abs(x))


def fd_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 6e-6) -> np.ndarray:
    """Central-difference gradient: (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i), h_i = h (1 + |x_i|)."""
    x = np.array(x, dtype=np.float64)
    steps = _steps(x, h)
    out = np.empty_like(x)
    for i, hi in enumerate(steps):
        e = np.zeros_like(x)
        e[i] = hi
        out[i] = (f(x + e) - f(x - e)) / (2.0 * hi)
    return out


def fd_jacobian(g: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = 6e-6) -> np.ndarray:
    """Central-difference Jacobian of the vector map ``g`` (column i = d g / d x_i); for g = grad f, the Hessian."""
    x = np.array(x, dtype=np.float64)
    steps = _steps(x, h)
    cols = []
    for i, hi in enumerate(steps):
        e = np.zeros_like(x)
        e[i] = hi
        cols.append((np.asarray(g(x + e)) - np.asarray(g(x - e))) / (2.0 * hi))
    return np.column_stack(cols)
