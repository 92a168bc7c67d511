r"""Problem family ``logistic``: l2-regularised logistic regression (binary, labels in {-1, +1}).

.. math::

    f(w) = \frac1n \sum_{i=1}^n \log\bigl(1 + e^{-y_i \langle x_i, w\rangle}\bigr) + \frac{\lambda}{2}\|w\|^2 .

Intercept: with ``intercept=True`` (default) a constant feature 1 is appended as
the *last* column of the design X (so w[-1] is the intercept) and it is
regularised like every other weight; this keeps f lambda-strongly convex in
every coordinate, so ``mu = lam`` holds exactly.

Constants (Nesterov, *Lectures on Convex Optimization*, 2018, Thm 2.1.6 and 2.1.11):
the Hessian is

.. math::  \nabla^2 f(w) = \tfrac1n X^\top D(w) X + \lambda I,\quad D = \mathrm{diag}(\sigma(m_i)\sigma(-m_i)),
           \ m_i = y_i\langle x_i, w\rangle .

Since 0 < sigma(t) sigma(-t) <= 1/4 for every t, ``lam I <= Hess f(w) <= (||X||_2^2/(4n) + lam) I``
for all w. By the mean-value form grad f(u) - grad f(v) = (int_0^1 Hess f(v + t(u - v)) dt)(u - v)
the gradient is therefore globally Lipschitz with ``L = ||X||_2^2 / (4n) + lam``
(||X||_2 the largest singular value of the training design, computed by SVD) and
f is ``mu = lam`` strongly convex. Both are valid on all of R^d (``L_region = "global"``).

*L_max* (the smoothness of the single-sample functions, for stochastic-gradient theory). The
minibatch oracle over ``idx = [i]`` is phi_i(w) = log(1 + exp(-y_i <x_i, w>)) + lam/2 ||w||^2
(regulariser included). Its Hessian s(m_i)(1 - s(m_i)) x_i x_i' + lam I (s the sigmoid) has
norm at most ||x_i||^2 / 4 + lam, because s(1 - s) <= 1/4 and the rank-one x_i x_i' has the
single nonzero eigenvalue ||x_i||^2 (y_i^2 = 1). By the same mean-value argument each grad phi_i is
globally Lipschitz with that constant, so

    ``L_max`` = max_i ||x_i||^2 / 4 + lam    (x_i the rows of the training design, intercept included),

valid on all of R^d and attained in the limit at w = 0 along x_i (s(0)(1 - s(0)) = 1/4).

Numerics: the loss uses ``logaddexp(0, -m)`` and the gradient ``expit(-m)``, which
neither overflow nor lose the small terms for large |m|.

Reference optimum: CVXPY with Clarabel (``cp.logistic``, exponential cones), then
polished by Newton's method; cross-checked by an independent damped Newton run
from 0. The values of f at the raw CVXPY point and at the cross-check must agree
to 1e-8 relative, else :class:`~problems.errors.SolverError`. The certificate
records ||grad f(x*)||, the solver status, both values and their agreement, and
the strong-convexity bounds f(x*) - f_min <= ||grad f(x*)||^2 / (2 mu) and
||x* - w_min|| <= ||grad f(x*)|| / mu (Nesterov 2018, Thm 2.1.10).

A reference read back from the disk cache is trusted only if it fits this instance
(:func:`~problems.families._common.reference_matches`): method "cvxpy:CLARABEL", x* a finite
vector of the right length, f(x*) = f* to 1e-10 relative, and ||grad f(x*)|| <=
:data:`REFERENCE_RESIDUAL_RTOL` ||grad f(0)|| (the Newton polish reaches ~1e-16 relative). A
stale or tampered entry is recomputed, never returned.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit

from problems import datasets, register
from problems._validate import check_bool, check_choice, check_float, check_int
from problems.base import Index, Problem
from problems.errors import SolverError, UserInputError
from problems.families._common import cvxpy_method, reference_matches
from problems.reference import Reference

__all__ = ["DATA", "Logistic", "logistic"]

#: Data sets the family accepts (binary after the documented labelling).
DATA = ("linear", "breast_cancer", "digits")
#: Relative agreement in f required between CVXPY and the Newton cross-check.
AGREEMENT_RTOL = 1e-8
#: A cached reference is rejected unless ||grad f(x*)|| <= this times ||grad f(0)||.
REFERENCE_RESIDUAL_RTOL = 1e-9
#: Clarabel settings tried in turn until the status is "optimal": tight tolerances
#: first (so tiny f*, e.g. nearly separable data with small lam, still agree to
#: 1e-8 relative), then Clarabel's defaults should the tight run end "optimal_inaccurate".
CLARABEL_SETTINGS = (
    ("tight (gap, feasibility 1e-12)", {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}),
    ("default", {}),
)


class Logistic(Problem):
    """l2-regularised logistic regression on a fixed, seeded train/test split (see the module docstring).

    Extra public attributes: ``X_train``, ``y_train``, ``X_test``, ``y_test`` (read-only;
    X with the intercept column if any, y in {-1, +1}), ``lam``, ``intercept``,
    ``L_max`` = max_i ||x_i||^2 / 4 + lam (see the module docstring),
    and the methods :meth:`test_value`, :meth:`accuracy`.
    """

    family = "logistic"

    def __init__(
        self,
        *,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        lam: float,
        intercept: bool,
        params: dict[str, Any],
    ) -> None:
        self.intercept = intercept
        self.X_train, self.X_test = self._design(X_train), self._design(X_test)
        self.y_train = np.array(y_train, dtype=np.float64)
        self.y_test = np.array(y_test, dtype=np.float64)
        for a in (self.y_train, self.y_test):
            a.setflags(write=False)
        self.lam = float(lam)
        n, d = self.X_train.shape
        sigma_max = float(np.linalg.norm(self.X_train, 2))
        super().__init__(
            params=params, x0=np.zeros(d), L=sigma_max**2 / (4.0 * n) + self.lam, mu=self.lam,
            convex=True, L_region="global", n_samples=n,
        )
        self.L_max = float(np.max(np.einsum("ij,ij->i", self.X_train, self.X_train))) / 4.0 + self.lam

    def _design(self, X: np.ndarray) -> np.ndarray:
        X = np.column_stack([X, np.ones(X.shape[0])]) if self.intercept else np.array(X, dtype=np.float64)
        X = np.ascontiguousarray(X)
        X.setflags(write=False)
        return X

    def _batch(self, idx: Index) -> tuple[np.ndarray, np.ndarray]:
        if idx is None:
            return self.X_train, self.y_train
        return self.X_train[idx], self.y_train[idx]

    # ------------------------------------------------------------- oracle
    def _value(self, x: np.ndarray, idx: Index) -> float:
        X, y = self._batch(idx)
        m = y * (X @ x)
        return float(np.logaddexp(0.0, -m).mean() + 0.5 * self.lam * (x @ x))

    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        X, y = self._batch(idx)
        m = y * (X @ x)
        f = float(np.logaddexp(0.0, -m).mean() + 0.5 * self.lam * (x @ x))
        r = expit(-m)
        r *= y
        g = X.T @ r
        g *= -1.0 / m.size
        g += self.lam * x
        return f, g

    def _hess(self, x: np.ndarray) -> np.ndarray:
        X = self.X_train
        m = self.y_train * (X @ x)
        D = expit(m) * expit(-m)
        H = (X.T * D) @ X
        H /= X.shape[0]
        H[np.diag_indices_from(H)] += self.lam
        return H

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        X = self.X_train
        m = self.y_train * (X @ x)
        out = X.T @ (expit(m) * expit(-m) * (X @ v))
        out /= X.shape[0]
        out += self.lam * v
        return out

    # ------------------------------------------------------------ ERM extras
    def test_value(self, x: np.ndarray) -> float:
        """Mean logistic loss on the held-out test split, *without* the regulariser."""
        x = self._check_x(x)
        return float(np.logaddexp(0.0, -self.y_test * (self.X_test @ x)).mean())

    def accuracy(self, x: np.ndarray, split: str = "train") -> float:
        """Fraction of ``split`` ("train" or "test") classified correctly by sign(<x_i, w>) (0 counts as +1)."""
        x = self._check_x(x)
        split = check_choice("split", split, ("train", "test"))
        X, y = (self.X_train, self.y_train) if split == "train" else (self.X_test, self.y_test)
        pred = np.where(X @ x >= 0.0, 1.0, -1.0)
        return float(np.mean(pred == y))

    # ------------------------------------------------------------- reference
    def _reference_cache_key(self) -> dict[str, Any]:
        return dict(self.params)

    def _reference_is_valid(self, ref: Reference) -> bool:
        """Whether a cached reference fits this instance (see the module docstring); else it is recomputed."""
        g0 = float(np.linalg.norm(self._grad(np.zeros(self.dim), None)))
        return reference_matches(
            ref,
            method=cvxpy_method(),
            dim=self.dim,
            value=lambda x: self._value(x, None),
            residual=lambda x: np.linalg.norm(self._grad(x, None)),
            residual_tol=REFERENCE_RESIDUAL_RTOL * max(g0, np.finfo(float).tiny),
        )

    def _compute_reference(self) -> Reference:
        w_cvx, info = self._solve_cvxpy()
        f_cvx, g_cvx = self._value_and_grad(w_cvx, None)
        w_pol, steps_pol = newton(self, w_cvx)
        w_chk, steps_chk = newton(self, self.x0)
        f_pol, g_pol = self._value_and_grad(w_pol, None)
        f_chk, g_chk = self._value_and_grad(w_chk, None)
        rel = abs(f_cvx - f_chk) / abs(f_chk)
        if not rel <= AGREEMENT_RTOL:
            raise SolverError(
                "logistic reference", "CLARABEL", info["status"],
                f"f at the CVXPY point {f_cvx!r} and the Newton cross-check {f_chk!r} differ by {rel:.2e} relative "
                f"(> {AGREEMENT_RTOL:g})",
            )
        use_polished = np.linalg.norm(g_pol) <= np.linalg.norm(g_chk)
        x_star, f_star = (w_pol, f_pol) if use_polished else (w_chk, f_chk)
        gnorm = float(np.linalg.norm(g_pol if use_polished else g_chk))
        certificate = {
            **info,
            "f_cvxpy": f_cvx,
            "grad_norm_cvxpy": float(np.linalg.norm(g_cvx)),
            "polish": "Newton (exact Hessian, Cholesky solve, Armijo backtracking) from the CVXPY point",
            "polish_steps": steps_pol,
            "cross_check": "damped Newton from x0 = 0 (independent of CVXPY)",
            "cross_check_steps": steps_chk,
            "f_cross_check": f_chk,
            "grad_norm_cross_check": float(np.linalg.norm(g_chk)),
            "cross_check_rel_diff_f": rel,
            "cross_check_x_dist": float(np.linalg.norm(w_pol - w_chk)),
            "x_star_from": "cvxpy + Newton polish" if use_polished else "Newton cross-check",
            "grad_norm": gnorm,
            "f_gap_bound": gnorm**2 / (2.0 * self.lam),
            "dist_bound": gnorm / self.lam,
        }
        return Reference(f_star=float(f_star), x_star=x_star, method="cvxpy:CLARABEL", certificate=certificate)

    def _solve_cvxpy(self) -> tuple[np.ndarray, dict[str, Any]]:
        import cvxpy as cp

        X, y = self.X_train, self.y_train
        n, d = X.shape
        w = cp.Variable(d)
        objective = cp.sum(cp.logistic(-cp.multiply(y, X @ w))) / n + 0.5 * self.lam * cp.sum_squares(w)
        prob = cp.Problem(cp.Minimize(objective))
        t0 = time.perf_counter()
        status, used = "not solved", ""
        for label, opts in CLARABEL_SETTINGS:
            try:
                with warnings.catch_warnings():  # an inaccurate status is handled (retried or raised) here
                    warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                    prob.solve(solver="CLARABEL", **opts)
                status = str(prob.status)
            except cp.error.SolverError:
                status = "solver_error"
            if status == "optimal" and w.value is not None:
                used = label
                break
        else:
            raise SolverError("logistic reference", "CLARABEL", status, "with tight and with default tolerances")
        info = {
            "solver": "CLARABEL",
            "status": status,
            "solver_tolerances": used,
            "solver_objective": float(prob.value),
            "solver_iterations": int(prob.solver_stats.num_iters or 0),
            "solve_time_s": time.perf_counter() - t0,
        }
        return np.array(w.value, dtype=np.float64), info


def newton(problem: Logistic, w: np.ndarray, *, max_iter: int = 100) -> tuple[np.ndarray, int]:
    """Damped Newton's method (Boyd & Vandenberghe 2004, Alg. 9.5) run to the rounding floor.

    Each step solves Hess f(w) p = grad f(w) by Cholesky and backtracks (t <- t/2)
    until the Armijo condition f(w - t p) <= f(w) - 1e-4 t <grad f(w), p> holds with a
    decrease above rounding level. Once f(w - t p) equals f(w) to rounding (16 eps |f|),
    the step is judged by the gradient instead: accepted if it at least halves
    ||grad f|| (Newton's quadratic contraction), else the method stops -- the
    rounding floor is reached. Also stops at ``max_iter`` or grad f = 0. Returns the
    last accepted point and the number of accepted steps.
    """
    w = np.array(w, dtype=np.float64)
    f, g = problem._value_and_grad(w, None)
    gnorm = float(np.linalg.norm(g))
    steps = 0
    for _ in range(max_iter):
        if gnorm == 0.0:
            break
        p = cho_solve(cho_factor(problem._hess(w)), g)
        slope = float(g @ p)
        rounding = 16 * np.finfo(np.float64).eps * abs(f)
        t, accepted = 1.0, False
        while t >= 1e-10:
            w_new = w - t * p
            f_new, g_new = problem._value_and_grad(w_new, None)
            gnorm_new = float(np.linalg.norm(g_new))
            if f - f_new > rounding and f_new <= f - 1e-4 * t * slope:
                accepted = True
                break
            if abs(f_new - f) <= rounding:  # f is flat to rounding: judge by the gradient, no backtracking
                accepted = gnorm_new <= 0.5 * gnorm
                break
            t *= 0.5
        if not accepted:
            break
        w, f, g, gnorm = w_new, f_new, g_new, gnorm_new
        steps += 1
    return w, steps


def _labels_pm1(name: str, y: np.ndarray) -> np.ndarray:
    """Map class indices to {-1, +1}: digits even -> +1, odd -> -1; binary sets class 1 -> +1, class 0 -> -1."""
    if name == "digits":
        return np.where(y % 2 == 0, 1.0, -1.0)
    return np.where(y == 1, 1.0, -1.0)


@register(
    "logistic",
    summary="l2-regularised logistic regression on generated or bundled (breast_cancer, digits) data",
    convex=True,
    L="||X||_2^2 / (4n) + lam (X the training design incl. intercept column; global)",
    L_max="max_i ||x_i||^2 / 4 + lam (smoothness of the single-sample functions; global)",
    mu="lam",
    f_star="CVXPY (Clarabel) + Newton polish, cross-checked by Newton from 0 to 1e-8 relative",
)
def logistic(
    *,
    data: str = "linear",
    n: int | None = None,
    d: int | None = None,
    separation: float | None = None,
    noise: float | None = None,
    lam: float = 1e-2,
    intercept: bool = True,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Logistic:
    """l2-regularised logistic regression (see :mod:`problems.families.logistic`).

    Parameters
    ----------
    data : "linear" (generated, see :func:`problems.datasets.make_linear`), "breast_cancer"
        (label +1 = benign, -1 = malignant) or "digits" (label +1 = even digit, -1 = odd digit).
    n, d, separation, noise : generated data only (defaults 200 samples, 10 features,
        class-mean separation 2.0, label-flip probability 0.05); refused for bundled data.
    lam : regularisation weight > 0 (= mu).
    intercept : append a constant feature (last column; regularised, see the module docstring).
    test_fraction : held-out fraction in (0, 1) (stratified, seeded).
    seed : seeds the data generation and the split.
    """
    data = datasets.check_data_name(data, DATA, "logistic")
    lam = check_float("lam", lam, low=0.0, low_open=True)
    intercept = check_bool("intercept", intercept)
    test_fraction = check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed, low=0)
    gen = {"n": n, "d": d, "separation": separation, "noise": noise}
    if data == "linear":
        given, defaults = gen, {"n": 200, **datasets.generator_options("linear")}
        gen = {key: defaults[key] if value is None else value for key, value in given.items()}
        gen = {
            "n": check_int("n", gen["n"], low=4),
            "d": check_int("d", gen["d"], low=1),
            "separation": check_float("separation", gen["separation"], low=0.0),
            "noise": check_float("noise", gen["noise"], low=0.0, high=0.5, high_open=True),
        }
        ds = datasets.load(data, seed=seed, test_fraction=test_fraction, **gen)
    else:
        for key, value in gen.items():
            if value is not None:
                raise UserInputError(f"{key}: applies to generated data (data='linear') only, not to {data!r}")
        ds = datasets.load(data, seed=seed, test_fraction=test_fraction)
    params = {"data": data, **gen, "lam": lam, "intercept": intercept, "test_fraction": test_fraction, "seed": seed}
    return Logistic(
        X_train=ds.X_train, y_train=_labels_pm1(data, ds.y_train), X_test=ds.X_test,
        y_test=_labels_pm1(data, ds.y_test), lam=lam, intercept=intercept, params=params,
    )
