"""The assumptions a bound can make, each checked honestly on a run.

Every function takes :class:`~testbed.theory.facts.RunFacts` and returns ``""``
when the assumption holds for the run, or a one-line reason why it does not
("rosenbrock is not convex", "step 0.01 is not 1/L = 0.25"). A bound's
applicability is the first failing reason of its list (:func:`first_reason`).

Step sizes are read from the history's ``lr`` column (the step the optimizer
reports it used from x_t), compared with their target to the relative tolerance
:data:`STEP_RTOL`. When the history skips iterations (``record_every > 1``) the
unrecorded steps are unknown; they are taken to equal the recorded ones only for
methods whose step is fixed by their configuration (``gd``-like methods without
a schedule), and otherwise the bound does not apply.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from testbed.theory.facts import RunFacts

__all__ = [
    "GRADIENT_STEP_METHODS",
    "STEP_RTOL",
    "constant_step",
    "convex",
    "first_reason",
    "full_batch",
    "gradient_step_method",
    "known_f_star",
    "known_x_star",
    "method_is",
    "smooth",
    "steps_in",
    "strongly_convex",
    "unconstrained",
]

#: Relative tolerance when comparing a recorded step with its target (e.g. 1/L): |h - h_target| <= STEP_RTOL h_target.
STEP_RTOL = 1e-9

#: Registered methods whose update is x_{t+1} = x_t - h_t grad f(x_t) with h_t the recorded ``lr``
#: (``sgd`` only with its defaults momentum = 0, weight_decay = 0, maximize = False; see :func:`gradient_step_method`).
GRADIENT_STEP_METHODS = ("gd", "gd_backtracking", "sgd")

#: Methods whose step is fixed by their configuration (so unrecorded steps equal recorded ones without a schedule).
_FIXED_STEP_METHODS = ("gd", "sgd", "heavy_ball", "nesterov")

Check = Callable[[RunFacts], str]


def first_reason(facts: RunFacts, checks: Iterable[Check]) -> str:
    """The first non-empty reason among ``checks`` (``""`` if all assumptions hold)."""
    for check in checks:
        reason = check(facts)
        if reason:
            return reason
    return ""


def method_is(*names: str) -> Check:
    """The run's optimizer is one of ``names``."""

    def check(facts: RunFacts) -> str:
        if facts.method in names:
            return ""
        return f"the bound is for {' or '.join(names)}, and this run used {facts.method}"

    return check


def gradient_step_method(facts: RunFacts) -> str:
    """The run's update is x_{t+1} = x_t - h_t grad f(x_t) with h_t = the recorded ``lr``.

    True of ``gd``, ``gd_backtracking`` (h_t the accepted step), and ``sgd`` (torch form) with momentum = 0,
    weight_decay = 0 and maximize = False (then torch's update is exactly x - lr g).
    """
    if facts.method not in GRADIENT_STEP_METHODS:
        return f"the bound is for gradient descent (gd), and this run used {facts.method}"
    if facts.method == "sgd":
        for key, neutral in (("momentum", 0), ("weight_decay", 0), ("maximize", False)):
            value = facts.hparam(key, neutral)
            if value != neutral:
                return f"sgd with {key}={value!r} is not plain gradient descent (needs {key}={neutral!r})"
    return ""


def full_batch(facts: RunFacts) -> str:
    """Gradients are exact (no minibatches)."""
    b = facts.run.batch_size
    if b is None:
        return ""
    return f"the run used minibatches (batch_size={b}): its gradients are stochastic"


def unconstrained(facts: RunFacts) -> str:
    """The problem has no feasible set (its f*, x* are those of the unconstrained minimisation)."""
    p = facts.problem
    if p is not None and p.is_constrained:
        return (
            f"{p.name} is constrained (f*, x* are the constrained optimum) and {facts.method} ignores the "
            "constraint"
        )
    return ""


