"""The bound catalogue: what a bound is (:class:`Bound`), what evaluating it on a run gives (:class:`Evaluation`),
and the registry of named bounds.

A bound is an inequality ``observed_t <= bound_t`` between a quantity of the
run (f(x_t) - f*, ||x_t - x*||^2, ...) and a right-hand side computed from the
problem's constants and the start, stated in a paper or book under assumptions
(convexity, L-smoothness, which method, which steps). Its ``requires`` list
checks those assumptions on the run (:mod:`testbed.theory.assumptions`); its
``evaluate`` returns the checked points.

Floating point: both sides are computed in float64 from numbers (f values,
gradient norms, distances) that carry their own rounding errors. An excess
``observed_t - bound_t`` no larger than the tolerance

    tol_t = RTOL * max(1, scale_t),   RTOL = 1e-12,

is attributed to round-off: the bound is reported as held, with ``roundoff =
True``. ``scale_t`` is the magnitude of the raw numbers the comparison
subtracts, defined per bound kind (each bound's ``tolerance`` text says which):

* f-value kinds: max(|f(x_t)|, |f*|) and, for per-step inequalities, |f(x_{t-1})|;
* squared-distance kinds: max(||x*||^2, ||x_0 - x*||^2);
* gradient kinds: the observed squared gradient norm and the f values on the right-hand side, times their factor.

A non-finite observed value (a run that diverged to inf or NaN) is a violation
whenever the bound applies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from problems.errors import UnknownNameError, UserInputError
from testbed.theory.facts import RunFacts

__all__ = [
    "RTOL",
    "Bound",
    "Evaluation",
    "all_bounds",
    "bounds",
    "get_bound",
    "register_bound",
    "resolve_bounds",
]

#: Relative round-off tolerance of every comparison (see the module docstring).
RTOL = 1e-12

_MODULES = (
    "testbed.theory.gd_bounds",
    "testbed.theory.nesterov_bounds",
    "testbed.theory.other_bounds",
    "testbed.theory.expectation",
)
_REGISTRY: dict[str, Bound] = {}
_loaded = False


@dataclass(frozen=True)
class Evaluation:
    """The checked points of a bound on one run: iteration, right-hand side, observed left-hand side, scale.

    ``scale`` sets the round-off tolerance ``RTOL * max(1, scale)`` of each point.
    """

    iters: np.ndarray
    bound: np.ndarray
    observed: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.iters)
        for name in ("bound", "observed", "scale"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Evaluation.{name}: length {len(getattr(self, name))} != {n} iterations")

    @property
    def tol(self) -> np.ndarray:
        """Round-off tolerance of each point: RTOL * max(1, scale)."""
        scale = np.where(np.isfinite(self.scale), np.abs(self.scale), 0.0)
        return RTOL * np.maximum(1.0, scale)

    @property
    def slack(self) -> np.ndarray:
        """bound - observed (-inf where the observed value is not finite)."""
        slack = self.bound - self.observed
        return np.where(np.isfinite(self.observed), slack, -np.inf)


@dataclass(frozen=True)
class Bound:
    """A named inequality of optimization theory and how to check it on a run.

    ``statement`` is the inequality, ``source`` the paper/book and theorem, ``assumptions`` the hypotheses in
    words, ``applies_to`` the methods it is about, ``observed`` the name of the left-hand side, ``formula`` the
    right-hand side in short (for messages), ``tolerance`` the scale of the round-off tolerance,
    ``requires`` the assumption checks (:mod:`testbed.theory.assumptions`), ``evaluate`` the checked points, and
    ``constants`` which of L, mu, h, gamma a failure message quotes.
    """

    name: str
    statement: str
    source: str
    assumptions: str
    applies_to: str
    observed: str
    formula: str
    tolerance: str
    requires: tuple[Callable[[RunFacts], str], ...]
    evaluate: Callable[[RunFacts], Evaluation]
    constants: tuple[str, ...] = field(default=("L",))

    def applicability(self, facts: RunFacts) -> str:
        """``""`` if every assumption holds on the run, else the reason of the first that does not."""
        for check in self.requires:
            reason = check(facts)
            if reason:
                return reason
        return ""

    def describe_constants(self, facts: RunFacts) -> str:
        """The constants a failure message quotes, e.g. ``"L = 4.1, mu = 0.2"``."""
        parts = []
        for name in self.constants:
            if name == "L" and facts.L is not None:
                parts.append(f"L = {facts.L:.6g}")
            elif name == "mu" and facts.mu is not None:
                parts.append(f"mu = {facts.mu:.6g}")
            elif name == "h":
                steps = facts.lr[np.isfinite(facts.lr)]
                if steps.size:
                    parts.append(f"h = {facts.describe_step(float(steps[0]))}")
            elif name == "gamma":
                parts.append(f"gamma = {facts.hparam('gamma', 1.0):g}")
        return ", ".join(parts)


def register_bound(bound: Bound, *, replace: bool = False) -> Bound:
    """Add ``bound`` to the catalogue (refuses a taken name unless ``replace=True``); returns it."""
    if not isinstance(bound, Bound):
        raise UserInputError(f"bound: must be a testbed.theory.Bound, got {type(bound).__name__}")
    if bound.name in _REGISTRY and not replace:
        raise UserInputError(f"bound {bound.name!r} is already registered (pass replace=True to override)")
    _REGISTRY[bound.name] = bound
    return bound


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _MODULES:
            importlib.import_module(module)


def all_bounds() -> list[Bound]:
    """Every registered bound, in registration order."""
    _load()
    return list(_REGISTRY.values())


def get_bound(name: str) -> Bound:
    """The bound registered as ``name`` (an :class:`UnknownNameError` with the closest match otherwise)."""
    _load()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownNameError("bound", name, _REGISTRY) from None


def resolve_bounds(bounds: Iterable[str | Bound] | str | Bound | None) -> list[Bound]:
    """Turn ``None`` or ``"all"`` (every bound), a name, a :class:`Bound` or a list of them into a list of bounds."""
    if bounds is None or (isinstance(bounds, str) and bounds == "all"):
        return all_bounds()
    if isinstance(bounds, (str, Bound)):
        bounds = [bounds]
    out = []
    for item in bounds:
        if isinstance(item, Bound):
            out.append(item)
        elif isinstance(item, str):
            out.append(get_bound(item))
        else:
            raise UserInputError(f"bounds: must be bound names or Bound objects, got {type(item).__name__}")
    return out


def bounds() -> pd.DataFrame:
    """The catalogue as a DataFrame: name, statement, source, assumptions, applies_to, observed, tolerance."""
    rows = [
        {
            "name": b.name,
            "statement": b.statement,
            "source": b.source,
            "assumptions": b.assumptions,
            "applies_to": b.applies_to,
            "observed": b.observed,
            "tolerance": b.tolerance,
        }
        for b in all_bounds()
    ]
    columns = ["name", "statement", "source", "assumptions", "applies_to", "observed", "tolerance"]
    return pd.DataFrame(rows, columns=columns)
