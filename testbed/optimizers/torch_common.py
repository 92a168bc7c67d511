"""Pieces shared by the ``torch.optim``-exact optimizers: base class, hyperparameter checks, blocked workspaces.

The optimizers reproduce torch's *order* of floating-point operations (torch
2.13, single-tensor CPU path ``_single_tensor_<name>``) with numpy ufuncs
writing into buffers preallocated by ``init``; torch's fused primitives
(``add`` with ``alpha``, ``addcmul``, ``lerp``) come from
:mod:`testbed.optimizers.torch_kernels`.

Every update is elementwise, so a step walks the vector in blocks of at most
:data:`BLOCK_SIZE` entries and applies the whole update to one block before the
next: the block's slices of x, the gradient, the state and the work buffers
stay in the CPU cache, instead of every one of the ~13 operations of an Adam
step streaming all of memory. Results are identical to the unblocked
computation (no operation mixes entries); work buffers only need one block.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from problems._validate import check_bool, check_float
from problems.errors import UserInputError
from testbed.optimizers.base import Optimizer, parse_lr
from testbed.optimizers.torch_kernels import FusedOps, PlainOps, make_ops

Ops = FusedOps | PlainOps

#: Entries per block of the blocked update (256 KiB per float64 array).
BLOCK_SIZE = 1 << 15

__all__ = [
    "BLOCK_SIZE",
    "Ops",
    "TorchOptimizer",
    "Workspace",
    "check_betas",
    "check_interval",
    "grad_of",
    "prepare_grad",
    "workspaces",
]


def _fmt(v: float) -> str:
    return f"{v:g}"


def check_interval(
    name: str,
    value: object,
    low: float,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float in the interval, else a :class:`UserInputError` naming ``name`` and it.

    ``high=None`` means no upper bound; ``low_open``/``high_open`` make a bound strict.
    """
    v = check_float(name, value)
    if high is None:
        allowed = f"{'>' if low_open else '>='} {_fmt(low)}"
        ok = v > low if low_open else v >= low
    else:
        allowed = f"in {'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise UserInputError(f"{name}: must be {allowed}, got {_fmt(v)}")
    return v


def check_betas(value: object) -> tuple[float, float]:
    """``betas``: a pair ``(beta1, beta2)`` with each coefficient in [0, 1); returned as a tuple of floats."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise UserInputError(f"betas: must be a pair (beta1, beta2) with each in [0, 1), got {value!r}")
    b1 = check_interval("betas[0]", value[0], 0.0, 1.0, high_open=True)
    b2 = check_interval("betas[1]", value[1], 0.0, 1.0, high_open=True)
    return (b1, b2)


class TorchOptimizer(Optimizer):
    """Base of the optimizers that reproduce a ``torch.optim`` class: ``lr`` is required (> 0 or ``"c/L"``)."""

    def __init__(self, *, lr: object, schedule: Any = None, maximize: bool = False, **hparams: Any) -> None:
        lr = parse_lr("lr", lr)
        self.maximize = check_bool("maximize", maximize)
        super().__init__(lr=lr, schedule=schedule, **hparams, maximize=self.maximize)


class Workspace(NamedTuple):
    """Work buffers of one block length: kernels, a general buffer, and a buffer for the preprocessed gradient."""

    ops: Ops
    work: np.ndarray | None
    grad_work: np.ndarray | None


@lru_cache(maxsize=64)
def _block_bounds(dim: int, block: int) -> tuple[slice, ...]:
    return tuple(slice(lo, min(lo + block, dim)) for lo in range(0, dim, block))


def workspaces(dim: int, *, work: bool, grad_work: bool) -> tuple[tuple[slice, Workspace], ...]:
    """The blocks of a ``dim``-vector with their workspaces (the full blocks share one; the last may be shorter).

    ``work``/``grad_work`` say which optional buffers the optimizer needs.
    """

    def build(size: int) -> Workspace:
        return Workspace(
            ops=make_ops(size, dim),
            work=np.empty(size) if work else None,
            grad_work=np.empty(size) if grad_work else None,
        )

    block = BLOCK_SIZE
    bounds = _block_bounds(dim, block)
    full = build(min(dim, block)) if dim else None
    tail = dim % block
    last = build(tail) if (tail and dim > block) else full
    return tuple((sl, full if i < len(bounds) - 1 else last) for i, sl in enumerate(bounds))


def grad_of(oracle: Any, x: np.ndarray) -> np.ndarray:
    """``oracle.grad(x)``, copied if it shares memory with x (the step updates x in place, torch's grad is separate)."""
    g = oracle.grad(x)
    return g.copy() if np.may_share_memory(g, x) else g


def prepare_grad(g: np.ndarray, x: np.ndarray, weight_decay: float, maximize: bool, ws: Workspace) -> np.ndarray:
    """torch's gradient preprocessing: ``g <- -g`` if maximizing, then ``g <- g + weight_decay * x`` (coupled L2).

    The result goes to ``ws.grad_work`` (never into ``g``, which may belong to
    the problem or to the run loop); when there is nothing to do, ``g`` itself
    is returned. ``ws`` must have ``grad_work`` when ``maximize`` or ``weight_decay != 0``.
    """
    out = ws.grad_work
    if maximize:
        np.negative(g, out=out)
        g = out
    if weight_decay != 0:
        ws.ops.axpy(out, g, weight_decay, x)
        return out
    return g
