"""The optimizer protocol, the base class, step sizes and the optimizer registry.

The protocol (study optax's ``init``/``update`` for the idea) is small:

``init(x0, problem) -> state``
    Build the optimizer state (a NamedTuple or any object) for start ``x0``.
``step(x, state, oracle, lr) -> (x_next, state, lr_used)``
    One iteration. ``oracle`` (:class:`testbed.oracle.Oracle`) is the only way
    to evaluate the problem, and counts every call; ``lr`` is the step size the
    schedule gives for this iteration (``None`` for optimizers without one);
    ``lr_used`` is the step actually taken (a line search may shrink it), which
    the run loop records.

The loop owns ``x`` and the state between steps: ``step`` may update ``x`` and
the state's arrays in place (that is what keeps large problems fast), but must
not keep references to them elsewhere. An optimizer that detects its own
stopping rule (Newton's decrement, the barrier method's gap) raises
:class:`Converged`. Optionally, ``finalize(state) -> dict`` hands data that
is not per-iteration (the barrier method's central path) to ``Run.extras``.

Anything with ``init`` and ``step`` can be passed to :func:`testbed.run`
without registration; registered optimizers subclass :class:`Optimizer`, which
adds hyperparameter bookkeeping, step sizes given as multiples of 1/L
(``"1/L"``, ``"0.5/L"``) and a learning-rate schedule.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from problems import Problem
from problems._registry import Registry
from problems._validate import check_float
from problems.errors import UserInputError

__all__ = [
    "LR",
    "REGISTRY",
    "Converged",
    "DriverOptimizer",
    "Optimizer",
    "OptimizerProtocol",
    "parse_lr",
    "register",
    "resolve_lr",
]

#: The optimizer registry; third-party packages extend it through the entry-point group ``optim_testbed.optimizers``.
REGISTRY = Registry("optimizer", entry_point_group="optim_testbed.optimizers")

_LR_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)?\s*/\s*L\s*$")


class Converged(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``step`` when the optimizer's own stopping criterion holds at the current x."""


class LR(float):
    """A step size given as ``c/L``; resolved to the float ``c / problem.L`` before running."""

    multiple: float

    def __new__(cls, multiple: float) -> LR:
        obj = super().__new__(cls, float("nan"))
        obj.multiple = float(multiple)
        return obj

    def __repr__(self) -> str:
        return f"'{self.multiple:g}/L'"

    def resolve(self, L: float | None, name: str = "lr") -> float:
        """``multiple / L``; a clear error if the problem has no L."""
        if L is None:
            raise UserInputError(f"{name}: '{self.multiple:g}/L' needs a problem with a known L, and this one has none")
        return self.multiple / L


def parse_lr(name: str, value: object, *, allow_none: bool = False) -> float | LR | None:
    """Validate a step size: a number > 0, or a string ``"c/L"`` with c > 0 (``"1/L"``, ``"0.5/L"``, ``"/L"`` = 1/L)."""
    if value is None and allow_none:
        return None
    if isinstance(value, LR):
        return value
    if isinstance(value, str):
        m = _LR_RE.match(value)
        if not m:
            raise UserInputError(f"{name}: must be a number > 0 or a string like '1/L' or '0.5/L', got {value!r}")
        c = float(m.group(1)) if m.group(1) else 1.0
        if c <= 0:
            raise UserInputError(f"{name}: the multiple of 1/L must be > 0, got {value!r}")
        return LR(c)
    return check_float(name, value, low=0.0, low_open=True)


def resolve_lr(value: float | LR | None, problem: Problem, name: str = "lr") -> float | None:
    """Resolve a parsed step size against ``problem`` (``c/L`` -> float)."""
    if isinstance(value, LR):
        return value.resolve(problem.L, name)
    return value


@runtime_checkable
class OptimizerProtocol(Protocol):
    """What :func:`testbed.run` needs of an optimizer (registered or not)."""

    def init(self, x0: np.ndarray, problem: Problem) -> Any:
        """Return the initial state."""

    def step(self, x: np.ndarray, state: Any, oracle: Any, lr: float | None) -> tuple[np.ndarray, Any, float | None]:
        """Return ``(x_next, state, lr_used)``."""


