"""Step-size rules along the negative gradient: Armijo backtracking, the exact step on quadratics, Polyak's step.

Each method is x_{t+1} = x_t - h_t g_t with g_t = grad f(x_t); they differ in how h_t is chosen:

* ``gd_backtracking``    the first h in t0, beta t0, beta^2 t0, ... with f(x - h g) <= f(x) - alpha h ||g||^2
                         (Boyd & Vandenberghe 2004, Algorithm 9.2 inside Algorithm 9.3)
* ``exact_line_search``  h = g'g / g'Qg, the minimiser of f(x - h g) when f is quadratic with Hessian Q
                         (Cauchy 1847; Boyd & Vandenberghe 2004, Sect. 9.3)
* ``polyak``             h = gamma (f(x) - f*) / ||g||^2  (Polyak 1987, Introduction to Optimization, Sect. 5.3)

``lr_used`` is h_t. A rule that cannot produce a step raises :class:`StepSizeError`, which the run loop records
as status ``"error"`` with the message.

A problem declares itself quadratic -- f(x) = 1/2 x'Qx - b'x + c with a constant Hessian Q, available through
``hvp`` -- with the attribute ``is_quadratic = True`` (a class attribute for families that always are, an
instance attribute for those that depend on their parameters, or set by hand on a ``problems.custom`` problem).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from problems import Problem
from problems._validate import check_float, check_int
from problems.errors import UserInputError
from testbed.optimizers.base import Converged, Optimizer, parse_lr, register, resolve_lr
from testbed.optimizers.lecture import EmptyState

__all__ = ["BacktrackingState", "ExactLineSearch", "GDBacktracking", "Polyak", "PolyakState", "StepSizeError"]


class StepSizeError(RuntimeError):
    """The step-size rule cannot produce a step at the current iterate (the message says why)."""


def _step_rule(cls: type[Optimizer]) -> type[Optimizer]:
    """Register ``cls`` under its ``name`` with its ``source`` (kind "lecture": the slide's "exact or backtracking
    line search", with the lecture's other first-order methods)."""
    return register(cls.name, source=cls.source, kind="lecture")(cls)


def _full_batch(name: str, oracle: Any) -> None:
    if oracle.batch is not None:
        raise UserInputError(f"{name}: this step-size rule needs the full objective; run without batch_size")


class BacktrackingState(NamedTuple):
    """f(x_t) when known from the accepted trial of the last step (NaN otherwise), and the trial-point buffer."""

    f: float
    trial: np.ndarray


@_step_rule
class GDBacktracking(Optimizer):
    """Gradient descent with Armijo backtracking (Boyd & Vandenberghe 2004, Algorithms 9.2 and 9.3).

    Each step starts from h = t0 and, while f(x - h g) > f(x) - alpha h ||g||^2, sets h <- beta h; the first h
    that passes is taken. On an L-smooth f every h <= 1/L passes (alpha < 1/2), so the accepted step is at least
    min(t0, beta/L) and f decreases by at least alpha h ||g||^2 per step (B&V Sect. 9.3.1).

    Oracle cost per step: one gradient and one value per trial point; f(x_t) itself is reused from the accepted
    trial of the previous step (full batch), so only the very first step also evaluates f(x_0). With
    ``batch_size`` the test uses minibatch values (a stochastic Armijo search) and f(x_t) is re-evaluated on each
    new batch. A step with more than ``max_backtracks`` reductions raises :class:`StepSizeError` (status "error"):
    the gradient may not match f, f may be nonsmooth there, or f may be at its floating-point resolution.

    ``t0``: initial trial step, a number or ``"c/L"``; ``alpha`` in (0, 0.5); ``beta`` in (0, 1).
    """

    name = "gd_backtracking"
    source = "Boyd & Vandenberghe 2004, Algorithm 9.2 (backtracking line search) in Algorithm 9.3"

    def __init__(self, *, t0: object = 1.0, alpha: float = 0.25, beta: float = 0.5, max_backtracks: int = 100) -> None:
        t0 = parse_lr("t0", t0)
        alpha = check_float("alpha", alpha, low=0.0, high=0.5, low_open=True, high_open=True)
        beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
        max_backtracks = check_int("max_backtracks", max_backtracks, low=1)
        super().__init__(lr=t0)
        self.hparams = {"t0": t0, "alpha": alpha, "beta": beta, "max_backtracks": max_backtracks}
        self.alpha, self.beta, self.max_backtracks = alpha, beta, max_backtracks

    def resolve_lr(self, problem: Problem) -> float | None:
        """t0 for ``problem`` (``"c/L"`` resolved)."""
        return resolve_lr(self.lr, problem, "t0")

    def init(self, x0: np.ndarray, problem: Problem) -> BacktrackingState:
        """f(x_0) is not known yet."""
        return BacktrackingState(f=math.nan, trial=np.empty_like(x0, dtype=np.float64))

    def step(
        self, x: np.ndarray, state: BacktrackingState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, BacktrackingState, float]:
        """Backtrack from h = lr until the Armijo test passes; x <- x - h g."""
        full = oracle.batch is None
        if full and not math.isnan(state.f):
            fx, g = state.f, oracle.grad(x)
        else:
            fx, g = oracle.value_and_grad(x)
        gg = float(np.dot(g, g))
        trial = state.trial
        h = lr
        for _ in range(self.max_backtracks + 1):
            np.multiply(g, -h, out=trial)
            trial += x
            ft = oracle.value(trial)
            if ft <= fx - self.alpha * h * gg:  # NaN/inf trial values (outside dom f) fail and backtrack
                np.copyto(x, trial)
                return x, state._replace(f=ft if full else math.nan), h
            h *= self.beta
        need = self.alpha * (h / self.beta) * gg
        raise StepSizeError(
            f"gd_backtracking: Armijo test still failing after max_backtracks={self.max_backtracks} reductions "
            f"(last h = {h / self.beta:.3g}, f(x) = {fx:.17g}, ||g|| = {math.sqrt(gg):.3g}, required decrease "
            f"{need:.3g} vs float spacing of f {np.spacing(abs(fx)):.3g}): the gradient may not match f, f may be "
            "nonsmooth here, or f is at its floating-point resolution (stop earlier with tol)"
        )


@_step_rule
class ExactLineSearch(Optimizer):
    """Steepest descent with the exact step on a quadratic: h = g'g / g'Qg, x_{t+1} = x_t - h g.

    For f(x) = 1/2 x'Qx - b'x + c, h minimises f(x - h g) exactly (Cauchy 1847). With mu I <= Q <= L I,
    f(x_t) - f* <= (1 - mu/L)^t (f(x_0) - f*) (Boyd & Vandenberghe 2004, (9.18)); Kantorovich's sharper factor
    ((L - mu)/(L + mu))^2 per step is attained from x_0 = (L, mu) on Q = diag(mu, L) (Akaike 1959).

    Needs a problem declaring ``is_quadratic = True`` with a Hessian-vector product. Oracle cost per step: one
    gradient and one hvp, no values. grad f(x) = 0 exactly stops the run (status "converged"); g'Qg <= 0 with
    g != 0 (f unbounded below along -g) raises :class:`StepSizeError`. Full batch only.
    """

    name = "exact_line_search"
    source = "Cauchy 1847; Boyd & Vandenberghe 2004 Sect. 9.3 (exact line search)"

    def __init__(self) -> None:
        super().__init__(lr=None)
        del self.hparams["lr"]

    def init(self, x0: np.ndarray, problem: Problem) -> EmptyState:
        """Check that the problem is a quadratic with a Hessian-vector product."""
        if not getattr(problem, "is_quadratic", False):
            raise UserInputError(
                f"exact_line_search: the closed-form exact step needs a quadratic problem (is_quadratic = True); "
                f"{problem.name} (family {problem.family!r}) is not declared quadratic (use gd_backtracking)"
            )
        if not problem.has_hvp:
            raise UserInputError(f"exact_line_search: {problem.name} provides no Hessian-vector product")
        return EmptyState()

    def step(
        self, x: np.ndarray, state: EmptyState, oracle: Any, lr: float | None
    ) -> tuple[np.ndarray, EmptyState, float]:
        """h = g'g / g'Qg; x <- x - h g."""
        _full_batch(self.name, oracle)
        g = oracle.grad(x)
        gg = float(np.dot(g, g))
        if gg == 0.0:
            raise Converged("exact_line_search: grad f(x) = 0 exactly, x is a minimiser")
        gqg = float(np.dot(g, oracle.hvp(x, g)))
        if not gqg > 0.0:
            raise StepSizeError(
                f"exact_line_search: g'Qg = {gqg:.3g} <= 0 with ||g|| = {math.sqrt(gg):.3g}: f is unbounded below "
                "along -grad f (Q is not positive definite on this direction)"
            )
        h = gg / gqg
        x -= h * g
        return x, state, h


class PolyakState(NamedTuple):
    """The optimal value f* the steps aim at."""

    f_star: float


@_step_rule
class Polyak(Optimizer):
    """Gradient descent with Polyak's step: h_t = gamma (f(x_t) - f*) / ||grad f(x_t)||^2, x_{t+1} = x_t - h_t g_t.

    For convex f and gamma in (0, 2), ||x_{t+1} - x*||^2 <= ||x_t - x*||^2 - gamma (2 - gamma)
    (f(x_t) - f*)^2 / ||g_t||^2 (Polyak 1987, Introduction to Optimization, Sect. 5.3). Needs f*: ``f_star``
    given here, else the problem's certified f_star. Full batch only. Once f(x_t) - f* <= 0 the target is reached
    and the run stops (status "converged"); grad f(x_t) = 0 with f(x_t) > f* (a stationary point that is not a
    minimiser, or a wrong f*) raises :class:`StepSizeError`. One value and one gradient per step.
    """

    name = "polyak"
    source = "Polyak 1987, Introduction to Optimization, Sect. 5.3 (Polyak step size)"

    def __init__(self, *, f_star: float | None = None, gamma: float = 1.0) -> None:
        f_star = check_float("f_star", f_star, allow_none=True)
        gamma = check_float("gamma", gamma, low=0.0, high=2.0, low_open=True, high_open=True)
        super().__init__(lr=None, f_star=f_star, gamma=gamma)
        del self.hparams["lr"]
        self.f_star = f_star
        self.gamma = gamma

    def init(self, x0: np.ndarray, problem: Problem) -> PolyakState:
        """Resolve f* (given, else the problem's)."""
        f_star = self.f_star if self.f_star is not None else problem.f_star
        if f_star is None:
            raise UserInputError(
                f"f_star: polyak needs the optimal value f*; {problem.name} has no known f*, pass f_star=..."
            )
        return PolyakState(f_star=float(f_star))

    def step(
        self, x: np.ndarray, state: PolyakState, oracle: Any, lr: float | None
    ) -> tuple[np.ndarray, PolyakState, float]:
        """x <- x - gamma (f(x) - f*) / ||g||^2 g."""
        _full_batch(self.name, oracle)
        f, g = oracle.value_and_grad(x)
        gap = f - state.f_star
        if gap <= 0.0:
            raise Converged(f"polyak: f(x) - f* = {gap:.3g} <= 0, the target value f* is reached")
        gg = float(np.dot(g, g))
        if gg == 0.0:
            raise StepSizeError(
                f"polyak: grad f(x) = 0 but f(x) - f* = {gap:.3g} > 0 (a stationary point that is not a minimiser, "
                "or a wrong f*): the Polyak step is undefined"
            )
        h = self.gamma * gap / gg
        x -= h * g
        return x, state, h
