"""``certify(run, problem)``: hold a run to every bound of the catalogue that applies to it.

One row per bound (the columns of the theory contract):

* ``bound``, ``statement``;
* ``applicable`` and ``reason`` (why not, ``""`` when it applies);
* ``held`` (pandas nullable boolean, NA when not applicable): every checked point satisfies
  observed_t <= bound_t + tol_t;
* ``n_checked``: points compared; ``worst_slack`` = min_t (bound_t - observed_t) (negative = violated);
  ``worst_rel_slack`` = the same relative to max(|bound_t|, tol_t); ``worst_iter`` the iteration of
  ``worst_slack``; ``first_violation`` the first iteration where observed_t > bound_t + tol_t (-1 if none);
* ``roundoff``: some point exceeded its bound, but every excess was within the round-off tolerance
  tol_t = RTOL * max(1, scale_t) (:mod:`testbed.theory.catalogue`): reported, never hidden.

``df.attrs["curves"]`` holds the tidy curves (bound, iter, bound_value, observed) of every evaluated bound.

The run must have been made on ``problem``: :func:`check_run_matches` refuses (``UserInputError``) a run whose
recorded problem name or parameters differ from the problem's (parameters compared in a JSON-normal form, so
tuples equal lists and numpy values equal Python ones) or whose start point has another dimension -- the
problem's constants (L, mu, convexity, x*) would otherwise be applied to someone else's run, giving a false
"held".

``assume_applicable`` is a what-if switch: the named bounds (or all, with ``True``) are evaluated even where
the run breaks their assumptions, to show what theory says outside them (GD at step 2.1/L held to the 1/L
descent lemma, heavy ball held to a GD rate). Such rows have ``applicable = True`` and a reason starting with
``"assumed by the caller"`` that says which assumption fails.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from problems import Problem
from problems.errors import UserInputError
from testbed.result import Run
from testbed.theory.catalogue import Bound, Evaluation, resolve_bounds
from testbed.theory.facts import RunFacts
from testbed.theory_columns import CERTIFICATE_COLUMNS, CURVE_COLUMNS

__all__ = ["CERTIFICATE_COLUMNS", "CURVE_COLUMNS", "Outcome", "certify", "check_run_matches", "evaluate_bound"]


class Outcome:
    """The verdict of one bound on one run (a row of the certificate plus its evaluation)."""

    def __init__(self, bound: Bound, reason: str, evaluation: Evaluation | None, assumed: bool = False) -> None:
        self.bound = bound
        self.reason = reason
        self.evaluation = evaluation
        self.assumed = assumed

    @property
    def applicable(self) -> bool:
        """Whether the bound was evaluated."""
        return self.evaluation is not None

    @property
    def violations(self) -> np.ndarray:
        """Indices of the points whose excess is beyond the round-off tolerance."""
        ev = self.evaluation
        return np.flatnonzero(ev.slack < -ev.tol)

    def message(self, facts: RunFacts) -> str:
        """The first violation as a broken proof step, e.g. ``"gd_convex_rate: iteration 17: f(x_t) - f* = 0.731
        > bound 0.702 (2L||x0-x*||^2/(t+4), L = 4.1)"``; ``""`` if the bound held."""
        if self.evaluation is None or self.violations.size == 0:
            return ""
        ev, k = self.evaluation, int(self.violations[0])
        obs, bnd = _distinct(float(ev.observed[k]), float(ev.bound[k]))
        consts = self.bound.describe_constants(facts)
        detail = f"{self.bound.formula}, {consts}" if consts else self.bound.formula
        head = f"{self.bound.name}: iteration {int(ev.iters[k])}"
        return f"{head}: {self.bound.observed} = {obs} > bound {bnd} ({detail})"

    def row(self) -> dict[str, object]:
        """This outcome as a certificate row."""
        b, ev = self.bound, self.evaluation
        if ev is None:
            return {
                "bound": b.name, "applicable": False, "reason": self.reason, "held": pd.NA, "n_checked": 0,
                "worst_slack": np.nan, "worst_rel_slack": np.nan, "worst_iter": -1, "first_violation": -1,
                "roundoff": False, "statement": b.statement,
            }
        slack, tol = ev.slack, ev.tol
        bad = self.violations
        worst = int(np.argmin(slack))
        rel = slack / np.maximum(np.abs(np.where(np.isfinite(ev.bound), ev.bound, 0.0)), tol)
        reason = f"assumed by the caller; would not apply: {self.reason}" if self.assumed and self.reason else ""
        return {
            "bound": b.name,
            "applicable": True,
            "reason": reason,
            "held": bad.size == 0,
            "n_checked": int(slack.size),
            "worst_slack": float(slack[worst]),
            "worst_rel_slack": float(np.min(rel)),
            "worst_iter": int(ev.iters[worst]),
            "first_violation": int(ev.iters[bad[0]]) if bad.size else -1,
            "roundoff": bool(bad.size == 0 and np.any(slack < 0)),
            "statement": b.statement,
        }


def _distinct(a: float, b: float) -> tuple[str, str]:
    """a and b printed with the fewest significant digits (>= 3) that tell them apart."""
    for digits in range(3, 18):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if sa != sb:
            return sa, sb
    return repr(a), repr(b)


