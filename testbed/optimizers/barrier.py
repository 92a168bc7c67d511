r"""The barrier (interior-point) method for inequality-constrained convex problems.

Boyd & Vandenberghe, *Convex Optimization* (2004), section 11.3, Algorithm 11.1, as in the lecture: for

.. math::  \min f_0(x) \quad \text{s.t.}\quad f_i(x) \le 0,\ i = 1..m,

with the logarithmic barrier :math:`\phi(x) = -\sum_i \log(-f_i(x))`, the central point :math:`x^*(t)`
minimises :math:`t f_0(x) + \phi(x)` and satisfies :math:`f_0(x^*(t)) - p^* \le m/t` (B&V 11.2.2: the
point :math:`\lambda_i = -1/(t f_i(x^*(t)))` is dual feasible with dual value :math:`f_0(x^*(t)) - m/t`).
Given a strictly feasible x, t = t0 > 0, mu > 1 and eps > 0, repeat

1. *centering*: minimise t f0 + phi from x by Newton's method (B&V Alg. 9.5) with backtracking that first
   shrinks the step until every f_i(x + s dx) < 0, then until the Armijo condition holds;
   the centering ends when lambda^2/2 <= ``centering_eps`` (lambda the Newton decrement of t f0 + phi);
2. x := x*(t);
3. stop if m/t < eps;
4. t := mu t.

One ``step`` of the run loop is **one Newton step** of a centering, so the history shows every inner
iteration. As in :mod:`testbed.optimizers.newton`, each step evaluates the derivatives at the new iterate
(``oracle.grad``, ``oracle.hess`` of f0 and ``problem.inequalities``), so row t of the history describes x_t
and the centering that produced it: ``barrier_t`` (its t), ``gap_bound`` = m / barrier_t (a bound on
f0(x_t) - p* at the rows where that centering ends), ``centering_step`` (Newton steps of that centering
taken to reach x_t), ``outer_iter`` (0-based index of the centering) and ``newton_decrement2``
(lambda(x_t)^2 for t f0 + phi at that t; NaN at x_0). A row whose decrement is <= 2 ``centering_eps`` is a
central point. The run ends "converged" at the central point where m/t < eps.

``Run.extras`` (through :meth:`Barrier.finalize`) holds the central path: ``central_path`` (a DataFrame,
one row per completed centering: outer_iter, barrier_t, gap_bound, iter (the run iteration of x*(t)),
newton_steps, f (= f0(x*(t))), dual_bound (= f - m/t, the dual value of the point lambda above)),
``central_points`` (array (K, dim) of the x*(t)), ``central_duals`` (array (K, m) of lambda(t)) and
``constraint_evals`` (calls of ``problem.inequalities``, which the oracle does not count).

Oracle counts per Newton step: one f0 value per feasible backtracking trial (infeasible trials cost only a
constraint evaluation), one gradient and one Hessian of f0 at the new iterate; the first step also pays f0
and its gradient and Hessian at x_0. Changing t costs nothing: the derivatives of t f0 + phi are recombined.

The problem interface (provided by the ``nnls`` family): ``problem.n_inequalities`` (m),
``problem.inequalities(x) -> (values (m,), jacobian (m, dim), hessians (m, dim, dim) or None when all f_i
are affine)`` for the constraints f_i(x) <= 0, ``problem.hess`` of f0, and optionally
``problem.feasible_x0``, a strictly feasible start.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from problems import Problem
from problems._validate import check_float
from problems.errors import UserInputError
from testbed.optimizers.base import Converged, Optimizer, register
from testbed.optimizers.newton import ARMIJO_ROUNDING, LineSearchError, check_backtracking

__all__ = ["Barrier", "BarrierState", "CentralPoint"]


class CentralPoint(NamedTuple):
    """One point x*(t) of the central path: where centering ``outer_iter`` ended."""

    outer_iter: int
    barrier_t: float
    gap_bound: float
    iter: int
    newton_steps: int
    f: float
    x: np.ndarray
    dual: np.ndarray


class BarrierState(NamedTuple):
    """The barrier method's state.

    ``t``, ``outer``, ``inner``: barrier parameter, centering index and Newton steps already taken in that
    centering, for the *next* step. ``x``: copy of the iterate where f0 (``f0``, ``g0``, ``H0``) and the
    constraints (``cons`` = (values, jacobian, hessians)) were evaluated (None before the first step);
    ``F``, ``dx``, ``lam2``: t f0 + phi, its Newton step and lambda^2 there for the current ``t``.
    ``row``: the extra columns of x's history row. ``done``: m/t < eps at a central point.
    ``steps``: Newton steps taken (the run iteration of x). ``central``: the central points so far (appended
    in place). ``constraint_evals``: calls of ``problem.inequalities``. ``dim``, ``m``: sizes of x and of the
    constraints.
    """

    t: float
    outer: int
    inner: int
    x: np.ndarray | None
    f0: float
    g0: np.ndarray | None
    H0: np.ndarray | None
    cons: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None
    F: float
    dx: np.ndarray | None
    lam2: float
    row: tuple[float, float, float, float, float]
    done: bool
    steps: int
    central: list[CentralPoint]
    constraint_evals: int
    dim: int
    m: int


def _newton_system(
    t: float, f0: float, g0: np.ndarray, H0: np.ndarray, cons: tuple[np.ndarray, np.ndarray, np.ndarray | None]
) -> tuple[float, np.ndarray, float]:
    r"""(F, dx, lambda^2) for F = t f0 + phi at a strictly feasible point (B&V 11.2.1).

    With r_i = -1/f_i > 0: grad phi = J' r and
    :math:`\nabla^2\phi = J^\top \mathrm{diag}(r^2) J + \sum_i r_i \nabla^2 f_i`.
    """
    values, J, hessians = cons
    r = -1.0 / values
    F = t * f0 - float(np.sum(np.log(-values)))
    g = t * g0 + J.T @ r
    H = t * H0 + (J.T * (r * r)) @ J
    if hessians is not None:
        H += np.einsum("i,ijk->jk", r, hessians)
    try:
        factor = cho_factor(H, lower=True)
    except LinAlgError:
        raise LinAlgError(
            f"barrier: the Hessian of t f0 + phi (t = {t:.3g}) is not positive definite; the barrier method "
            "needs a convex problem whose centering problems have unique minimisers"
        ) from None
    dx = -cho_solve(factor, g)
    return F, dx, -float(g @ dx)


@register("barrier", source="Boyd & Vandenberghe 2004, Alg. 11.1 (sec. 11.3)", kind="lecture")
class Barrier(Optimizer):
    """The barrier method (B&V Alg. 11.1): Newton centering on t f0 + phi, then t <- mu t, until m/t < eps.

    Hyperparameters: ``t0`` > 0 initial barrier parameter, ``mu`` > 1 its growth factor, ``eps`` > 0 the
    target duality-gap bound m/t, ``centering_eps`` > 0 the Newton-decrement tolerance lambda^2/2 of each
    centering, ``alpha`` in (0, 1/2) and ``beta`` in (0, 1) of the backtracking line search, ``max_backtracks``
    >= 1 trials per line search. One run-loop step is one Newton step (see the module docstring). Full batch
    only: a run with ``batch_size`` ends with an error.
    """

    name = "barrier"
    source = "Boyd & Vandenberghe 2004, Alg. 11.1 (sec. 11.3)"
    extra_columns = ("barrier_t", "gap_bound", "centering_step", "outer_iter", "newton_decrement2")

    def __init__(
        self,
        *,
        t0: float = 1.0,
        mu: float = 10.0,
        eps: float = 1e-8,
        centering_eps: float = 1e-10,
        alpha: float = 0.25,
        beta: float = 0.5,
        max_backtracks: int = 60,
    ) -> None:
        t0 = check_float("t0", t0, low=0.0, low_open=True)
        mu = check_float("mu", mu, low=1.0, low_open=True)
        eps = check_float("eps", eps, low=0.0, low_open=True)
        centering_eps = check_float("centering_eps", centering_eps, low=0.0, low_open=True)
        alpha, beta, max_backtracks = check_backtracking(alpha, beta, max_backtracks)
        super().__init__(
            t0=t0, mu=mu, eps=eps, centering_eps=centering_eps, alpha=alpha, beta=beta, max_backtracks=max_backtracks
        )
        self.t0, self.mu, self.eps, self.centering_eps = t0, mu, eps, centering_eps
        self.alpha, self.beta, self.max_backtracks = alpha, beta, max_backtracks

    # ---------------------------------------------------------------- protocol
    def init(self, x0: np.ndarray, problem: Problem) -> BarrierState:
        """Check the problem's constraint interface and the strict feasibility of x0."""
        if not callable(getattr(problem, "inequalities", None)) or not hasattr(problem, "n_inequalities"):
            raise UserInputError(
                f"barrier: {problem.name} has no inequality constraints (the barrier method needs "
                "problem.n_inequalities and problem.inequalities(x) -> (values, jacobian, hessians)); "
                "for an unconstrained problem use 'newton'"
            )
        if not problem.has_hess:
            raise UserInputError(f"barrier: needs the Hessian of the objective (problem.hess); {problem.name} has none")
        m = problem.n_inequalities
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise UserInputError(f"barrier: problem.n_inequalities must be an integer >= 0, got {m!r}")
        cons = self._constraints(problem, x0)
        values = cons[0]
        bad = np.flatnonzero(~(values < 0))
        if bad.size:
            i = int(bad[0])
            hint = (
                "; start from problem.feasible_x0: testbed.run(problem, optimizer, x0=problem.feasible_x0, ...)"
                if hasattr(problem, "feasible_x0") else ""
            )
            raise UserInputError(
                f"x0: not strictly feasible, as the barrier method requires: f_i(x0) < 0 fails for {bad.size} of "
                f"{int(m)} constraints (first: i = {i}, f_i(x0) = {values[i]:.3g}){hint}"
            )
        row = (self.t0, m / self.t0, 0.0, 0.0, math.nan)
        return BarrierState(
            self.t0, 0, 0, None, math.nan, None, None, None, math.nan, None, math.nan, row, False, 0, [], 1,
            problem.dim, int(m),
        )

    def step(self, x: np.ndarray, state: BarrierState, oracle: Any, lr: float | None) -> tuple[
        np.ndarray, BarrierState, float
    ]:
        """One Newton step of the current centering (``lr`` is ignored: the line search chooses the step)."""
        if oracle.batch is not None:
            raise UserInputError("barrier: a full-batch method; run it without batch_size")
        problem = oracle.problem
        if state.x is None or not np.array_equal(state.x, x):
            f0, g0 = oracle.value_and_grad(x)
            cons = self._constraints(problem, x)
            state = self._settle(
                state._replace(constraint_evals=state.constraint_evals + 1), x, f0, g0, oracle.hess(x), cons
            )
        if state.done:
            raise Converged(
                f"duality gap bound m/t = {state.row[1]:.3g} < eps = {self.eps:g} (t = {state.row[0]:.3g}) after "
                f"{len(state.central)} centerings ({state.steps} Newton steps)"
            )
        s, x_new, f0_new, evals = self._backtrack(problem, oracle, state, x)
        cons = self._constraints(problem, x_new)
        state = state._replace(inner=state.inner + 1, steps=state.steps + 1, constraint_evals=state.constraint_evals
                               + evals + 1)
        state = self._settle(state, x_new, f0_new, oracle.grad(x_new), oracle.hess(x_new), cons)
        return x_new, state, s

    def extras(self, state: BarrierState) -> tuple[float, ...]:
        """(barrier_t, gap_bound, centering_step, outer_iter, newton_decrement2) of the current iterate."""
        return state.row

    def finalize(self, state: BarrierState) -> dict[str, Any]:
        """The central path recorded so far (see the module docstring)."""
        import pandas as pd

        pts = state.central
        table = pd.DataFrame(
            {
                "outer_iter": np.array([p.outer_iter for p in pts], dtype=np.int64),
                "barrier_t": np.array([p.barrier_t for p in pts], dtype=np.float64),
                "gap_bound": np.array([p.gap_bound for p in pts], dtype=np.float64),
                "iter": np.array([p.iter for p in pts], dtype=np.int64),
                "newton_steps": np.array([p.newton_steps for p in pts], dtype=np.int64),
                "f": np.array([p.f for p in pts], dtype=np.float64),
            }
        )
        table["dual_bound"] = table["f"] - table["gap_bound"]
        return {
            "central_path": table,
            "central_points": np.array([p.x for p in pts], dtype=np.float64).reshape(len(pts), state.dim),
            "central_duals": np.array([p.dual for p in pts], dtype=np.float64).reshape(len(pts), state.m),
            "constraint_evals": state.constraint_evals,
        }

    # ---------------------------------------------------------------- pieces
    @staticmethod
    def _constraints(problem: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``problem.inequalities(x)`` as float64 arrays, with the shapes checked."""
        m, d = int(problem.n_inequalities), x.size
        values, J, hessians = problem.inequalities(x)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        J = np.asarray(J, dtype=np.float64)
        if values.shape != (m,) or J.shape != (m, d):
            raise UserInputError(
                f"barrier: problem.inequalities(x) must return values of shape ({m},) and a jacobian of shape "
                f"({m}, {d}), got {values.shape} and {J.shape}"
            )
        if hessians is not None:
            hessians = np.asarray(hessians, dtype=np.float64)
            if hessians.shape != (m, d, d):
                raise UserInputError(
                    f"barrier: problem.inequalities(x) hessians must have shape ({m}, {d}, {d}) or be None, "
                    f"got {hessians.shape}"
                )
        return values, J, hessians

    def _settle(
        self, state: BarrierState, x: np.ndarray, f0: float, g0: np.ndarray, H0: np.ndarray,
        cons: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    ) -> BarrierState:
        """Store the evaluation at x, compute the Newton step for t; at a central point record it and raise t."""
        t, outer, inner = state.t, state.outer, state.inner
        m = cons[0].size
        F, dx, lam2 = _newton_system(t, f0, g0, H0, cons)
        row = (t, m / t, float(inner), float(outer), lam2)
        done = False
        while lam2 / 2 <= self.centering_eps:
            dual = -1.0 / (t * cons[0])
            state.central.append(CentralPoint(outer, t, m / t, state.steps, inner, f0, x.copy(), dual))
            if m / t < self.eps:
                done = True
                break
            t, outer, inner = self.mu * t, outer + 1, 0
            F, dx, lam2 = _newton_system(t, f0, g0, H0, cons)
        return state._replace(
            t=t, outer=outer, inner=inner, x=x.copy(), f0=f0, g0=g0, H0=H0, cons=cons, F=F, dx=dx, lam2=lam2,
            row=row, done=done,
        )

    def _backtrack(
        self, problem: Any, oracle: Any, state: BarrierState, x: np.ndarray
    ) -> tuple[float, np.ndarray, float, int]:
        """Backtracking that keeps strict feasibility, then Armijo on t f0 + phi; (s, x_new, f0(x_new), evals)."""
        t, F, dx, lam2 = state.t, state.F, state.dx, state.lam2
        slack = ARMIJO_ROUNDING * abs(F)
        s = 1.0
        for k in range(self.max_backtracks):
            x_new = x + s * dx
            values = np.asarray(problem.inequalities(x_new)[0], dtype=np.float64)
            if np.all(values < 0):
                f0 = oracle.value(x_new)
                if t * f0 - float(np.sum(np.log(-values))) <= F - self.alpha * s * lam2 + slack:
                    return s, x_new, f0, k + 1
            s *= self.beta
        raise LineSearchError(
            f"barrier: no strictly feasible step satisfied the Armijo condition in {self.max_backtracks} "
            f"backtracking trials (t = {t:.3g}, lambda^2 = {lam2:.3g})"
        )
