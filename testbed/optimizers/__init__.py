"""Optimizers: the registry, ``make``, ``available``, ``describe`` and ``register``.

>>> opt = testbed.optimizers.make("adam", lr=1e-2, betas=(0.9, 0.999))

Optimizers named like a ``torch.optim`` class take the same hyperparameters
and defaults and produce the same iterates (float64). The lecture's forms have
their own names (``gd``, ``heavy_ball``, ``adagrad_lecture``, ...).
"""

from __future__ import annotations

from inspect import Parameter
from typing import Any

from testbed.optimizers.base import (
    LR,
    REGISTRY,
    Converged,
    DriverOptimizer,
    Optimizer,
    OptimizerProtocol,
    parse_lr,
    register,
    resolve_lr,
)

__all__ = [
    "LR",
    "REGISTRY",
    "Converged",
    "DriverOptimizer",
    "Optimizer",
    "OptimizerProtocol",
    "available",
    "describe",
    "make",
    "parse_lr",
    "register",
    "resolve_lr",
]


def _load_builtin() -> None:
    from testbed.optimizers import builtin  # noqa: F401  (registers the built-in optimizers)


def available() -> list[str]:
    """Sorted names of registered optimizers."""
    _load_builtin()
    return REGISTRY.names()


def make(name: str, **hparams: Any) -> Any:
    """Build the optimizer ``name`` with hyperparameters ``hparams`` (validated; errors name the field)."""
    _load_builtin()
    return REGISTRY.make(name, **hparams)


def describe(name: str) -> dict[str, Any]:
    """Catalogue entry: summary, hyperparameters with defaults, source (paper or torch class), kind."""
    _load_builtin()
    entry = REGISTRY.get(name)
    params = {k: (None if v is Parameter.empty else v) for k, v in entry.parameters().items()}
    return {"name": entry.name, "summary": entry.summary, "hyperparameters": params, **entry.info}
