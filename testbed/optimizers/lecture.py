"""The lecture's first-order methods (lecture 8, "Gradients and optimizers") and their classical siblings.

Each class is one update rule written as its source writes it, with g_t = grad f(x_t) (the minibatch gradient
for stochastic runs) and eta = the step size the run loop passes (the base ``lr``, or the schedule's value):

* ``gd``               x_{t+1} = x_t - eta g_t                                   (Cauchy 1847)
* ``heavy_ball``       v_{t+1} = lambda v_t - eta g_t,  x_{t+1} = x_t + v_{t+1},  v_0 = 0   (Polyak 1964)
* ``nesterov``         accelerated gradient, FISTA's t_k form or constant momentum (Nesterov 1983, 2004)
* ``adagrad_lecture``  x_{t+1} = x_t - eta g_t / sqrt(sum_{i<=t} g_i^2), per coordinate    (Duchi et al. 2011)
* ``rmsprop_lecture``  sigma_0 = |g_0|, sigma_t^2 = alpha sigma_{t-1}^2 + (1 - alpha) g_t^2,
                       x_{t+1} = x_t - eta g_t / sigma_t                      (Tieleman & Hinton 2012)
* ``projected_gd``     x_{t+1} = P_C(x_t - eta g_t)                             (Goldstein 1964; Levitin & Polyak 1966)

States are NamedTuples (optax style); their arrays are updated in place. ``lr_used`` is the step size eta taken
(for the per-coordinate methods, the eta that multiplies the coordinate-wise scaled gradient). Polyak's step
size lives with the other step-size rules in :mod:`testbed.optimizers.line_search`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from problems import Problem
from problems._validate import check_choice, check_float
from problems.errors import UserInputError
from testbed.optimizers.base import LR, Optimizer, parse_lr, register

__all__ = [
    "GD",
    "AdaGradLecture",
    "EmptyState",
    "HeavyBall",
    "Nesterov",
    "ProjectedGD",
    "RMSpropLecture",
]


class EmptyState(NamedTuple):
    """State of a method that keeps nothing between steps."""


def _lecture(cls: type[Optimizer]) -> type[Optimizer]:
    """Register ``cls`` under its ``name`` with its ``source``, as a lecture method."""
    return register(cls.name, source=cls.source, kind="lecture")(cls)


def _required_lr(value: object) -> float | LR:
    """A step size that must be given (a number > 0 or ``"c/L"``)."""
    return parse_lr("lr", value)


def _scaled_step(g: np.ndarray, sigma: np.ndarray, eps: float) -> np.ndarray:
    """g / (sigma + eps) into ``sigma``'s buffer, with 0/0 := 0 (a coordinate whose scale is 0 does not move).

    With eps = 0 the scale sigma_i is 0 only when every gradient seen in coordinate i was 0 (or underflowed when
    squared), so the only undefined quotient is 0/0; it is set to 0 rather than NaN.
    """
    if eps:
        sigma += eps
    np.divide(g, sigma, out=sigma, where=sigma > 0.0)
    return sigma


@_lecture
class GD(Optimizer):
    """Gradient descent with a fixed step: x_{t+1} = x_t - eta grad f(x_t).

    On an L-smooth f with eta = 1/L, f(x_{t+1}) <= f(x_t) - ||grad f(x_t)||^2 / (2L) (the lecture's descent lemma;
    Nesterov 2004, Sect. 1.2.3); if f is also convex, f(x_t) - f* <= 2L ||x_0 - x*||^2 / (t + 4) (Nesterov 2004,
    Cor. 2.1.2). One gradient per step, no function values.
    """

    name = "gd"
    source = "Cauchy 1847; lecture 8 (fixed step 1/L), Nesterov 2004 Cor. 2.1.2"

    def __init__(self, *, lr: object = "1/L", schedule: Any = None) -> None:
        super().__init__(lr=_required_lr(lr), schedule=schedule)

    def init(self, x0: np.ndarray, problem: Problem) -> EmptyState:
        """GD keeps no state."""
        return EmptyState()

    def step(self, x: np.ndarray, state: EmptyState, oracle: Any, lr: float) -> tuple[np.ndarray, EmptyState, float]:
        """x <- x - lr grad f(x), in place."""
        g = oracle.grad(x)
        x -= lr * g
        return x, state, lr


class HeavyBallState(NamedTuple):
    """The movement v_t (v_0 = 0)."""

    v: np.ndarray


@_lecture
class HeavyBall(Optimizer):
    """Heavy-ball momentum in the lecture's form: v_{t+1} = lambda v_t - eta grad f(x_t), x_{t+1} = x_t + v_{t+1}.

    v_0 = 0, so x_1 = x_0 - eta grad f(x_0) and v_t = -eta sum_{i<t} lambda^{t-1-i} grad f(x_i) (the lecture's
    "weighted sum of all the previous gradients"). Polyak (1964) shows local linear convergence at rate
    (sqrt(kappa) - 1)/(sqrt(kappa) + 1) with eta = 4/(sqrt(L) + sqrt(mu))^2, lambda = rate^2 on strongly convex
    quadratics. ``lr`` is eta, ``momentum`` is lambda in [0, 1).
    """

    name = "heavy_ball"
    source = "Polyak 1964 (USSR Comput. Math. Math. Phys. 4(5)); lecture 8 momentum slides"

    def __init__(self, *, lr: object = "1/L", momentum: float = 0.9, schedule: Any = None) -> None:
        momentum = check_float("momentum", momentum, low=0.0, high=1.0, high_open=True)
        super().__init__(lr=_required_lr(lr), schedule=schedule, momentum=momentum)
        self.momentum = momentum

    def init(self, x0: np.ndarray, problem: Problem) -> HeavyBallState:
        """v_0 = 0."""
        return HeavyBallState(v=np.zeros_like(x0, dtype=np.float64))

    def step(
        self, x: np.ndarray, state: HeavyBallState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, HeavyBallState, float]:
        """v <- lambda v - lr grad f(x); x <- x + v (both in place)."""
        g = oracle.grad(x)
        v = state.v
        v *= self.momentum
        v -= lr * g
        x += v
        return x, state, lr


class NesterovState(NamedTuple):
    """x_{k-1} (the previous iterate), a buffer for y, t_k and t_{k+1} (convex variant), the constant momentum
    (strongly convex variant, else None) and the step counter k."""

    x_prev: np.ndarray
    y: np.ndarray
    t: float
    t_next: float
    momentum: float | None
    k: int


@_lecture
class Nesterov(Optimizer):
    """Nesterov's accelerated gradient: y_{k+1} = x_k + beta_k (x_k - x_{k-1}), x_{k+1} = y_{k+1} - eta grad f(y_{k+1}).

    ``variant="convex"`` is FISTA without the proximal term (Beck & Teboulle 2009, SIAM J. Imaging Sci. 2(1),
    Sect. 4; Nesterov 1983), written with k = 0, 1, ... counting the gradient steps taken:

        t_1 = 1,  t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,
        beta_0 = 0 (y_1 = x_0),  beta_k = (t_k - 1) / t_{k+1} for k >= 1   (so beta_1 = 0 too, beta_2 = 0.2818...),
        x_{k+1} = y_{k+1} - (1/L) grad f(y_{k+1}).

    The history's x_t is FISTA's x_t, so for convex L-smooth f and eta = 1/L, Beck & Teboulle's Theorem 4.4 gives
    f(x_t) - f* <= 2L ||x_0 - x*||^2 / (t + 1)^2 for every t >= 0.

    ``variant="strongly_convex"`` uses the constant momentum beta = (sqrt(L) - sqrt(mu)) / (sqrt(L) + sqrt(mu))
    (Nesterov 2004, Sect. 2.2.1, constant step scheme III) with x_{-1} = x_0, which for eta = 1/L satisfies
    f(x_t) - f* <= (1 - sqrt(mu/L))^t (f(x_0) - f* + mu/2 ||x_0 - x*||^2) (ibid., the estimate-sequence rate with
    gamma_0 = mu).
    It needs mu > 0 and L from the problem, or an explicit ``momentum``. One gradient per step, taken at y.
    The extra column ``momentum`` is beta for the step from x_t.
    """

    name = "nesterov"
    source = "Nesterov 1983; Beck & Teboulle 2009 (FISTA, Thm 4.4); Nesterov 2004 Sect. 2.2.1 (strongly convex)"
    extra_columns = ("momentum",)

    def __init__(
        self, *, lr: object = "1/L", variant: str = "convex", momentum: float | None = None, schedule: Any = None
    ) -> None:
        variant = check_choice("variant", variant, ("convex", "strongly_convex"))
        if momentum is not None:
            if variant != "strongly_convex":
                raise UserInputError(
                    "momentum: only used with variant='strongly_convex' (the convex variant's momentum is "
                    f"(t_k - 1)/t_(k+1)), got momentum={momentum!r} with variant={variant!r}"
                )
            momentum = check_float("momentum", momentum, low=0.0, high=1.0, high_open=True)
        super().__init__(lr=_required_lr(lr), schedule=schedule, variant=variant, momentum=momentum)
        self.variant = variant
        self.momentum = momentum

    def init(self, x0: np.ndarray, problem: Problem) -> NesterovState:
        """x_{-1} = x_0; (t_0, t_1) = (1, 1), so beta_0 = 0; the constant momentum from (L, mu) if strongly convex."""
        beta = None
        if self.variant == "strongly_convex":
            beta = self.momentum
            if beta is None:
                L, mu = problem.L, problem.mu
                if L is None or mu is None or not mu > 0:
                    raise UserInputError(
                        f"nesterov: variant='strongly_convex' needs mu > 0 and L from the problem, or an explicit "
                        f"momentum in [0, 1); {problem.name} has L={L}, mu={mu}"
                    )
                beta = (math.sqrt(L) - math.sqrt(mu)) / (math.sqrt(L) + math.sqrt(mu))
        x0 = np.asarray(x0, dtype=np.float64)
        return NesterovState(x_prev=x0.copy(), y=np.empty_like(x0), t=1.0, t_next=1.0, momentum=beta, k=0)

    @staticmethod
    def _beta(state: NesterovState) -> float:
        """beta_k: the constant momentum, or (t_k - 1)/t_{k+1} (state holds t_0 := 1, t_1 = 1 at k = 0: beta_0 = 0)."""
        if state.momentum is not None:
            return state.momentum
        return (state.t - 1.0) / state.t_next

    def step(
        self, x: np.ndarray, state: NesterovState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, NesterovState, float]:
        """y = x + beta (x - x_prev); x_prev <- x; x <- y - lr grad f(y); (t_k, t_{k+1}) <- (t_{k+1}, t_{k+2})."""
        beta = self._beta(state)
        x_prev = state.x_prev
        if state.k == 0 or beta == 0.0:  # y = x exactly: ask at x itself (the loop's evaluation is reused)
            g = oracle.grad(x)
            np.copyto(x_prev, x)
            x -= lr * g
        else:
            y = state.y
            np.subtract(x, x_prev, out=y)
            y *= beta
            y += x
            g = oracle.grad(y)
            np.copyto(x_prev, x)
            np.subtract(y, lr * g, out=x)
        t, t_next = state.t, state.t_next
        if state.momentum is None:
            t, t_next = t_next, (1.0 + math.sqrt(1.0 + 4.0 * t_next * t_next)) / 2.0
        return x, state._replace(t=t, t_next=t_next, k=state.k + 1), lr

    def extras(self, state: NesterovState) -> tuple[float, ...]:
        """The momentum beta_k of the step from the current iterate."""
        return (self._beta(state),)


class AdaGradState(NamedTuple):
    """G_t = sum_{i<=t} g_i^2 per coordinate, and a scratch buffer."""

    sum_sq: np.ndarray
    scratch: np.ndarray


@_lecture
class AdaGradLecture(Optimizer):
    """AdaGrad exactly as the lecture writes it: w_{t+1} = w_t - eta / sqrt(sum_{i=0}^t (g^i)^2) g^t, per coordinate.

    No epsilon and no learning-rate decay by default (torch's ``adagrad`` adds eps = 1e-10 outside the root and
    lr_decay). With ``eps > 0`` the divisor is sqrt(G_t) + eps. With eps = 0, a coordinate whose accumulated
    squared gradient is 0 (every gradient so far was exactly 0 there) would be 0/0: it does not move. The first
    step moves every coordinate with g_0 != 0 by exactly eta (g_0 / |g_0|). Source: Duchi, Hazan & Singer 2011
    (JMLR 12), diagonal version; the lecture's slide: g = 0.1, 0.2 gives eta/0.1 then eta/0.22.
    """

    name = "adagrad_lecture"
    source = "Duchi, Hazan & Singer 2011 (JMLR 12), diagonal; lecture 8 AdaGrad slide"

    def __init__(self, *, lr: object = 0.01, eps: float = 0.0, schedule: Any = None) -> None:
        eps = check_float("eps", eps, low=0.0)
        super().__init__(lr=_required_lr(lr), schedule=schedule, eps=eps)
        self.eps = eps

    def init(self, x0: np.ndarray, problem: Problem) -> AdaGradState:
        """G_{-1} = 0."""
        return AdaGradState(sum_sq=np.zeros_like(x0, dtype=np.float64), scratch=np.empty_like(x0, dtype=np.float64))

    def step(
        self, x: np.ndarray, state: AdaGradState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, AdaGradState, float]:
        """G += g^2; x -= lr g / (sqrt(G) + eps) (0/0 := 0)."""
        g = oracle.grad(x)
        G = state.sum_sq
        G += g * g
        d = np.sqrt(G, out=state.scratch)
        d = _scaled_step(g, d, self.eps)
        d *= lr
        x -= d
        return x, state, lr


class RMSpropState(NamedTuple):
    """sigma_{t-1}^2 per coordinate, a scratch buffer, and the step counter."""

    sigma_sq: np.ndarray
    scratch: np.ndarray
    k: int


@_lecture
class RMSpropLecture(Optimizer):
    """RMSProp as the lecture writes it: sigma^0 = |g^0|, sigma^t = sqrt(alpha (sigma^{t-1})^2 + (1 - alpha)(g^t)^2),
    w^{t+1} = w^t - eta / sigma^t g^t.

    Unlike torch's ``rmsprop`` (running average started at 0, so its first step is lr / sqrt(1 - alpha) per
    coordinate), the average starts at the first squared gradient, so the first step is eta g_0 / |g_0|.
    ``alpha`` in [0, 1) (alpha = 0 is sign descent); eps as in ``adagrad_lecture`` (divisor sigma + eps, 0/0 := 0).
    Source: Tieleman & Hinton 2012, Coursera "Neural Networks for Machine Learning" lecture 6.5.
    """

    name = "rmsprop_lecture"
    source = "Tieleman & Hinton 2012 (Coursera lecture 6.5); lecture 8 RMSProp slide (sigma_0 = |g_0|)"

    def __init__(self, *, lr: object = 0.01, alpha: float = 0.9, eps: float = 0.0, schedule: Any = None) -> None:
        alpha = check_float("alpha", alpha, low=0.0, high=1.0, high_open=True)
        eps = check_float("eps", eps, low=0.0)
        super().__init__(lr=_required_lr(lr), schedule=schedule, alpha=alpha, eps=eps)
        self.alpha = alpha
        self.eps = eps

    def init(self, x0: np.ndarray, problem: Problem) -> RMSpropState:
        """Nothing averaged yet (sigma_0 comes from the first gradient)."""
        z = np.zeros_like(x0, dtype=np.float64)
        return RMSpropState(sigma_sq=z, scratch=np.empty_like(z), k=0)

    def step(
        self, x: np.ndarray, state: RMSpropState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, RMSpropState, float]:
        """sigma^2 <- g^2 (first step) or alpha sigma^2 + (1 - alpha) g^2; x -= lr g / (sigma + eps)."""
        g = oracle.grad(x)
        s = state.sigma_sq
        if state.k == 0:
            np.multiply(g, g, out=s)
        else:
            s *= self.alpha
            s += (1.0 - self.alpha) * (g * g)
        d = np.sqrt(s, out=state.scratch)
        d = _scaled_step(g, d, self.eps)
        d *= lr
        x -= d
        return x, state._replace(k=state.k + 1), lr


@_lecture
class ProjectedGD(Optimizer):
    """Projected gradient descent: x_{t+1} = P_C(x_t - eta grad f(x_t)), P_C = ``problem.project``.

    For convex L-smooth f on a closed convex C with eta = 1/L, f(x_t) - f* <= L ||x_0 - x*||^2 / (2t)
    (Beck 2017, First-Order Methods in Optimization, Thm 10.21). Every iterate after the first step is feasible
    (x_0 itself need not be). Goldstein 1964; Levitin & Polyak 1966. Needs a problem with ``project``.
    """

    name = "projected_gd"
    source = "Goldstein 1964; Levitin & Polyak 1966; Beck 2017 Thm 10.21"

    def __init__(self, *, lr: object = "1/L", schedule: Any = None) -> None:
        super().__init__(lr=_required_lr(lr), schedule=schedule)

    def init(self, x0: np.ndarray, problem: Problem) -> EmptyState:
        """Check that the problem has a projection."""
        if not callable(getattr(problem, "project", None)):
            raise UserInputError(
                f"projected_gd: needs a constrained problem with a projection problem.project(x); "
                f"{problem.name} has none (use gd for unconstrained problems)"
            )
        return EmptyState()

    def step(self, x: np.ndarray, state: EmptyState, oracle: Any, lr: float) -> tuple[np.ndarray, EmptyState, float]:
        """x <- P(x - lr grad f(x))."""
        g = oracle.grad(x)
        x[:] = oracle.problem.project(x - lr * g)
        return x, state, lr
