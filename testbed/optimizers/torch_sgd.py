"""``sgd``: torch.optim.SGD (gradient descent with heavy-ball or Nesterov momentum), float64-exact."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from problems import Problem
from problems._validate import check_bool
from problems.errors import UserInputError
from testbed.optimizers.base import register
from testbed.optimizers.torch_common import TorchOptimizer, Workspace, check_interval, grad_of, prepare_grad, workspaces

__all__ = ["SGD", "SGDState"]


class SGDState(NamedTuple):
    """State of :class:`SGD`: the momentum buffer (None without momentum), the step count, blocked workspaces."""

    momentum_buffer: np.ndarray | None
    t: int
    blocks: tuple[tuple[slice, Workspace], ...]


@register("sgd", source="torch.optim.SGD", kind="torch")
class SGD(TorchOptimizer):
    r"""Stochastic gradient descent with optional momentum, exactly as ``torch.optim.SGD``.

    With :math:`g_t = \nabla f(x_t) + \lambda x_t` (coupled weight decay
    :math:`\lambda`, gradient negated first if ``maximize``):

    .. math::

        b_1 = g_1, \qquad b_t = \mu b_{t-1} + (1 - \tau) g_t \quad (t > 1), \qquad
        x_{t+1} = x_t - \eta_t \, d_t, \quad
        d_t = \begin{cases} g_t & \mu = 0 \\ b_t & \text{heavy ball} \\ g_t + \mu b_t & \text{Nesterov} \end{cases}

    with momentum :math:`\mu`, dampening :math:`\tau` (not applied on the first
    step: torch's quirk). The heavy-ball form is Polyak (1964), "Some methods of
    speeding up the convergence of iteration methods", written as in Sutskever,
    Martens, Dahl & Hinton (2013), "On the importance of initialization and
    momentum in deep learning", eq. (1)-(2); the Nesterov form is their eq. (3)-(4)
    rewritten for the look-ahead point (Nesterov 1983). Momentum 0 is plain
    gradient descent.
    """

    name = "sgd"
    source = "torch.optim.SGD"

    def __init__(
        self,
        *,
        lr: float | str = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        maximize: bool = False,
        schedule: Any = None,
    ) -> None:
        momentum = check_interval("momentum", momentum, 0.0)
        dampening = check_interval("dampening", dampening, 0.0, 1.0)
        weight_decay = check_interval("weight_decay", weight_decay, 0.0)
        nesterov = check_bool("nesterov", nesterov)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise UserInputError(
                f"nesterov: needs momentum > 0 and dampening = 0, got momentum={momentum:g}, dampening={dampening:g}"
            )
        super().__init__(
            lr=lr,
            schedule=schedule,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov

    def init(self, x0: np.ndarray, problem: Problem) -> SGDState:
        """Zero buffers shaped like ``x0``; the momentum buffer is filled with the first gradient."""
        return SGDState(
            momentum_buffer=np.zeros_like(x0) if self.momentum != 0 else None,
            t=0,
            blocks=workspaces(x0.size, work=self.nesterov, grad_work=self.weight_decay != 0 or self.maximize),
        )

    def step(self, x: np.ndarray, state: SGDState, oracle: Any, lr: float) -> tuple[np.ndarray, SGDState, float]:
        """One SGD step (in place on ``x`` and the state's buffers)."""
        g_full = grad_of(oracle, x)
        mu, first = self.momentum, state.t == 0
        for sl, ws in state.blocks:
            xb, ops = x[sl], ws.ops
            g = prepare_grad(g_full[sl], xb, self.weight_decay, self.maximize, ws)
            d = g
            if mu != 0:
                buf = state.momentum_buffer[sl]
                if first:
                    np.copyto(buf, g)
                else:
                    buf *= mu
                    ops.axpy(buf, buf, 1 - self.dampening, g)
                if self.nesterov:
                    ops.axpy(ws.work, g, mu, buf)
                    d = ws.work
                else:
                    d = buf
            ops.axpy(xb, xb, -lr, d)
        return x, state._replace(t=state.t + 1), lr
