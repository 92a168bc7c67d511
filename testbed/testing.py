"""pytest helpers: assert that a run obeys theory, with failures that read like a proof that broke.

>>> from testbed.testing import assert_descent_lemma, assert_rate, assert_certified
>>> run = testbed.run(p, testbed.optimizers.make("gd", lr="1/L"), iters=50)
>>> assert_descent_lemma(run, p.L)
>>> assert_rate(run, "gd_convex_rate", p)
>>> assert_certified(run, p)

A failure raises ``AssertionError`` naming the bound, the first iteration where it breaks, both sides and the
constants, e.g. ``gd_convex_rate: iteration 17: f(x_t) - f* = 0.731 > bound 0.702 (2L||x0-x*||^2/(t+4),
L = 4.1)``. Excesses within the round-off tolerance of :mod:`testbed.theory.catalogue` do not fail.
"""

from __future__ import annotations

import dataclasses

from problems import Problem
from problems._validate import check_float
from problems.errors import UserInputError
from testbed.result import Run
from testbed.theory.catalogue import Bound, resolve_bounds
from testbed.theory.certify import evaluate_bound, outcomes
from testbed.theory.facts import RunFacts

__all__ = ["assert_certified", "assert_descent_lemma", "assert_rate"]


def _check_run(run: object) -> Run:
    if not isinstance(run, Run):
        raise UserInputError(f"run: must be a testbed.Run, got {type(run).__name__}")
    return run


def assert_descent_lemma(run: Run, L: float) -> None:
    """Assert f(x_{t+1}) <= f(x_t) - ||grad f(x_t)||^2 / (2L) on every recorded pair (t, t+1).

    The caller vouches for the lecture's assumptions (f L-smooth with this ``L``, gradient descent with step
    1/L); the recorded step is not consulted, so a run whose true step or true L differs from the claim fails.
    """
    run = _check_run(run)
    L = check_float("L", L, low=0.0, low_open=True)
    facts = RunFacts.from_run(run, None)
    facts.L = L
    bound = resolve_bounds("descent_lemma")[0]
    outcome = evaluate_bound(dataclasses.replace(bound, requires=()), facts)
    if outcome.evaluation is None:
        raise AssertionError(f"descent lemma: nothing to check ({outcome.reason})")
    message = outcome.message(facts)
    if message:
        raise AssertionError(message)


def assert_rate(
    run: Run, bound: str | Bound, problem: Problem | None = None, *, assume_applicable: bool = False
) -> None:
    """Assert that ``run`` satisfies ``bound`` (a catalogue name or a :class:`Bound`) at every checked iteration.

    With ``problem`` given, the bound's assumptions are checked first and a bound that does not apply fails the
    assertion with its reason (unless ``assume_applicable=True``). Without ``problem`` the caller vouches for
    the assumptions and only the inequality is checked, with the run's recorded constants.
    """
    run = _check_run(run)
    (b,) = resolve_bounds(bound)
    if problem is None:
        facts = RunFacts.from_run(run, None)
        outcome = evaluate_bound(dataclasses.replace(b, requires=()), facts)
    else:
        (outcome,) = outcomes(run, problem, [b], assume_applicable=assume_applicable)
        facts = RunFacts.from_run(run, problem)
    if outcome.evaluation is None:
        raise AssertionError(f"{b.name} cannot be checked on this run: {outcome.reason}")
    message = outcome.message(facts)
    if message:
        raise AssertionError(message)


def assert_certified(run: Run, problem: Problem, bounds: list[str | Bound] | None = None) -> None:
    """Assert that no applicable bound of the catalogue (or of ``bounds``) is violated by ``run``.

    Inapplicable bounds are skipped (``testbed.theory.certify`` says why); every violated bound is listed.
    """
    run = _check_run(run)
    results = outcomes(run, problem, bounds)
    facts = RunFacts.from_run(run, problem)
    broken = [o.message(facts) for o in results if o.evaluation is not None and o.violations.size]
    if broken:
        raise AssertionError("; ".join(broken))
