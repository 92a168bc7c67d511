"""Adaptive methods without bias correction: ``adagrad``, ``rmsprop``, ``adadelta`` (torch.optim-exact)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from problems import Problem
from problems._validate import check_bool
from testbed.optimizers.base import register
from testbed.optimizers.torch_common import TorchOptimizer, Workspace, check_interval, grad_of, prepare_grad, workspaces

__all__ = ["Adadelta", "AdadeltaState", "Adagrad", "AdagradState", "RMSprop", "RMSpropState"]


def _blocks(x0: np.ndarray, weight_decay: float, maximize: bool) -> tuple[tuple[slice, Workspace], ...]:
    return workspaces(x0.size, work=True, grad_work=weight_decay != 0 or maximize)


class AdagradState(NamedTuple):
    """State of :class:`Adagrad`: the running sum of squared gradients, the step count and blocked workspaces."""

    sum: np.ndarray
    t: int
    blocks: tuple[tuple[slice, Workspace], ...]


@register("adagrad", source="torch.optim.Adagrad", kind="torch")
class Adagrad(TorchOptimizer):
    r"""AdaGrad, exactly as ``torch.optim.Adagrad``.

    Duchi, Hazan & Singer (2011), "Adaptive subgradient methods for online
    learning and stochastic optimization", JMLR 12, the diagonal update of
    Section 1.1 / Figure 1, with torch's step-size decay and ``eps`` outside the root:

    .. math::

        \eta'_t = \frac{\eta_t}{1 + (t - 1)\,\delta}, \qquad
        s_t = s_{t-1} + g_t \odot g_t, \qquad
        x_{t+1} = x_t - \eta'_t \, \frac{g_t}{\sqrt{s_t} + \epsilon},

    :math:`s_0` = ``initial_accumulator_value``, :math:`\delta` = ``lr_decay``,
    :math:`g_t = \nabla f(x_t) + \lambda x_t` (coupled weight decay). The step
    recorded in the history is the decayed :math:`\eta'_t` (torch's ``clr``).
    """

    name = "adagrad"
    source = "torch.optim.Adagrad"

    def __init__(
        self,
        *,
        lr: float | str = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        maximize: bool = False,
        schedule: Any = None,
    ) -> None:
        self.lr_decay = check_interval("lr_decay", lr_decay, 0.0)
        self.weight_decay = check_interval("weight_decay", weight_decay, 0.0)
        self.initial_accumulator_value = check_interval("initial_accumulator_value", initial_accumulator_value, 0.0)
        self.eps = check_interval("eps", eps, 0.0)
        super().__init__(
            lr=lr,
            schedule=schedule,
            lr_decay=self.lr_decay,
            weight_decay=self.weight_decay,
            initial_accumulator_value=self.initial_accumulator_value,
            eps=self.eps,
            maximize=maximize,
        )

    def init(self, x0: np.ndarray, problem: Problem) -> AdagradState:
        """The accumulator starts at ``initial_accumulator_value`` in every coordinate."""
        return AdagradState(
            sum=np.full_like(x0, self.initial_accumulator_value),
            t=0,
            blocks=_blocks(x0, self.weight_decay, self.maximize),
        )

    def step(
        self, x: np.ndarray, state: AdagradState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, AdagradState, float]:
        """One Adagrad step (in place); returns the decayed step size ``clr``."""
        t = state.t + 1
        clr = lr / (1 + (t - 1) * self.lr_decay)
        g_full = grad_of(oracle, x)
        for sl, ws in state.blocks:
            xb, total, ops = x[sl], state.sum[sl], ws.ops
            g = prepare_grad(g_full[sl], xb, self.weight_decay, self.maximize, ws)
            ops.addcmul(total, total, 1.0, g, g)
            std, upd = ws.work, ops.scratch
            np.sqrt(total, out=std)
            std += self.eps
            np.multiply(g, -clr, out=upd)
            upd /= std
            xb += upd
        return x, state._replace(t=t), clr


class RMSpropState(NamedTuple):
    """State of :class:`RMSprop`: squared-gradient average, gradient average (centered), momentum buffer."""

    square_avg: np.ndarray
    grad_avg: np.ndarray | None
    momentum_buffer: np.ndarray | None
    t: int
    blocks: tuple[tuple[slice, Workspace], ...]


@register("rmsprop", source="torch.optim.RMSprop", kind="torch")
class RMSprop(TorchOptimizer):
    r"""RMSprop, exactly as ``torch.optim.RMSprop``.

    Tieleman & Hinton (2012), Coursera "Neural networks for machine learning",
    lecture 6e; the centered variant (divide by an estimate of the standard
    deviation) is Graves (2013), "Generating sequences with recurrent neural
    networks", eq. (38)-(45). With decay :math:`\alpha`, no bias correction,
    ``eps`` outside the root:

    .. math::

        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2, \quad
        \bar g_t = \alpha \bar g_{t-1} + (1 - \alpha) g_t, \quad
        a_t = \sqrt{v_t - [\text{centered}]\, \bar g_t^2} + \epsilon,

    then :math:`x_{t+1} = x_t - \eta_t g_t / a_t` without momentum, or
    :math:`b_t = \mu b_{t-1} + g_t / a_t,\ x_{t+1} = x_t - \eta_t b_t` (``b_0 = 0``).
    """

    name = "rmsprop"
    source = "torch.optim.RMSprop"

    def __init__(
        self,
        *,
        lr: float | str = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        maximize: bool = False,
        schedule: Any = None,
    ) -> None:
        self.alpha = check_interval("alpha", alpha, 0.0, 1.0)
        self.eps = check_interval("eps", eps, 0.0)
        self.weight_decay = check_interval("weight_decay", weight_decay, 0.0)
        self.momentum = check_interval("momentum", momentum, 0.0)
        self.centered = check_bool("centered", centered)
        super().__init__(
            lr=lr,
            schedule=schedule,
            alpha=self.alpha,
            eps=self.eps,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            centered=self.centered,
            maximize=maximize,
        )

    def init(self, x0: np.ndarray, problem: Problem) -> RMSpropState:
        """Averages and momentum buffer start at zero."""
        return RMSpropState(
            square_avg=np.zeros_like(x0),
            grad_avg=np.zeros_like(x0) if self.centered else None,
            momentum_buffer=np.zeros_like(x0) if self.momentum > 0 else None,
            t=0,
            blocks=_blocks(x0, self.weight_decay, self.maximize),
        )

    def step(
        self, x: np.ndarray, state: RMSpropState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, RMSpropState, float]:
        """One RMSprop step (in place)."""
        alpha = self.alpha
        g_full = grad_of(oracle, x)
        for sl, ws in state.blocks:
            xb, v, ops = x[sl], state.square_avg[sl], ws.ops
            g = prepare_grad(g_full[sl], xb, self.weight_decay, self.maximize, ws)
            avg, upd = ws.work, ops.scratch
            v *= alpha
            ops.addcmul(v, v, 1 - alpha, g, g)
            if self.centered:
                gavg = state.grad_avg[sl]
                ops.lerp_(gavg, g, 1 - alpha)
                ops.addcmul(avg, v, -1.0, gavg, gavg)
                np.sqrt(avg, out=avg)
            else:
                np.sqrt(v, out=avg)
            avg += self.eps
            if self.momentum > 0:
                buf = state.momentum_buffer[sl]
                buf *= self.momentum
                np.divide(g, avg, out=upd)
                buf += upd
                ops.axpy(xb, xb, -lr, buf)
            else:
                np.multiply(g, -lr, out=upd)
                upd /= avg
                xb += upd
        return x, state._replace(t=state.t + 1), lr


class AdadeltaState(NamedTuple):
    """State of :class:`Adadelta`: running averages of squared gradients and of squared updates."""

    square_avg: np.ndarray
    acc_delta: np.ndarray
    t: int
    blocks: tuple[tuple[slice, Workspace], ...]


@register("adadelta", source="torch.optim.Adadelta", kind="torch")
class Adadelta(TorchOptimizer):
    r"""Adadelta, exactly as ``torch.optim.Adadelta``.

    Zeiler (2012), "ADADELTA: an adaptive learning rate method",
    arXiv:1212.5701, Algorithm 1, with torch's extra multiplier ``lr``:

    .. math::

        v_t = \rho v_{t-1} + (1 - \rho) g_t^2, \quad
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t, \quad
        u_t = \rho u_{t-1} + (1 - \rho) \Delta_t^2, \quad
        x_{t+1} = x_t - \eta_t \Delta_t .
    """

    name = "adadelta"
    source = "torch.optim.Adadelta"

    def __init__(
        self,
        *,
        lr: float | str = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        maximize: bool = False,
        schedule: Any = None,
    ) -> None:
        self.rho = check_interval("rho", rho, 0.0, 1.0)
        self.eps = check_interval("eps", eps, 0.0)
        self.weight_decay = check_interval("weight_decay", weight_decay, 0.0)
        super().__init__(
            lr=lr, schedule=schedule, rho=self.rho, eps=self.eps, weight_decay=self.weight_decay, maximize=maximize
        )

    def init(self, x0: np.ndarray, problem: Problem) -> AdadeltaState:
        """Both running averages start at zero."""
        return AdadeltaState(
            square_avg=np.zeros_like(x0),
            acc_delta=np.zeros_like(x0),
            t=0,
            blocks=_blocks(x0, self.weight_decay, self.maximize),
        )

    def step(
        self, x: np.ndarray, state: AdadeltaState, oracle: Any, lr: float
    ) -> tuple[np.ndarray, AdadeltaState, float]:
        """One Adadelta step (in place)."""
        rho = self.rho
        g_full = grad_of(oracle, x)
        for sl, ws in state.blocks:
            xb, v, u, ops = x[sl], state.square_avg[sl], state.acc_delta[sl], ws.ops
            g = prepare_grad(g_full[sl], xb, self.weight_decay, self.maximize, ws)
            std, delta = ops.scratch, ws.work
            v *= rho
            ops.addcmul(v, v, 1 - rho, g, g)
            np.add(v, self.eps, out=std)
            np.sqrt(std, out=std)
            np.add(u, self.eps, out=delta)
            np.sqrt(delta, out=delta)
            delta /= std
            delta *= g
            u *= rho
            ops.addcmul(u, u, 1 - rho, delta, delta)
            ops.axpy(xb, xb, -lr, delta)
        return x, state._replace(t=state.t + 1), lr
