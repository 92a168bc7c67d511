r"""Damped Newton's method with backtracking and the Newton-decrement stopping rule.

Boyd & Vandenberghe, *Convex Optimization* (2004), Algorithm 9.5, as in the lecture:

.. math::

    \Delta x = -\nabla^2 f(x)^{-1} \nabla f(x), \qquad
    \lambda(x)^2 = -\nabla f(x)^\top \Delta x = \nabla f(x)^\top \nabla^2 f(x)^{-1} \nabla f(x),

stop when :math:`\lambda^2/2 \le \epsilon`; otherwise backtrack from s = 1 (s <- beta s) until the Armijo
condition :math:`f(x + s\Delta x) \le f(x) + \alpha s \nabla f(x)^\top \Delta x` holds (B&V Alg. 9.2,
alpha in (0, 1/2), beta in (0, 1)) and set x <- x + s Delta x.

* ``solver="cholesky"`` factors the dense Hessian (``oracle.hess``, one count per iterate) with
  ``scipy.linalg.cho_factor``. Where it is not positive definite (nonconvex f such as Rosenbrock),
  ``hessian_modification="identity"`` adds tau I with the smallest tau of the sequence of Nocedal & Wright,
  *Numerical Optimization* (2006), Algorithm 3.3 ("Cholesky with added multiple of the identity") that makes
  the factorization succeed; the direction is then a descent direction and lambda^2 is the decrement in the
  modified metric. ``hessian_modification="none"`` ends the run with an error instead.
* ``solver="cg"`` is line-search Newton-CG (Nocedal & Wright Algorithm 7.1): the Newton system is solved
  approximately by conjugate gradients on Hessian-vector products (``oracle.hvp``, one count per CG iteration)
  to the relative residual eta = min(1/2, sqrt(||g||)), stopping at the first direction of nonpositive
  curvature (steepest descent if it is the first one). For large dimensions.
* ``solver="auto"`` is ``"cholesky"`` when the problem has a dense Hessian and dim <= 1000, else ``"cg"``.

Evaluation order and the history: each step evaluates the gradient and the curvature at the *new* iterate, so
that the decrement of x_t is known when the run loop records x_t. Row t of the history therefore shows
``newton_decrement2`` = lambda(x_t)^2 (NaN at x_0, where the oracle has not been called yet), ``step_t`` = the
damped step s that produced x_t (NaN at x_0; the ``lr`` column holds the step taken *from* x_t), and
``hess_shift`` = the tau added to the Hessian at x_t (NaN for ``solver="cg"``), and its oracle counts include
the gradient and Hessian at x_t. The counts per step are exact: one Hessian (or one hvp per CG iteration),
one gradient and one value per backtracking trial; the first step also pays f and grad f at x_0.
When the rule fires at x_t the run ends "converged" at iteration t without further oracle calls.

The Armijo test allows the rounding error of f: a trial is accepted when
f(x + s dx) <= f(x) + alpha s g'dx + 64 eps_mach |f(x)|, the idea of the approximate Armijo condition of
Hager & Zhang (2005, SIAM J. Optim. 16(1)) at rounding level. Without it, near the optimum of a function of
large magnitude the decrease alpha lambda^2 falls below the resolution of f and the test fails on rounding
noise alone, shrinking s to nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from problems import Problem
from problems._validate import check_choice, check_float, check_int
from problems.errors import UserInputError
from testbed.optimizers.base import Converged, Optimizer, register

__all__ = [
    "ARMIJO_ROUNDING",
    "AUTO_DENSE_MAX_DIM",
    "LineSearchError",
    "Newton",
    "NewtonState",
    "check_backtracking",
    "cholesky_with_shift",
    "truncated_cg",
]

#: Rounding allowance of the Armijo test, relative to |f(x)| (64 ulp).
ARMIJO_ROUNDING = 64 * np.finfo(np.float64).eps
#: ``solver="auto"`` factors dense Hessians up to this dimension and uses Newton-CG above it.
AUTO_DENSE_MAX_DIM = 1000
#: Nocedal & Wright's beta of Algorithm 3.3, relative to the largest |diagonal entry| of the Hessian.
_SHIFT_START = 1e-3
_MAX_SHIFT_DOUBLINGS = 200


class LineSearchError(RuntimeError):
    """Backtracking found no acceptable step within ``max_backtracks`` trials."""


class NewtonState(NamedTuple):
    """Newton's state: the evaluation at the current iterate and what its row of the history shows.

    ``x`` is a copy of the iterate where ``f``, ``g`` and the direction ``dx`` were computed (None before the
    first step); ``lam2`` = lambda(x)^2, ``shift`` = tau added to the Hessian, ``step`` = the damped step that
    produced x; ``solver`` is the resolved solver and ``iters`` the number of Newton steps taken.
    """

    x: np.ndarray | None
    f: float
    g: np.ndarray | None
    dx: np.ndarray | None
    lam2: float
    shift: float
    step: float
    solver: str
    iters: int


def check_backtracking(alpha: object, beta: object, max_backtracks: object) -> tuple[float, float, int]:
    """Validate the backtracking parameters of B&V Alg. 9.2: alpha in (0, 1/2), beta in (0, 1), trials >= 1."""
    alpha = check_float("alpha", alpha, low=0.0, high=0.5, low_open=True, high_open=True)
    beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
    max_backtracks = check_int("max_backtracks", max_backtracks, low=1)
    return alpha, beta, max_backtracks


def cholesky_with_shift(H: np.ndarray, modification: str) -> tuple[tuple[np.ndarray, bool], float]:
    """Cholesky factor of H + tau I and tau; tau = 0 whenever H is positive definite.

    ``modification="identity"``: Nocedal & Wright (2006) Algorithm 3.3 -- tau_0 = 0 if min_i H_ii > 0, else
    -min_i H_ii + b, then tau_{k+1} = max(2 tau_k, b) until the factorization succeeds, with
    b = 1e-3 max_i |H_ii| (1e-3 if the diagonal is 0) so that the shift scales with H.
    ``modification="none"``: raise :class:`scipy.linalg.LinAlgError` if H is not positive definite.
    """
    try:
        return cho_factor(H, lower=True), 0.0
    except LinAlgError:
        if modification == "none":
            raise LinAlgError(
                "the Hessian is not positive definite (Cholesky failed); Newton's direction is undefined here. "
                "Use hessian_modification='identity' for nonconvex problems"
            ) from None
    diag = np.diagonal(H)
    scale = float(np.max(np.abs(diag)))
    b = _SHIFT_START * (scale if scale > 0 else 1.0)
    tau = b if diag.min() > 0 else -float(diag.min()) + b
    eye = np.eye(H.shape[0])
    for _ in range(_MAX_SHIFT_DOUBLINGS):
        try:
            return cho_factor(H + tau * eye, lower=True), tau
        except LinAlgError:
            tau = max(2.0 * tau, b)
    raise LinAlgError(f"no shift tau <= {tau:.3g} made the Hessian positive definite")


def truncated_cg(hvp: Callable[[np.ndarray], np.ndarray], g: np.ndarray, max_iters: int) -> np.ndarray:
    """Approximate solution of H p = -g by CG (Nocedal & Wright 2006, Algorithm 7.1, line-search Newton-CG).

    Stops when ||r|| <= eta ||g|| with the forcing term eta = min(1/2, sqrt(||g||)), after ``max_iters``
    iterations, or at the first direction d with d'Hd <= 0 (returning -g if that happens on the first
    iteration, else the current iterate). Each iteration costs one call of ``hvp``.
    """
    gnorm = math.sqrt(float(g @ g))
    tol = min(0.5, math.sqrt(gnorm)) * gnorm
    z = np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = float(r @ r)
    for j in range(max_iters):
        if math.sqrt(rr) <= tol:
            break
        Hd = hvp(d)
        curv = float(d @ Hd)
        if curv <= 0.0:
            return -g.copy() if j == 0 else z
        a = rr / curv
        z += a * d
        r += a * Hd
        rr_next = float(r @ r)
        d = -r + (rr_next / rr) * d
        rr = rr_next
    return z


@register("newton", source="Boyd & Vandenberghe 2004, Alg. 9.5; Nocedal & Wright 2006, Alg. 3.3 and 7.1",
          kind="lecture")
class Newton(Optimizer):
    """Damped Newton's method with backtracking; stops when lambda(x)^2 / 2 <= eps (B&V Alg. 9.5).

    Hyperparameters: ``alpha`` in (0, 1/2) and ``beta`` in (0, 1) of the backtracking line search, ``eps`` > 0
    of the stopping rule, ``solver`` ("auto", "cholesky" or "cg"), ``hessian_modification`` ("identity" or
    "none"; Cholesky only), ``max_backtracks`` >= 1 trials per line search (an error when exhausted),
    ``cg_max_iters`` (Newton-CG's CG iterations per step; None = dim). See the module docstring for the
    recorded columns and the evaluation order. Full batch only: a run with ``batch_size`` ends with an error.
    """

    name = "newton"
    source = "Boyd & Vandenberghe 2004, Alg. 9.5"
    extra_columns = ("newton_decrement2", "step_t", "hess_shift")

    def __init__(
        self,
        *,
        alpha: float = 0.25,
        beta: float = 0.5,
        eps: float = 1e-10,
        solver: str = "auto",
        hessian_modification: str = "identity",
        max_backtracks: int = 60,
        cg_max_iters: int | None = None,
    ) -> None:
        alpha, beta, max_backtracks = check_backtracking(alpha, beta, max_backtracks)
        eps = check_float("eps", eps, low=0.0, low_open=True)
        solver = check_choice("solver", solver, ("auto", "cholesky", "cg"))
        hessian_modification = check_choice("hessian_modification", hessian_modification, ("identity", "none"))
        if cg_max_iters is not None:
            cg_max_iters = check_int("cg_max_iters", cg_max_iters, low=1)
        super().__init__(
            alpha=alpha, beta=beta, eps=eps, solver=solver, hessian_modification=hessian_modification,
            max_backtracks=max_backtracks, cg_max_iters=cg_max_iters,
        )
        self.alpha, self.beta, self.eps = alpha, beta, eps
        self.solver, self.modification = solver, hessian_modification
        self.max_backtracks, self.cg_max_iters = max_backtracks, cg_max_iters

    # ---------------------------------------------------------------- protocol
    def init(self, x0: np.ndarray, problem: Problem) -> NewtonState:
        """Check that the problem is unconstrained and has the curvature the solver needs; resolve ``"auto"``."""
        if callable(getattr(problem, "inequalities", None)) or callable(getattr(problem, "project", None)):
            raise UserInputError(
                f"newton: {problem.name} is a constrained problem and Newton's method ignores constraints; "
                "use the 'barrier' optimizer (inequality constraints) instead"
            )
        solver = self.solver
        if solver == "auto":
            solver = "cholesky" if problem.has_hess and problem.dim <= AUTO_DENSE_MAX_DIM else "cg"
        if solver == "cholesky" and not problem.has_hess:
            hint = " (it has Hessian-vector products: use solver='cg')" if problem.has_hvp else ""
            raise UserInputError(f"newton: solver='cholesky' needs problem.hess; {problem.name} has none{hint}")
        if solver == "cg" and not problem.has_hvp:
            raise UserInputError(
                f"newton: needs second-order information, and {problem.name} provides neither hess nor hvp"
            )
        return NewtonState(None, math.nan, None, None, math.nan, math.nan, math.nan, solver, 0)

    def step(self, x: np.ndarray, state: NewtonState, oracle: Any, lr: float | None) -> tuple[
        np.ndarray, NewtonState, float
    ]:
        """One damped Newton step from x (``lr`` is ignored: the line search chooses the step)."""
        if oracle.batch is not None:
            raise UserInputError("newton: a full-batch method; run it without batch_size")
        if state.x is not None and np.array_equal(state.x, x):
            f, g, dx, lam2 = state.f, state.g, state.dx, state.lam2
        else:
            f, g = oracle.value_and_grad(x)
            dx, lam2, _ = self._direction(x, g, oracle, state.solver)
        if not math.isfinite(lam2):
            raise FloatingPointError(f"newton: the Newton decrement is not finite at iteration {state.iters}")
        if lam2 / 2 <= self.eps:
            raise Converged(
                f"Newton decrement: lambda^2/2 = {lam2 / 2:.3g} <= eps = {self.eps:g} at iteration {state.iters}"
            )
        s, x_new, f_new = self._backtrack(oracle, x, f, dx, lam2, state.iters)
        g_new = oracle.grad(x_new)
        dx_new, lam2_new, shift = self._direction(x_new, g_new, oracle, state.solver)
        new = NewtonState(x_new.copy(), f_new, g_new, dx_new, lam2_new, shift, s, state.solver, state.iters + 1)
        return x_new, new, s

    def extras(self, state: NewtonState) -> tuple[float, ...]:
        """(lambda(x_t)^2, the step that produced x_t, the Hessian shift at x_t)."""
        return (state.lam2, state.step, state.shift)

    def finalize(self, state: NewtonState) -> dict[str, Any]:
        """The solver actually used (``"auto"`` resolved) and the number of Newton steps."""
        return {"solver": state.solver, "newton_steps": state.iters}

    # ---------------------------------------------------------------- pieces
    def _direction(self, x: np.ndarray, g: np.ndarray, oracle: Any, solver: str) -> tuple[np.ndarray, float, float]:
        """(dx, lambda^2 = -g'dx, tau) at x."""
        if solver == "cholesky":
            factor, tau = cholesky_with_shift(oracle.hess(x), self.modification)
            dx = -cho_solve(factor, g)
        else:
            n = self.cg_max_iters if self.cg_max_iters is not None else x.size
            dx, tau = truncated_cg(lambda v: oracle.hvp(x, v), g, n), math.nan
        return dx, -float(g @ dx), tau

    def _backtrack(
        self, oracle: Any, x: np.ndarray, f: float, dx: np.ndarray, lam2: float, it: int
    ) -> tuple[float, np.ndarray, float]:
        """Backtracking line search (B&V Alg. 9.2) on the Newton direction; returns (s, x + s dx, f(x + s dx))."""
        s = 1.0
        slack = ARMIJO_ROUNDING * abs(f)
        for _ in range(self.max_backtracks):
            x_new = x + s * dx
            f_new = oracle.value(x_new)
            if f_new <= f - self.alpha * s * lam2 + slack:
                return s, x_new, f_new
            s *= self.beta
        raise LineSearchError(
            f"newton: no step satisfied the Armijo condition in {self.max_backtracks} backtracking trials at "
            f"iteration {it} (lambda^2 = {lam2:.3g}, last s = {s / self.beta:.3g}): the Newton direction is not a "
            "descent direction to working precision"
        )
