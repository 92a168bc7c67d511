"""The Adam family with bias-corrected moments: ``adam``, ``adamw``, ``nadam``, ``radam`` (torch.optim-exact)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from problems import Problem
from problems._validate import check_bool
from testbed.optimizers.base import register
from testbed.optimizers.torch_common import (
    TorchOptimizer,
    Workspace,
    check_betas,
    check_interval,
    grad_of,
    prepare_grad,
    workspaces,
)

__all__ = ["Adam", "AdamState", "AdamW", "NAdam", "NAdamState", "RAdam", "RAdamState"]


class _Moments(TorchOptimizer):
    """Shared set-up of the Adam family: betas, eps, weight decay (coupled or decoupled) and the gradient step."""

    def _setup(
        self,
        lr: object,
        betas: object,
        eps: object,
        weight_decay: object,
        maximize: bool,
        decoupled: object,
        schedule: Any,
        *,
        show_decoupled: bool = True,
        **extra: Any,
    ) -> None:
        """Validate and record the shared hyperparameters (``show_decoupled=False``: flag kept out of hparams)."""
        self.betas = check_betas(betas)
        self.eps = check_interval("eps", eps, 0.0)
        self.weight_decay = check_interval("weight_decay", weight_decay, 0.0)
        self.decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled)
        if show_decoupled:
            extra["decoupled_weight_decay"] = self.decoupled_weight_decay
        super().__init__(
            lr=lr, schedule=schedule, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay,
            maximize=maximize, **extra,
        )

    def _grad(self, xb: np.ndarray, gb: np.ndarray, lr: float, ws: Workspace) -> np.ndarray:
        """Weight decay on one block: decoupled ``x <- x (1 - lr wd)`` (Loshchilov & Hutter) or coupled L2."""
        wd = self.weight_decay
        if wd != 0 and self.decoupled_weight_decay:
            xb *= 1 - lr * wd
            wd = 0.0
        return prepare_grad(gb, xb, wd, self.maximize, ws)

    def _moments(self, m: np.ndarray, v: np.ndarray, g: np.ndarray, ops: Any) -> None:
        """m <- lerp(m, g, 1 - beta1); v <- beta2 v + (1 - beta2) g^2, with torch's roundings."""
        beta1, beta2 = self.betas
        ops.lerp_(m, g, 1 - beta1)
        v *= beta2
        ops.addcmul(v, v, 1 - beta2, g, g)

    def _blocks(self, x0: np.ndarray) -> tuple[tuple[slice, Workspace], ...]:
        coupled = self.weight_decay != 0 and not self.decoupled_weight_decay
        return workspaces(x0.size, work=True, grad_work=coupled or self.maximize)


class AdamState(NamedTuple):
    """State of :class:`Adam`/:class:`AdamW`: first and second moments, their running max (amsgrad), step count."""

    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    max_exp_avg_sq: np.ndarray | None
    t: int
    blocks: tuple[tuple[slice, Workspace], ...]