def smooth(facts: RunFacts) -> str:
    """L is known and valid where the iterates are: ``L_region == "global"``, or every recorded iterate in the
    region (the run loop's ``in_region`` column, or the kept iterates)."""
    p = facts.problem
    if facts.L is None:
        return f"{p.name} has no known Lipschitz constant L of its gradient"
    if p.L_region == "global":
        return ""
    iterates = facts.run.iterates
    history = facts.run.history
    if iterates is None and "in_region" in history.columns:
        outside = np.flatnonzero(history["in_region"].to_numpy() != 1.0)
        if outside.size:
            it = int(history["iter"].iloc[outside[0]])
            return f"iterate {it} leaves {p.L_region!r}, where L = {facts.L:.6g} of {p.name} holds"
        return ""
    if iterates is None:
        return (
            f"L = {facts.L:.6g} of {p.name} holds only on {p.L_region!r}, and the run kept no iterates to check "
            "that they stay there (use keep_iterates=True)"
        )
    for i, x in enumerate(np.asarray(iterates)):
        if not p.in_region(np.asarray(x, dtype=np.float64)):
            return f"iterate {int(facts.it[i])} leaves {p.L_region!r}, where L = {facts.L:.6g} of {p.name} holds"
    return ""


def convex(facts: RunFacts) -> str:
    """The problem is convex."""
    p = facts.problem
    return "" if p.convex else f"{p.name} is not convex"


def strongly_convex(facts: RunFacts) -> str:
    """The problem is mu-strongly convex with a known mu > 0."""
    p = facts.problem
    if not p.convex:
        return f"{p.name} is not convex"
    if facts.mu is None or not facts.mu > 0:
        return f"{p.name} is not known to be strongly convex (mu = {facts.mu})"
    return ""


def known_f_star(facts: RunFacts) -> str:
    """f* is known."""
    return "" if facts.f_star is not None else f"f* of {facts.problem.name} is unknown"


def known_x_star(facts: RunFacts) -> str:
    """A minimiser x* is known."""
    return "" if facts.x_star is not None else f"x* of {facts.problem.name} is unknown"


def _steps(facts: RunFacts) -> tuple[np.ndarray, str]:
    """The recorded steps, or a reason why the steps of the run are not known."""
    rows = facts.step_rows
    steps = facts.lr[rows]
    if facts.n_rows >= 2 and rows.size == 0:
        return steps, "the run recorded no step sizes (lr is NaN)"
    if not facts.complete:
        fixed = facts.method in _FIXED_STEP_METHODS and facts.hparam("schedule") is None
        if not fixed:
            return steps, (
                "the history skips iterations (record_every > 1) and the steps between recorded iterations "
                f"of {facts.method} are not known"
            )
    return steps, ""


def constant_step(multiple: float | None = None) -> Check:
    """Every step is the same constant h; with ``multiple`` given, h = multiple / L."""

    def check(facts: RunFacts) -> str:
        steps, reason = _steps(facts)
        if reason:
            return reason
        if steps.size == 0:
            return ""
        h0 = float(steps[0])
        bad = np.flatnonzero(np.abs(steps - h0) > STEP_RTOL * abs(h0))
        if bad.size:
            i = int(facts.step_rows[bad[0]])
            return f"the step is not constant: {h0:.6g} at iteration 0, {facts.lr[i]:.6g} at iteration {facts.it[i]}"
        if multiple is not None:
            if facts.L is None:
                return f"{facts.problem.name} has no known L to compare the step with {multiple:g}/L"
            target = multiple / facts.L
            if not abs(h0 - target) <= STEP_RTOL * target:
                return f"step {facts.describe_step(h0)} is not {multiple:g}/L = {target:.6g}"
        return ""

    return check


def steps_in(low: float, high: float, *, constant: bool = False) -> Check:
    """Every step h_t lies in the open interval (low/L, high/L) (and is constant if ``constant``)."""

    def check(facts: RunFacts) -> str:
        if constant:
            reason = constant_step()(facts)
            if reason:
                return reason
        steps, reason = _steps(facts)
        if reason:
            return reason
        if facts.L is None:
            return f"{facts.problem.name} has no known L to compare the steps with"
        lo, hi = low / facts.L, high / facts.L
        bad = np.flatnonzero(~((steps > lo) & (steps < hi)))
        if bad.size:
            i = int(facts.step_rows[bad[0]])
            lo_txt = "0" if low == 0 else f"{low:g}/L"
            return (
                f"step {facts.describe_step(float(facts.lr[i]))} at iteration {facts.it[i]} is outside "
                f"({lo_txt}, {high:g}/L) = ({lo:.6g}, {hi:.6g})"
            )
        return ""

    return check


def finite(value: float | None) -> bool:
    """True for a finite float (None is not)."""
    return value is not None and math.isfinite(value)
