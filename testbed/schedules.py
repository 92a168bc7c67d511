"""Learning-rate schedules that reproduce ``torch.optim.lr_scheduler`` step by step.

A schedule scales an optimizer's base step size over iterations, exactly as
torch's scheduler does when ``sched.step()`` is called once per iteration after
``opt.step()``: the step size used for iteration k+1 is torch's lr after k
scheduler steps. The recursions below are torch's own ``get_lr`` (not the
closed forms), so the sequences agree with torch to the last bit.

>>> sched = testbed.schedules.make("cosine", T_max=200, eta_min=0.0)
>>> opt = testbed.optimizers.make("sgd", lr=0.1, momentum=0.9, schedule=sched)
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterator
from inspect import Parameter
from typing import Any, ClassVar

from problems._registry import Registry
from problems._validate import check_float, check_int

__all__ = ["REGISTRY", "Schedule", "available", "describe", "make", "register"]

REGISTRY = Registry("schedule")


class Schedule(abc.ABC):
    """A step-size schedule: ``lrs(base_lr)`` yields the step size of iterations 1, 2, 3, ..."""

    name: ClassVar[str] = "schedule"
    source: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self.params = params

    @abc.abstractmethod
    def lrs(self, base_lr: float) -> Iterator[float]:
        """Infinite iterator of step sizes, starting with the one for the first iteration."""

    def config(self) -> dict[str, Any]:
        """``{"name": ..., **params}``, enough to rebuild the schedule with :func:`make`."""
        return {"name": self.name, **self.params}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"schedules.make({self.name!r}, {shown})"


def register(name: str, **info: Any) -> Callable:
    """Decorator registering a schedule class under ``name``."""
    return REGISTRY.register(name, **info)


@register("constant", source="torch.optim.lr_scheduler.ConstantLR(factor=1)")
class Constant(Schedule):
    """Constant step size (the same as no schedule)."""

    name = "constant"

    def __init__(self) -> None:
        super().__init__()

    def lrs(self, base_lr: float) -> Iterator[float]:
        """base_lr forever."""
        while True:
            yield base_lr


@register("step", source="torch.optim.lr_scheduler.StepLR")
class Step(Schedule):
    """StepLR: multiply by ``gamma`` every ``step_size`` iterations."""

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        step_size = check_int("step_size", step_size, low=1)
        gamma = check_float("gamma", gamma, low=0.0, low_open=True)
        super().__init__(step_size=step_size, gamma=gamma)

    def lrs(self, base_lr: float) -> Iterator[float]:
        """lr_k = lr_{k-1} * gamma if k % step_size == 0 else lr_{k-1}."""
        lr, k = base_lr, 0
        s, g = self.params["step_size"], self.params["gamma"]
        while True:
            yield lr
            k += 1
            if k % s == 0:
                lr = lr * g


@register("exponential", source="torch.optim.lr_scheduler.ExponentialLR")
class Exponential(Schedule):
    """ExponentialLR: multiply by ``gamma`` every iteration."""

    name = "exponential"

    def __init__(self, gamma: float) -> None:
        gamma = check_float("gamma", gamma, low=0.0, low_open=True)
        super().__init__(gamma=gamma)

    def lrs(self, base_lr: float) -> Iterator[float]:
        """lr_k = lr_{k-1} * gamma."""
        lr, g = base_lr, self.params["gamma"]
        while True:
            yield lr
            lr = lr * g


@register("cosine", source="torch.optim.lr_scheduler.CosineAnnealingLR")
class Cosine(Schedule):
    """CosineAnnealingLR: eta_min + (base - eta_min)(1 + cos(pi k / T_max))/2, periodic beyond T_max (no restart)."""

    name = "cosine"

    def __init__(self, T_max: int, eta_min: float = 0.0) -> None:
        T_max = check_int("T_max", T_max, low=1)
        eta_min = check_float("eta_min", eta_min, low=0.0)
        super().__init__(T_max=T_max, eta_min=eta_min)

    def lrs(self, base_lr: float) -> Iterator[float]:
        """torch's recursive form of the cosine annealing schedule."""
        T, eta_min = self.params["T_max"], self.params["eta_min"]
        lr, k = base_lr, 0
        while True:
            yield lr
            k += 1
            if (k - 1 - T) % (2 * T) == 0:
                lr = lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
            else:
                lr = (1 + math.cos(math.pi * k / T)) / (1 + math.cos(math.pi * (k - 1) / T)) * (lr - eta_min) + eta_min


@register("linear_warmup", source="torch.optim.lr_scheduler.LinearLR")
class LinearWarmup(Schedule):
    """LinearLR: the factor goes linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` iterations."""

    name = "linear_warmup"

    def __init__(self, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5) -> None:
        start_factor = check_float("start_factor", start_factor, low=0.0, high=1.0, low_open=True)
        end_factor = check_float("end_factor", end_factor, low=0.0, high=1.0)
        total_iters = check_int("total_iters", total_iters, low=1)
        super().__init__(start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)

    def lrs(self, base_lr: float) -> Iterator[float]:
        """torch's recursion: lr_k = lr_{k-1} (1 + (e - s) / (T s + (k - 1)(e - s))) for 1 <= k <= T."""
        s, e, T = self.params["start_factor"], self.params["end_factor"], self.params["total_iters"]
        lr, k = base_lr * s, 0
        while True:
            yield lr
            k += 1
            if k <= T:
                lr = lr * (1.0 + (e - s) / (T * s + (k - 1) * (e - s)))


@register("inv_sqrt", source="lecture: eta_t = eta / sqrt(t + 1) (torch LambdaLR)")
class InvSqrt(Schedule):
    """The lecture's decay eta / sqrt(t + 1), as LambdaLR with factor 1/sqrt(k + 1)."""

    name = "inv_sqrt"

    def __init__(self) -> None:
        super().__init__()

    def lrs(self, base_lr: float) -> Iterator[float]:
        """lr_k = base_lr * (1 / sqrt(k + 1)), computed directly as LambdaLR does."""
        k = 0
        while True:
            yield base_lr * (1.0 / math.sqrt(k + 1))
            k += 1


def available() -> list[str]:
    """Sorted names of the registered schedules."""
    return REGISTRY.names()


def make(name: str, **params: Any) -> Schedule:
    """Build the schedule ``name`` with ``params``."""
    return REGISTRY.make(name, **params)


def describe(name: str) -> dict[str, Any]:
    """Catalogue entry of a schedule: parameters with defaults and the torch class it matches."""
    entry = REGISTRY.get(name)
    params = {k: (None if v is Parameter.empty else v) for k, v in entry.parameters().items()}
    return {"name": entry.name, "summary": entry.summary, "parameters": params, **entry.info}