@register("adam", source="torch.optim.Adam", kind="torch")
class Adam(_Moments):
    r"""Adam (and AMSGrad), exactly as ``torch.optim.Adam``.

    Kingma & Ba (2015), "Adam: a method for stochastic optimization", ICLR,
    Algorithm 1, with ``eps`` added after the bias correction of the root:

    .. math::

        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
        x_{t+1} = x_t - \frac{\eta_t}{1 - \beta_1^t} \,
        \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon},

    :math:`\hat v_t = v_t`, or :math:`\max_{s \le t} v_s` with ``amsgrad``
    (Reddi, Kale & Kumar (2018), "On the convergence of Adam and beyond", ICLR,
    Algorithm 2, on the uncorrected v). ``weight_decay`` is coupled L2
    (:math:`g_t \leftarrow g_t + \lambda x_t`) unless ``decoupled_weight_decay``,
    which first shrinks :math:`x_t \leftarrow (1 - \eta_t \lambda) x_t` (AdamW).
    """

    name = "adam"
    source = "torch.optim.Adam"

    def __init__(
        self,
        *,
        lr: float | str = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        schedule: Any = None,
    ) -> None:
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self._setup(
            lr, betas, eps, weight_decay, maximize, decoupled_weight_decay, schedule,
            amsgrad=self.amsgrad,
        )

    def init(self, x0: np.ndarray, problem: Problem) -> AdamState:
        """Moments start at zero."""
        return AdamState(
            exp_avg=np.zeros_like(x0),
            exp_avg_sq=np.zeros_like(x0),
            max_exp_avg_sq=np.zeros_like(x0) if self.amsgrad else None,
            t=0,
            blocks=self._blocks(x0),
        )

    def step(self, x: np.ndarray, state: AdamState, oracle: Any, lr: float) -> tuple[np.ndarray, AdamState, float]:
        """One Adam step (in place)."""
        t = state.t + 1
        beta1, beta2 = self.betas
        step = float(t)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        g_full = grad_of(oracle, x)
        for sl, ws in state.blocks:
            xb, m, v = x[sl], state.exp_avg[sl], state.exp_avg_sq[sl]
            g = self._grad(xb, g_full[sl], lr, ws)
            self._moments(m, v, g, ws.ops)
            if self.amsgrad:
                vmax = state.max_exp_avg_sq[sl]
                np.maximum(vmax, v, out=vmax)
                v = vmax
            denom, upd = ws.work, ws.ops.scratch
            np.sqrt(v, out=denom)
            denom /= bias_correction2_sqrt
            denom += self.eps
            np.multiply(m, -step_size, out=upd)
            upd /= denom
            xb += upd
        return x, state._replace(t=t), lr


@register("adamw", source="torch.optim.AdamW", kind="torch")
class AdamW(Adam):
    r"""AdamW, exactly as ``torch.optim.AdamW``: :class:`Adam` with decoupled weight decay (default 1e-2).

    Loshchilov & Hutter (2019), "Decoupled weight decay regularization", ICLR,
    Algorithm 2 with schedule multiplier :math:`\eta_t` folded into the decay:
    :math:`x_t \leftarrow (1 - \eta_t \lambda)\, x_t`, then the Adam step with the
    gradient taken at the un-decayed :math:`x_t`.
    """

    name = "adamw"
    source = "torch.optim.AdamW"

    def __init__(
        self,
        *,
        lr: float | str = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
        schedule: Any = None,
    ) -> None:
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self._setup(lr, betas, eps, weight_decay, maximize, True, schedule, show_decoupled=False, amsgrad=self.amsgrad)


class NAdamState(NamedTuple):
    """State of :class:`NAdam`: moments, the product of the momentum schedule mu_1 ... mu_t, step count."""

    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    mu_product: float
    t: int
    blocks: tuple[tuple[slice, Workspace], ...]


@register("nadam", source="torch.optim.NAdam", kind="torch")
class NAdam(_Moments):
    r"""NAdam, exactly as ``torch.optim.NAdam``.

    Dozat (2016), "Incorporating Nesterov momentum into Adam", ICLR workshop,
    Algorithm 2, with the momentum schedule
    :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t \psi})` (:math:`\psi` = ``momentum_decay``):

    .. math::

        x_{t+1} = x_t - \eta_t \frac{1 - \mu_t}{1 - \prod_{i \le t} \mu_i} \frac{g_t}{d_t}
                      - \eta_t \frac{\mu_{t+1}}{1 - \prod_{i \le t+1} \mu_i} \frac{m_t}{d_t},
        \qquad d_t = \sqrt{v_t / (1 - \beta_2^t)} + \epsilon,

    with m, v the moments of :class:`Adam`. ``decoupled_weight_decay`` gives NAdamW.
    """

    name = "nadam"
    source = "torch.optim.NAdam"

    def __init__(
        self,
        *,
        lr: float | str = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        schedule: Any = None,
    ) -> None:
        self.momentum_decay = check_interval("momentum_decay", momentum_decay, 0.0)
        self._setup(
            lr, betas, eps, weight_decay, maximize, decoupled_weight_decay, schedule,
            momentum_decay=self.momentum_decay,
        )

    def init(self, x0: np.ndarray, problem: Problem) -> NAdamState:
        """Moments start at zero, the momentum product at 1."""
        return NAdamState(
            exp_avg=np.zeros_like(x0),
            exp_avg_sq=np.zeros_like(x0),
            mu_product=1.0,
            t=0,
            blocks=self._blocks(x0),
        )

    def step(self, x: np.ndarray, state: NAdamState, oracle: Any, lr: float) -> tuple[np.ndarray, NAdamState, float]:
        """One NAdam step (in place)."""
        t = state.t + 1
        step = float(t)
        beta1, beta2 = self.betas
        bias_correction2 = 1 - beta2**step
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * self.momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * self.momentum_decay)))
        mu_product = state.mu_product * mu
        mu_product_next = mu_product * mu_next
        grad_coef = -lr * (1.0 - mu) / (1.0 - mu_product)
        momentum_coef = (-lr * mu_next) / (1.0 - mu_product_next)
        g_full = grad_of(oracle, x)
        for sl, ws in state.blocks:
            xb, m, v = x[sl], state.exp_avg[sl], state.exp_avg_sq[sl]
            g = self._grad(xb, g_full[sl], lr, ws)
            self._moments(m, v, g, ws.ops)
            denom, upd = ws.work, ws.ops.scratch
            np.divide(v, bias_correction2, out=denom)
            np.sqrt(denom, out=denom)
            denom += self.eps
            np.multiply(g, grad_coef, out=upd)
            upd /= denom
            xb += upd
            np.multiply(m, momentum_coef, out=upd)
            upd /= denom
            xb += upd
        return x, state._replace(t=t, mu_product=mu_product), lr


