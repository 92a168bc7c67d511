"""Problem family ``least_squares``: linear least squares with optional ridge, as a finite sum.

    scale="sum"  (default):  f(x) = 1/2 ||Ax - b||^2        + lam/2 ||x||^2
    scale="mean":            f(x) = 1/(2n) ||Ax - b||^2     + lam/2 ||x||^2

Data (seeded): A (n x d) has i.i.d. N(0, 1) entries, x_true ~ N(0, I), and
b = A x_true + noise * N(0, I). Start x0 = 0 (gradient methods then stay in range(A')
and converge to the minimum-norm minimiser when it is not unique).

*Finite sum* (contract in :mod:`problems.base`): with w = n for "sum" and w = 1 for
"mean", f = (1/n) sum_i f_i + r with f_i(x) = w/2 (a_i'x - b_i)^2 and r(x) = lam/2 ||x||^2;
the minibatch oracle over a multiset ``idx`` is (1/|idx|) sum_{i in idx} f_i(x) + r(x),
so the mean over a partition into equal-size batches is f itself, and the minibatch
gradient is unbiased under uniform sampling.

*Constants.* grad^2 f = (w/n) A'A + lam I, so (Golub & Van Loan, Sec. 2.4) with the
singular values sigma of A, ``L`` = (w/n) sigma_max^2 + lam (exact, tight) and ``mu`` =
(w/n) sigma_min^2 + lam if A has full column rank (numpy's rank tolerance
sigma > sigma_max max(n, d) eps), else lam (0.0 without ridge).

*L_max* (the smoothness of the single-sample functions, for stochastic-gradient theory).
The minibatch oracle over ``idx = [i]`` is phi_i(x) = f_i(x) + r(x) = w/2 (a_i'x - b_i)^2 +
lam/2 ||x||^2 (regulariser included, as in every minibatch), whose Hessian is the constant
w a_i a_i' + lam I with norm w ||a_i||^2 + lam (the rank-one a_i a_i' has the single nonzero
eigenvalue ||a_i||^2). Hence grad phi_i is Lipschitz with exactly that constant and

    ``L_max`` = w max_i ||a_i||^2 + lam    (w = n for "sum", w = 1 for "mean"),

attained along a_i for the row of largest norm. The weight w follows the minibatch convention
above: for scale="sum", f = 1/2 ||Ax - b||^2 = (1/n) sum_i n/2 (a_i'x - b_i)^2, so each sample
carries the factor n. Since (1/n) sum_i a_i a_i' = A'A/n, L <= L_max always.

*Reference* ("cvxpy:CLARABEL"): CVXPY with Clarabel (tolerances in
:data:`problems.families._common.CLARABEL_OPTIONS`) solves the problem; status other than
"optimal" raises :class:`~problems.errors.SolverError`. An independent cross-check solves
it with ``numpy.linalg.lstsq`` (SVD based; the ridge as the stacked system
[A; sqrt(lam n/w) I] x ~ [b; 0], which has the same minimiser). Because CVXPY's accuracy is
limited, x* is the *more accurate* of the two -- the one with the smaller ||grad f|| --
except when the minimiser is not unique, where it is always the lstsq one (the
minimum-norm minimiser); f* = f(x*). The certificate records both solutions' f and
||grad f||, the solver status and iterations, ||x_cvxpy - x_lstsq|| and the relative
f agreement |f_cvxpy - f_lstsq| / max(|f_lstsq|, |f_cvxpy|, 1e-8 f(0)) (the floor keeps the
measure meaningful when f* = 0, e.g. noise = 0 or n <= d).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems import register
from problems._validate import check_choice, check_float, check_int
from problems.base import Index, Problem
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

__all__ = ["LeastSquares", "least_squares"]


class LeastSquares(Problem):
    """(Ridge) least squares as a finite sum (see the module docstring).

    Public attributes beyond the contract: ``A``, ``b``, ``x_true`` (read-only arrays),
    ``lam``, ``scale`` ("sum" or "mean"), ``weight`` (w: n or 1), ``singular_values``
    of A (descending), ``full_rank`` (A has full column rank), ``x_unique``, and
    ``L_max`` = w max_i ||a_i||^2 + lam (exact; see the module docstring).
    """

    family = "least_squares"
    #: f is a quadratic form: the exact line-search step and Newton's one-step convergence apply.
    is_quadratic = True

    def __init__(
        self, *, A: np.ndarray, b: np.ndarray, x_true: np.ndarray, lam: float, scale: str, params: dict[str, Any]
    ) -> None:
        n, d = A.shape
        self.A = readonly(A)
        self.b = readonly(b)
        self.x_true = readonly(x_true)
        self.lam = lam
        self.scale = scale
        self.weight = float(n) if scale == "sum" else 1.0
        sigma = np.linalg.svd(A, compute_uv=False)
        self.singular_values = readonly(sigma)
        tol = sigma[0] * max(n, d) * np.finfo(np.float64).eps if sigma.size else 0.0
        self.full_rank = bool(n >= d and sigma[-1] > tol)
        self.x_unique = self.full_rank or lam > 0
        c = self.weight / n
        L = c * float(sigma[0]) ** 2 + lam
        mu = c * float(sigma[-1]) ** 2 + lam if self.full_rank else lam
        super().__init__(params=params, x0=np.zeros(d), L=L, mu=mu, convex=True, n_samples=n)
        self.L_max = self.weight * float(np.max(np.einsum("ij,ij->i", A, A))) + lam

    # ------------------------------------------------------------- oracle
    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        A, b = (self.A, self.b) if idx is None else (self.A[idx], self.b[idx])
        c = self.weight / b.size
        r = A @ x - b
        f = 0.5 * c * float(r @ r) + 0.5 * self.lam * float(x @ x)
        return f, c * (A.T @ r) + self.lam * x

    def _value(self, x: np.ndarray, idx: Index) -> float:
        A, b = (self.A, self.b) if idx is None else (self.A[idx], self.b[idx])
        r = A @ x - b
        return 0.5 * self.weight / b.size * float(r @ r) + 0.5 * self.lam * float(x @ x)

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.weight / self.A.shape[0] * (self.A.T @ (self.A @ v)) + self.lam * v

    def _hess(self, x: np.ndarray) -> np.ndarray:
        h = self.weight / self.A.shape[0] * (self.A.T @ self.A)
        h[np.diag_indices_from(h)] += self.lam
        return h

    # ---------------------------------------------------------- reference
    def _lstsq(self) -> np.ndarray:
        """The cross-check: numpy.linalg.lstsq on A (or the ridge-stacked system); minimum norm."""
        n, d = self.A.shape
        if self.lam > 0:
            A = np.vstack((self.A, np.sqrt(self.lam * n / self.weight) * np.eye(d)))
            b = np.concatenate((self.b, np.zeros(d)))
        else:
            A, b = self.A, self.b
        return np.linalg.lstsq(A, b, rcond=None)[0]

    def _grad_scale(self) -> float:
        """||grad f(0)|| = (w/n) ||A'b||, the scale of gradient residuals (at least the smallest float)."""
        g0 = self._grad(np.zeros(self.dim), None)
        return max(float(np.linalg.norm(g0)), np.finfo(float).tiny)

    def _compute_reference(self) -> Reference:
        import cvxpy as cp

        n, d = self.A.shape
        x = cp.Variable(d)
        objective = (0.5 * self.weight / n) * cp.sum_squares(self.A @ x - self.b)
        if self.lam > 0:
            objective = objective + (0.5 * self.lam) * cp.sum_squares(x)
        info = solve_cvxpy(cp.Problem(cp.Minimize(objective)), "least_squares reference")
        x_cvx = np.asarray(x.value, dtype=np.float64).reshape(d)
        x_ls = self._lstsq()
        f_cvx, g_cvx = self._value_and_grad(x_cvx, None)
        f_ls, g_ls = self._value_and_grad(x_ls, None)
        gn_cvx, gn_ls = float(np.linalg.norm(g_cvx)), float(np.linalg.norm(g_ls))
        use_ls = (not self.x_unique) or gn_ls <= gn_cvx
        x_star = x_ls if use_ls else x_cvx
        f_star = f_ls if use_ls else f_cvx
        f0 = self._value(np.zeros(d), None)
        scale = self._grad_scale()
        grad_norm = gn_ls if use_ls else gn_cvx
        dist = float(np.linalg.norm(x_cvx - x_ls))
        return Reference(
            f_star,
            x_star,
            cvxpy_method(info["solver"]),
            {
                **info,
                "grad_norm": grad_norm,
                "grad_norm_rel": grad_norm / scale,
                "f_cvxpy": f_cvx,
                "grad_norm_cvxpy": gn_cvx,
                "cross_check": "numpy.linalg.lstsq",
                "f_cross_check": f_ls,
                "grad_norm_cross_check": gn_ls,
                "f_rel_agreement": rel_diff(f_cvx, f_ls, AGREEMENT_FLOOR * f0),
                "x_distance": dist,
                "x_rel_distance": dist / max(float(np.linalg.norm(x_ls)), np.finfo(float).tiny),
                "x_star_source": "cross_check" if use_ls else "cvxpy",
                "x_unique": self.x_unique,
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
            residual=lambda x: np.linalg.norm(self._grad(x, None)),
            residual_tol=1e-6 * self._grad_scale(),
        )


@register(
    "least_squares",
    summary="Linear least squares 1/2||Ax - b||^2 (or its mean) + lam/2||x||^2 as a finite sum over rows",
    convex=True,
    L="exact: (w/n) sigma_max(A)^2 + lam from the SVD (w = n for scale='sum', 1 for 'mean')",
    L_max="w max_i ||a_i||^2 + lam (exact smoothness of the single-sample functions)",
    mu="(w/n) sigma_min(A)^2 + lam if A has full column rank, else lam (0.0 without ridge)",
    f_star="CVXPY (Clarabel), cross-checked with numpy.linalg.lstsq; x* the more accurate of the two",
)
def least_squares(
    n: int = 200,
    d: int = 50,
    lam: float = 0.0,
    scale: str = "sum",
    noise: float = 0.5,
    seed: int = 0,
) -> LeastSquares:
    """Least squares with A (n x d) Gaussian, b = A x_true + noise * N(0, I).

    ``n``, ``d`` >= 1; ``lam`` >= 0 the ridge weight; ``scale`` "sum" (1/2 ||Ax - b||^2) or
    "mean" (1/(2n) ||Ax - b||^2); ``noise`` >= 0; ``seed`` >= 0.
    """
    n = check_int("n", n, low=1)
    d = check_int("d", d, low=1)
    lam = check_float("lam", lam, low=0.0)
    scale = check_choice("scale", scale, ("sum", "mean"))
    noise = check_float("noise", noise, low=0.0)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    x_true = rng.standard_normal(d)
    b = A @ x_true + noise * rng.standard_normal(n)
    params = {"n": n, "d": d, "lam": lam, "scale": scale, "noise": noise, "seed": seed}
    return LeastSquares(A=A, b=b, x_true=x_true, lam=lam, scale=scale, params=params)
