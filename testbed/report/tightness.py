"""How tight a certified bound was on a run: the largest ratio of the observed quantity to its bound.

A certificate's verdict rests on the slack bound_t - observed_t (:mod:`testbed.theory.certify`), but its
minimum says little about tightness: at t = 0 most bounds reduce to a triviality (f(x_0) - f* <= f(x_0) - f*,
slack 0), and for a decaying bound the absolute slack is smallest wherever both sides are smallest, i.e. at the
last iteration. The report therefore summarises each (run, bound) by

    tightness = max over checked t >= 1 of  observed_t / bound_t,

and the iteration where it is reached: 1 means the bound is attained, 0.5 that the run was never closer than
a factor 2, > 1 a violation. The ratio is scale free, so it compares across runs and problems.

Two refinements keep the ratio meaningful:

* Per-step inequalities between two values of f -- f(x_{t+1}) <= f(x_t) - d_t (the descent lemma, Newton's
  damped phase; recognised from the catalogue, whose ``observed`` is then a bare f value) -- have no
  meaningful ratio of f values (it depends on the additive constant of f). For them the ratio is the
  guaranteed decrease over the actual one, d_t / (f(x_t) - f(x_{t+1})) (<= 1 exactly when the step keeps the
  guarantee), with f(x_t) read from the run's previous recorded row.
* Points where the right-hand side (or, for per-step inequalities, the guaranteed decrease) is at round-off
  level, at most RTOL * max(1, |f(x_t)|, |f*|, |observed_t|, |bound_t|) with the certificates' RTOL
  (:mod:`testbed.theory.catalogue`), are left out: there the ratio of two round-off errors is noise.

A (run, bound) pair with no point left has NaN tightness (iteration -1).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from testbed.profiles import require_columns

__all__ = ["FIRST_ITER", "is_f_value_step", "tightness"]

#: Iterations before this one are left out: at t = 0 the bounds reduce to trivialities.
FIRST_ITER = 1

_F_VALUE = re.compile(r"^f\(x_\{?[^()]*\}?\)$")


def is_f_value_step(bound: str) -> bool:
    """Whether the catalogue's bound ``bound`` compares bare values of f (a per-step decrease inequality).

    Bounds not in the catalogue (e.g. user-registered ones that are gone) count as bounds on a
    nonnegative quantity.
    """
    from problems.errors import UserInputError
    from testbed.theory.catalogue import get_bound

    try:
        observed = get_bound(str(bound)).observed
    except (UserInputError, KeyError):
        return False
    return bool(_F_VALUE.match(str(observed).replace(" ", "")))


def _history_f(results: pd.DataFrame) -> pd.DataFrame:
    """run_id, iter, f, f_prev (f at the previous recorded row of the run), f_star."""
    cols = [c for c in ("run_id", "iter", "f", "f_star") if c in results.columns]
    hist = results[cols].sort_values(["run_id", "iter"], kind="mergesort").copy()
    if "f_star" not in hist.columns:
        hist["f_star"] = np.nan
    hist["f_prev"] = hist.groupby("run_id", sort=False)["f"].shift(1)
    return hist.drop_duplicates(["run_id", "iter"], keep="last")


def tightness(curves: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Per (run_id, bound) of the curves table: ``tightness`` (max ratio, module docstring), ``tight_iter``
    (where it is reached, -1 if nowhere) and ``ratio_points`` (how many points entered the maximum)."""
    from testbed.theory.catalogue import RTOL

    columns = ["run_id", "bound", "tightness", "tight_iter", "ratio_points"]
    if curves is None or len(curves) == 0:
        return pd.DataFrame(columns=columns)
    require_columns("curves", curves, ("run_id", "bound", "iter", "bound_value", "observed"))
    df = curves[["run_id", "bound", "iter", "bound_value", "observed"]].copy()
    if results is not None and len(results) and {"run_id", "iter", "f"} <= set(results.columns):
        df = df.merge(_history_f(results), on=["run_id", "iter"], how="left")
    else:
        df["f"], df["f_prev"], df["f_star"] = np.nan, np.nan, np.nan
    steps = {b: is_f_value_step(b) for b in df["bound"].unique()}
    step = df["bound"].map(steps).to_numpy(dtype=bool)
    bound = df["bound_value"].to_numpy(dtype=np.float64)
    observed = df["observed"].to_numpy(dtype=np.float64)
    f, f_prev = df["f"].to_numpy(dtype=np.float64), df["f_prev"].to_numpy(dtype=np.float64)
    f_star = pd.to_numeric(df["f_star"], errors="coerce").to_numpy(dtype=np.float64)
    scale = np.ones(len(df))
    for part in (f, f_star, observed, bound, f_prev):
        scale = np.fmax(scale, np.where(np.isfinite(part), np.abs(part), 0.0))
    tol = RTOL * scale
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        guaranteed, actual = f_prev - bound, f_prev - observed
        step_ratio = np.where(actual > 0, guaranteed / actual, np.inf)
        plain_ratio = np.where(np.isfinite(observed), observed / bound, np.inf)
    ratio = np.where(step, step_ratio, plain_ratio)
    rhs = np.where(step, guaranteed, bound)
    usable = (df["iter"].to_numpy(dtype=np.float64) >= FIRST_ITER) & np.isfinite(rhs) & (rhs > tol)
    df["ratio"] = np.where(usable, ratio, np.nan)
    rows = []
    for (run_id, name), grp in df.groupby(["run_id", "bound"], sort=True):
        values = grp["ratio"].to_numpy(dtype=np.float64)
        ok = ~np.isnan(values)
        if not ok.any():
            rows.append((run_id, name, np.nan, -1, 0))
            continue
        k = int(np.flatnonzero(ok)[np.argmax(values[ok])])
        rows.append((run_id, name, float(values[k]), int(grp["iter"].iloc[k]), int(ok.sum())))
    out = pd.DataFrame(rows, columns=columns)
    out["tight_iter"] = out["tight_iter"].astype(np.int64)
    out["ratio_points"] = out["ratio_points"].astype(np.int64)
    return out