class RAdamState(NamedTuple):
    """State of :class:`RAdam`: first and second moments and the step count."""

    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    t: int
    blocks: tuple[tuple[slice, Workspace], ...]


@register("radam", source="torch.optim.RAdam", kind="torch")
class RAdam(_Moments):
    r"""Rectified Adam, exactly as ``torch.optim.RAdam``.

    Liu, Jiang, He, Chen, Liu, Gao & Han (2020), "On the variance of the
    adaptive learning rate and beyond", ICLR, Algorithm 2. With
    :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_t = \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t)`:

    .. math::

        x_{t+1} = x_t - \eta_t \hat m_t \cdot
        \begin{cases}
            r_t \dfrac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon} & \rho_t > 5, \quad
            r_t = \sqrt{\dfrac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}} \\
            1 & \rho_t \le 5 \quad \text{(un-normalised momentum step)}
        \end{cases}

    :math:`\hat m_t = m_t / (1 - \beta_1^t)`. ``decoupled_weight_decay`` gives RAdamW.
    """

    name = "radam"
    source = "torch.optim.RAdam"

    def __init__(
        self,
        *,
        lr: float | str = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        schedule: Any = None,
    ) -> None:
        self._setup(lr, betas, eps, weight_decay, maximize, decoupled_weight_decay, schedule)

    def init(self, x0: np.ndarray, problem: Problem) -> RAdamState:
        """Moments start at zero."""
        return RAdamState(
            exp_avg=np.zeros_like(x0),
            exp_avg_sq=np.zeros_like(x0),
            t=0,
            blocks=self._blocks(x0),
        )

    def step(self, x: np.ndarray, state: RAdamState, oracle: Any, lr: float) -> tuple[np.ndarray, RAdamState, float]:
        """One RAdam step (in place)."""
        t = state.t + 1
        step = float(t)
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        rectified = rho_t > 5.0
        if rectified:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        g_full = grad_of(oracle, x)
        for sl, ws in state.blocks:
            xb, m, v = x[sl], state.exp_avg[sl], state.exp_avg_sq[sl]
            g = self._grad(xb, g_full[sl], lr, ws)
            self._moments(m, v, g, ws.ops)
            upd, adaptive = ws.work, ws.ops.scratch
            np.divide(m, bias_correction1, out=upd)
            upd *= lr
            if rectified:
                np.sqrt(v, out=adaptive)
                adaptive += self.eps
                # torch evaluates float / tensor as tensor.reciprocal() * float
                np.reciprocal(adaptive, out=adaptive)
                adaptive *= bias_correction2**0.5
                upd *= adaptive
                upd *= rect
            xb -= upd
        return x, state._replace(t=t), lr
