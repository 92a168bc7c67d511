"""Problem family ``nnls``: nonnegative least squares, the lecture's CVXPY example.

    minimize ||Ax - b||_2^2   subject to  x >= 0

in the lecture's form (squared 2-norm, *no* factor 1/2: grad f = 2 A'(Ax - b),
grad^2 f = 2 A'A). The lecture writes ``cp.norm2(A @ x - b)**2``; the reference uses the
equivalent ``cp.sum_squares`` (a QP for Clarabel rather than an SOCP).

*Data with a planted active set* (seeded). A (n x d, n >= d) has i.i.d. N(0, 1) entries.
A random set of ``n_active`` coordinates is chosen to be zero at the optimum; the others
are x_p,i ~ U(0.5, 1.5). With c = A'rho prescribed as c_i = 0 off the active set and
c_i = lambda_i/2, lambda_i ~ U(0.5, 1.5), on it, rho = rho_c + rho_perp where rho_c is the
minimum-norm solution of A'rho = c and rho_perp = noise * (the part of a N(0, I) vector
orthogonal to range(A)); b = A x_p - rho. Then the KKT conditions of the problem
(Boyd & Vandenberghe, *Convex Optimization*, Sec. 5.5.3),

    x >= 0,  grad f(x) = 2 A'(Ax - b) >= 0,  x_i grad_i f(x) = 0,

hold at x_p with strict complementarity (grad_i f = lambda_i >= 0.5 on the active set,
x_i >= 0.5 off it); A has full column rank almost surely, so f is strictly convex and
x_p is *the* minimiser (up to the rounding in forming b). It is recorded as a third,
independent check.

*Constants.* ``L`` = 2 sigma_max(A)^2 (exact), ``mu`` = 2 sigma_min(A)^2 (0.0 if A is
numerically rank deficient), global; convex. The unconstrained oracle
(value/grad/hess/hvp) is the objective itself; the constraint is exposed through
``project``, ``inequalities``, ``n_inequalities``, ``feasible_x0``, ``is_feasible``.
Start x0 = (1, ..., 1), strictly feasible.

*Reference* ("cvxpy:CLARABEL"): CVXPY with Clarabel (status other than "optimal" raises
:class:`~problems.errors.SolverError`), cross-checked by ``scipy.optimize.nnls`` (an active
set method, exact up to rounding). The CVXPY point is clipped to x >= 0; x* is whichever of
the two has the smaller KKT residual ||min(x, grad f(x))||_2 (the norm of the projected
gradient step x - P(x - grad f(x)), zero iff x is optimal), f* = f(x*). The certificate
holds that residual (in place of ||grad f(x*)||, which is not zero at a constrained
optimum), the complementarity max_i |x_i grad_i f|, primal and dual infeasibility, the
duality gap of CVXPY's primal-dual pair (the Lagrange dual
g(lambda) = min_x ||Ax - b||^2 - lambda'x, evaluated in closed form), both f values and
their relative agreement |f_cvxpy - f_nnls| / max(|f_cvxpy|, |f_nnls|, 1e-8 f(0)) (the floor
keeps it meaningful when f* = 0), and the distance to the planted x_p.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems import register
from problems._validate import check_float, check_int
from problems.base import Index, Problem
from problems.errors import UserInputError
from problems.families._common import (
    AGREEMENT_FLOOR,
    check_seed,
    cvxpy_method,
    readonly,
    reference_matches,
    rel_diff,
    solve_cvxpy,
)
from problems.reference import Reference

__all__ = ["NNLS", "nnls"]


class NNLS(Problem):
    """Nonnegative least squares ||Ax - b||^2 s.t. x >= 0 (see the module docstring).

    Public attributes beyond the contract: ``A``, ``b``, ``x_planted`` (read-only arrays),
    ``active_set`` (sorted indices with x*_i = 0 by construction), ``singular_values``;
    the constraint interface ``project``, ``n_inequalities``, ``inequalities``,
    ``feasible_x0``, ``is_feasible``, and ``kkt_residual``.
    """

    family = "nnls"

    def __init__(
        self, *, A: np.ndarray, b: np.ndarray, x_planted: np.ndarray, active: np.ndarray, params: dict[str, Any]
    ) -> None:
        n, d = A.shape
        self.A = readonly(A)
        self.b = readonly(b)
        self.x_planted = readonly(x_planted)
        self.active_set = np.sort(active).astype(np.int64)
        self.active_set.setflags(write=False)
        sigma = np.linalg.svd(A, compute_uv=False)
        self.singular_values = readonly(sigma)
        full = sigma[-1] > sigma[0] * max(n, d) * np.finfo(np.float64).eps
        mu = 2.0 * float(sigma[-1]) ** 2 if full else 0.0
        super().__init__(params=params, x0=np.ones(d), L=2.0 * float(sigma[0]) ** 2, mu=mu, convex=True)
        self.n_inequalities = d

    # ------------------------------------------------------------- oracle
    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        r = self.A @ x - self.b
        return float(r @ r), 2.0 * (self.A.T @ r)

    def _value(self, x: np.ndarray, idx: Index) -> float:
        r = self.A @ x - self.b
        return float(r @ r)

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return 2.0 * (self.A.T @ (self.A @ v))

    def _hess(self, x: np.ndarray) -> np.ndarray:
        return 2.0 * (self.A.T @ self.A)

    # ------------------------------------------------------- constraints
    def project(self, x: np.ndarray) -> np.ndarray:
        """Euclidean projection onto {x >= 0}: max(x, 0) componentwise (a new array)."""
        return np.maximum(self._check_x(x), 0.0)

    def inequalities(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        """Constraints f_i(x) = -x_i <= 0: (values (d,), Jacobian (d, d) = -I, None: all affine)."""
        x = self._check_x(x)
        return -x, -np.eye(self.dim), None

    @property
    def feasible_x0(self) -> np.ndarray:
        """A strictly feasible start (all f_i(x) = -x_i < 0): the standard x0 = (1, ..., 1)."""
        return self.x0

    def is_feasible(self, x: np.ndarray, tol: float = 0.0) -> bool:
        """Whether x_i >= -tol for all i."""
        tol = check_float("tol", tol, low=0.0)
        return bool(np.all(self._check_x(x) >= -tol))

    def kkt_residual(self, x: np.ndarray) -> float:
        """||min(x, grad f(x))||_2 = ||x - P(x - grad f(x))||_2; zero exactly at the optimum."""
        return self._kkt(self._check_x(x))

    def _kkt(self, x: np.ndarray) -> float:
        return float(np.linalg.norm(np.minimum(x, self._grad(x, None))))

    # ---------------------------------------------------------- reference
    def _grad_scale(self) -> float:
        return max(float(np.linalg.norm(self._grad(np.zeros(self.dim), None))), np.finfo(float).tiny)

    def _dual_value(self, lam: np.ndarray) -> float:
        """g(lambda) = min_x ||Ax - b||^2 - lambda'x, attained where 2A'(Ax - b) = lambda."""
        A, b = self.A, self.b
        x = np.linalg.solve(A.T @ A, A.T @ b + 0.5 * lam)
        r = A @ x - b
        return float(r @ r - lam @ x)

    def _compute_reference(self) -> Reference:
        import cvxpy as cp
        from scipy.optimize import nnls as scipy_nnls

        d = self.dim
        x = cp.Variable(d)
        constraint = x >= 0
        problem = cp.Problem(cp.Minimize(cp.sum_squares(self.A @ x - self.b)), [constraint])
        info = solve_cvxpy(problem, "nnls reference")
        x_raw = np.asarray(x.value, dtype=np.float64).reshape(d)
        lam = np.maximum(np.asarray(constraint.dual_value, dtype=np.float64).reshape(d), 0.0)
        x_cvx = np.maximum(x_raw, 0.0)
        x_chk = np.asarray(scipy_nnls(np.array(self.A), np.array(self.b))[0], dtype=np.float64)
        f_cvx, f_chk = self._value(x_cvx, None), self._value(x_chk, None)
        k_cvx, k_chk = self._kkt(x_cvx), self._kkt(x_chk)
        use_chk = k_chk <= k_cvx
        x_star = x_chk if use_chk else x_cvx
        f_star = f_chk if use_chk else f_cvx
        g = self._grad(x_star, None)
        kkt = k_chk if use_chk else k_cvx
        return Reference(
            f_star,
            x_star,
            cvxpy_method(info["solver"]),
            {
                **info,
                "kkt_residual": kkt,
                "kkt_residual_rel": kkt / self._grad_scale(),
                "complementarity": float(np.max(np.abs(x_star * g))),
                "primal_infeasibility": float(max(0.0, -np.min(x_star))),
                "dual_infeasibility": float(max(0.0, -np.min(g[x_star == 0.0], initial=0.0))),
                "n_active": int(np.count_nonzero(x_star == 0.0)),
                "f_cvxpy": f_cvx,
                "kkt_residual_cvxpy": k_cvx,
                "cvxpy_min_x": float(np.min(x_raw)),
                "duality_gap": self._value(x_raw, None) - self._dual_value(lam),
                "cross_check": "scipy.optimize.nnls",
                "f_cross_check": f_chk,
                "kkt_residual_cross_check": k_chk,
                "f_rel_agreement": rel_diff(f_cvx, f_chk, AGREEMENT_FLOOR * self._value(np.zeros(d), None)),
                "x_distance": float(np.linalg.norm(x_cvx - x_chk)),
                "planted_distance": float(np.linalg.norm(x_star - self.x_planted)),
                "x_star_source": "cross_check" if use_chk else "cvxpy",
            },
        )

    def _reference_cache_key(self) -> dict[str, Any]:
        return dict(self.params)

    def _reference_is_valid(self, ref: Reference) -> bool:
        return reference_matches(
            ref,
            method=cvxpy_method(),
            dim=self.dim,
            value=lambda x: self._value(x, None),
            residual=lambda x: self._kkt(x) if np.all(x >= 0) else np.inf,
            residual_tol=1e-6 * self._grad_scale(),
        )


@register(
    "nnls",
    summary="Nonnegative least squares ||Ax - b||^2 s.t. x >= 0 (the lecture's CVXPY example), planted active set",
    convex=True,
    L="exact: 2 sigma_max(A)^2 from the SVD",
    mu="2 sigma_min(A)^2 (A has full column rank, n >= d)",
    f_star="CVXPY (Clarabel), cross-checked with scipy.optimize.nnls; KKT residual certified",
)
def nnls(n: int = 50, d: int = 20, n_active: int | None = None, noise: float = 0.5, seed: int = 0) -> NNLS:
    """Nonnegative least squares with A (n x d) Gaussian and a planted optimum with ``n_active`` zeros.

    ``d`` >= 1, ``n`` >= d (A has full column rank, so x* is unique); ``n_active`` in [0, d]
    (None: d // 2) coordinates are zero at the optimum; ``noise`` >= 0 scales the part of
    the residual orthogonal to range(A); ``seed`` >= 0.
    """
    d = check_int("d", d, low=1)
    n = check_int("n", n, low=1)
    if n < d:
        raise UserInputError(f"n: must be >= d = {d} (A must have full column rank), got {n}")
    n_active = d // 2 if n_active is None else check_int("n_active", n_active, low=0, high=d)
    noise = check_float("noise", noise, low=0.0)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    active = rng.choice(d, size=n_active, replace=False)
    x_p = rng.uniform(0.5, 1.5, size=d)
    x_p[active] = 0.0
    c = np.zeros(d)
    c[active] = 0.5 * rng.uniform(0.5, 1.5, size=n_active)
    rho = np.linalg.lstsq(A.T, c, rcond=None)[0]
    e = rng.standard_normal(n)
    rho += noise * (e - A @ np.linalg.lstsq(A, e, rcond=None)[0])
    b = A @ x_p - rho
    params = {"n": n, "d": d, "n_active": n_active, "noise": noise, "seed": seed}
    return NNLS(A=A, b=b, x_planted=x_p, active=active, params=params)