def evaluate_bound(bound: Bound, facts: RunFacts, *, assume_applicable: bool = False) -> Outcome:
    """Decide whether ``bound`` applies to the run and, if so (or if assumed), evaluate it."""
    reason = bound.applicability(facts)
    if reason and not assume_applicable:
        return Outcome(bound, reason, None)
    try:
        ev = bound.evaluate(facts)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        if not reason:
            raise
        # An assumed bound whose ingredients are missing (no L, no x*) cannot be evaluated at all.
        return Outcome(bound, f"{reason} (cannot be evaluated: {exc})", None)
    if len(ev.iters) == 0:
        return Outcome(bound, "nothing to check: no recorded iteration satisfies the bound's premise", None)
    return Outcome(bound, reason, ev, assumed=bool(reason))


def _normal(value: Any) -> Any:
    """A JSON-normal form of a parameter value: dict keys as str, tuples and arrays as lists, numpy scalars as
    Python numbers, integral floats as ints (so 1 == 1.0), anything else as its repr."""
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _normal(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return int(f) if f.is_integer() and abs(f) < 2.0**53 else f
    return repr(value)


def _dumps(value: Any) -> str:
    return json.dumps(_normal(value), sort_keys=True)


def check_run_matches(run: Run, problem: Problem) -> None:
    """Raise ``UserInputError`` unless ``run`` was made on ``problem`` (same name, parameters and dimension)."""
    if run.problem != problem.name:
        raise UserInputError(
            f"run: it was made on problem {run.problem!r}, not on {problem.name!r}; certify a run against the "
            "problem it was made on"
        )
    mine, theirs = _normal(dict(run.problem_params or {})), _normal(dict(problem.params))
    if _dumps(mine) != _dumps(theirs):
        keys = sorted(k for k in set(mine) | set(theirs) if _dumps(mine.get(k)) != _dumps(theirs.get(k)))
        diff = ", ".join(f"{k}: run {mine.get(k, '(absent)')!r} vs problem {theirs.get(k, '(absent)')!r}" for k in keys)
        raise UserInputError(
            f"run: it was made on {problem.name!r} with other parameters ({diff}); certify a run against the "
            "problem instance it was made on"
        )
    shape = np.shape(run.x0)
    if shape != (problem.dim,):
        raise UserInputError(
            f"run: its start point x0 has shape {shape}, but {problem.name!r} has dimension {problem.dim}; certify "
            "a run against the problem it was made on"
        )


def _assumed(assume_applicable: bool | Iterable[str], name: str) -> bool:
    if isinstance(assume_applicable, bool):
        return assume_applicable
    return name in assume_applicable


def outcomes(
    run: Run, problem: Problem, bounds: Iterable[str | Bound] | str | Bound | None = None,
    *, assume_applicable: bool | Iterable[str] = False,
) -> list[Outcome]:
    """The :class:`Outcome` of each requested bound (what :func:`certify` tabulates)."""
    if not isinstance(run, Run):
        raise UserInputError(f"run: must be a testbed.Run, got {type(run).__name__}")
    if not isinstance(problem, Problem):
        raise UserInputError(f"problem: must be a problems.Problem, got {type(problem).__name__}")
    check_run_matches(run, problem)
    if not isinstance(assume_applicable, bool):
        assume_applicable = {str(n) for n in assume_applicable}
    facts = RunFacts.from_run(run, problem)
    return [
        evaluate_bound(b, facts, assume_applicable=_assumed(assume_applicable, b.name))
        for b in resolve_bounds(bounds)
    ]


def certify(
    run: Run,
    problem: Problem,
    bounds: Iterable[str | Bound] | str | Bound | None = None,
    *,
    assume_applicable: bool | Iterable[str] = False,
) -> pd.DataFrame:
    """Check ``run`` (made on ``problem``) against ``bounds`` (None or ``"all"``: the whole catalogue).

    Returns the certificate table (one row per bound, columns :data:`CERTIFICATE_COLUMNS`, see the module
    docstring) with the tidy curves in ``df.attrs["curves"]``. A bound is held only if it applies and no
    checked point exceeds it beyond round-off; a bound that does not apply says why. A run made on another
    problem (name, parameters or dimension) raises ``UserInputError`` (:func:`check_run_matches`).
    """
    results = outcomes(run, problem, bounds, assume_applicable=assume_applicable)
    df = pd.DataFrame([o.row() for o in results], columns=list(CERTIFICATE_COLUMNS))
    df["held"] = df["held"].astype("boolean")
    for col in ("n_checked", "worst_iter", "first_violation"):
        df[col] = df[col].astype(np.int64)
    df["applicable"] = df["applicable"].astype(bool)
    df["roundoff"] = df["roundoff"].astype(bool)
    frames = [
        pd.DataFrame(
            {
                "bound": o.bound.name,
                "iter": o.evaluation.iters.astype(np.int64),
                "bound_value": o.evaluation.bound.astype(np.float64),
                "observed": o.evaluation.observed.astype(np.float64),
            }
        )
        for o in results
        if o.evaluation is not None
    ]
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"bound": pd.Series(dtype=str), "iter": pd.Series(dtype=np.int64),
         "bound_value": pd.Series(dtype=np.float64), "observed": pd.Series(dtype=np.float64)}
    )
    df.attrs["curves"] = curves
    return df