class Optimizer(abc.ABC):
    """Base class of registered optimizers.

    Subclasses set ``name``, ``source`` and call ``super().__init__(lr=..., schedule=..., **hparams)``
    with their validated hyperparameters, then implement ``init`` and ``step``.
    """

    name: ClassVar[str] = "optimizer"
    #: Paper, book section or ``torch.optim`` class the update follows.
    source: ClassVar[str] = ""
    #: Extra per-iteration columns this optimizer records (see :meth:`extras`).
    extra_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, lr: object = None, schedule: Any = None, **hparams: Any) -> None:
        self.lr = parse_lr("lr", lr, allow_none=True)
        if schedule is not None and not hasattr(schedule, "lrs"):
            raise UserInputError(
                f"schedule: must be a schedule from testbed.schedules.make(...), got {type(schedule).__name__}"
            )
        self.schedule = schedule
        self.hparams: dict[str, Any] = {"lr": self.lr, **hparams}
        if schedule is not None:
            self.hparams["schedule"] = schedule

    def resolve_lr(self, problem: Problem) -> float | None:
        """The base step size for ``problem`` (``c/L`` resolved)."""
        return resolve_lr(self.lr, problem)

    def config(self) -> dict[str, Any]:
        """JSON-friendly hyperparameters (``c/L`` kept as a string, the schedule as its config)."""
        out: dict[str, Any] = {}
        for k, v in self.hparams.items():
            if isinstance(v, LR):
                out[k] = f"{v.multiple:g}/L"
            elif k == "schedule" and v is not None:
                out[k] = v.config()
            elif isinstance(v, tuple):
                out[k] = list(v)
            else:
                out[k] = v
        return out

    @abc.abstractmethod
    def init(self, x0: np.ndarray, problem: Problem) -> Any:
        """Return the initial state for start ``x0`` on ``problem`` (validate applicability here)."""

    @abc.abstractmethod
    def step(self, x: np.ndarray, state: Any, oracle: Any, lr: float | None) -> tuple[np.ndarray, Any, float | None]:
        """One iteration: ``(x_next, state, lr_used)``."""

    def extras(self, state: Any) -> tuple[float, ...]:
        """Values of ``extra_columns`` for the current state (recorded with each history row)."""
        return ()

    def finalize(self, state: Any) -> dict[str, Any]:
        """Data for ``Run.extras``, from the last state (:func:`testbed.run` calls it once at the end); {} here."""
        return {}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({shown})"


class DriverOptimizer(Optimizer):
    """An optimizer that runs its own loop (``scipy.optimize.minimize``); the run loop records through a callback.

    Subclasses implement :meth:`drive`. ``callback(x)`` must be called with each
    new iterate; it returns True when the run loop wants the driver to stop
    (budget reached, divergence).
    """

    def init(self, x0: np.ndarray, problem: Problem) -> Any:
        """Drivers keep no state between steps."""
        return None

    def step(self, x: np.ndarray, state: Any, oracle: Any, lr: float | None) -> tuple[np.ndarray, Any, float | None]:
        """Drivers are not stepped; :func:`testbed.run` calls :meth:`drive`."""
        raise TypeError(f"{self.name} runs its own loop: use testbed.run, which calls drive()")

    @abc.abstractmethod
    def drive(
        self, x0: np.ndarray, oracle: Any, callback: Callable[[np.ndarray], bool], max_iters: int | None
    ) -> tuple[np.ndarray, str]:
        """Run to completion from ``x0``; return the final x and the driver's own message."""


def register(name: str, *, summary: str = "", replace: bool = False, **info: Any) -> Callable:
    """Decorator registering an optimizer class (or factory) under ``name``.

    ``info`` documents it in the catalogue, e.g. ``source="torch.optim.Adam"``
    or ``source="Boyd & Vandenberghe 9.2"`` and ``kind="torch"``/``"lecture"``/``"scipy"``.
    """
    return REGISTRY.register(name, summary=summary, replace=replace, **info)
