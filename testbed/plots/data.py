"""Preparing tidy results for plotting: selection, the gap to a reference value, aggregation over seeds.

Aggregation over seeds (:func:`aggregate_seeds`). The runs of one configuration
(same problem and config, different seeds) are put on a common x grid, the
union of their recorded x values. Each run's value at grid point x is its
value at its last recorded x' <= x (what the run had at that moment); after
its last record a run keeps its final value (a stopped run stays where it
stopped; a diverged run stays diverged); before its first record it has none.
The line is the mean over the runs having a value; the band is their min–max
range (``band="minmax"``, the default) or their interquartile range
(``band="iqr"``, 25th to 75th percentile). With one seed, band = line.

Gap to a reference (:func:`gap_to_reference`). With a certified optimum the
plotted gap is f - f*. Without one, f - (min observed f) would be exactly 0 at
the end of the run that found that minimum, so its curve would plunge on a log
axis (an artefact of the reference, not of the run). Instead, in the spirit of
Moré & Wild's f_L (SIAM J. Optim. 20(1), 2009), the reference is a value just
below the best one found,

    f_L = f_min - delta,   delta = target * (f_0 - f_min),

with f_min the smallest f any run recorded on the problem, f_0 the median over
runs of their first recorded f, and ``target`` the report's relative target
(1e-3 by default): the plotted f - f_L is >= delta, approaches delta smoothly
for the best run, and the runs reach the report's target (f <= f_min + target
* (f_0 - f_min), the profiles' test) exactly when their curve is at or below
2 delta. delta is the resolution of such a panel, drawn as a labelled line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from problems._validate import check_choice, check_int
from problems.errors import UserInputError
from testbed.profiles import REFERENCE_CERTIFIED, reference_values, require_columns

__all__ = [
    "BANDS",
    "DEFAULT_TARGET",
    "NoDataError",
    "aggregate_seeds",
    "bound_lines",
    "constrained_problems",
    "gap_to_reference",
    "select",
]

BANDS = ("minmax", "iqr")

#: Smallest gap drawn on a log axis, relative to max(1, |f_ref|): gaps at or below it (the reference
#: reached up to roundoff) are drawn at this floor.
GAP_FLOOR = 1e-16

#: Default relative target: the report's target gap tol * (f(x0) - f_ref), and the margin delta of f_L.
DEFAULT_TARGET = 1e-3


class NoDataError(UserInputError):
    """The tables hold nothing this figure can show (e.g. no ERM monitors, no certificates)."""


def select(
    df: pd.DataFrame, problems: Sequence[str] | None = None, configs: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rows of ``df`` whose problem is in ``problems`` and config in ``configs`` (None keeps all)."""
    for field, wanted in (("problem", problems), ("config", configs)):
        if wanted is None:
            continue
        if isinstance(wanted, str):
            wanted = [wanted]
        have = set(df[field].astype(str))
        unknown = [w for w in wanted if w not in have]
        if unknown:
            raise UserInputError(
                f"{field}s: unknown {field}(s) {', '.join(map(repr, unknown))}; available: {', '.join(sorted(have))}"
            )
        df = df[df[field].isin(list(wanted))]
    return df


def constrained_problems(results: pd.DataFrame) -> list[str]:
    """The problems of ``results`` whose family has a feasible set (:attr:`problems.Problem.is_constrained`,
    i.e. a ``project`` method, such as nnls), judged from the family's default instance
    ``problems.make(family)`` (cheap: no reference optimum is computed). Without a ``family`` column, or for a
    family that cannot be built, the problem counts as unconstrained."""
    import problems

    if "family" not in results.columns or "problem" not in results.columns:
        return []
    found = []
    pairs = results[["problem", "family"]].dropna().drop_duplicates()
    verdicts: dict[str, bool] = {}
    for family in sorted(set(pairs["family"].astype(str))):
        try:
            verdicts[family] = bool(problems.make(family).is_constrained)
        except Exception:  # an unknown or unbuildable family: no claim that it is constrained
            verdicts[family] = False
    for problem, family in pairs.itertuples(index=False):
        if verdicts.get(str(family), False):
            found.append(str(problem))
    return sorted(set(found))


def gap_to_reference(results: pd.DataFrame, target: float = DEFAULT_TARGET) -> tuple[pd.DataFrame, pd.Series]:
    """Add columns ``gap`` and ``gap_floor`` to a copy of ``results``, ready for a log axis (module docstring).

    Where the problem has a certified f* (:func:`testbed.profiles.reference_values`): gap = f - f*, with
    gaps below ``GAP_FLOOR * max(1, |f*|)`` (f* reached up to round-off) set to that floor, which is
    ``gap_floor``. Otherwise gap = f - f_L with f_L = f_min - delta, delta = ``target`` * (f_0 - f_min)
    (at least ``GAP_FLOOR * max(1, |f_min|)``), and ``gap_floor`` = delta: the smallest value the curve can
    take. Returns the table and a Series problem -> True when f_ref is the certified f*.
    """
    from problems._validate import check_float

    target = check_float("target", target, low=0.0, high=1.0, low_open=True, high_open=True)
    require_columns("results", results, ("run_id", "problem", "iter", "f", "f_star"))
    refs = reference_values(results)
    certified = refs["source"] == REFERENCE_CERTIFIED
    out = results.copy()
    starts = out.sort_values(["run_id", "iter"], kind="mergesort").groupby("run_id", sort=False).first()
    f0 = starts.groupby("problem")["f"].median()
    f_min = refs["f_ref"]
    roundoff = GAP_FLOOR * np.maximum(1.0, np.abs(f_min.fillna(0.0)))
    delta = np.fmax(target * (f0.reindex(f_min.index) - f_min), roundoff)
    floor = pd.Series(np.where(certified, roundoff, delta), index=f_min.index)
    shift = pd.Series(np.where(certified, 0.0, delta), index=f_min.index)
    f_ref = out["problem"].map(f_min - shift).to_numpy(dtype=np.float64)
    out["gap_floor"] = out["problem"].map(floor).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        gap = out["f"].to_numpy(dtype=np.float64) - f_ref
        low = np.isfinite(gap) & (gap < out["gap_floor"].to_numpy(dtype=np.float64))
    out["gap"] = np.where(low, out["gap_floor"].to_numpy(dtype=np.float64), gap)
    return out, certified


def aggregate_seeds(
    df: pd.DataFrame,
    x: str,
    y: str,
    by: Sequence[str] = ("problem", "config"),
    band: str = "minmax",
    max_points: int = 2000,
) -> pd.DataFrame:
    """Mean over seeds with a spread band, on a common x grid (rules in the module docstring).

    A grid longer than ``max_points`` is thinned to ``max_points`` points evenly
    spaced by index (first and last kept), which is all a figure can show.
    Returns a tidy DataFrame with the ``by`` columns and ``x``, ``center``,
    ``lo``, ``hi``, ``n`` (number of runs with a value at x).
    """
    check_choice("band", band, BANDS)
    max_points = check_int("max_points", max_points, low=2)
    by = list(by)
    require_columns("results", df, [*by, "run_id", x, y])
    pieces = []
    for key, grp in df.groupby(by, sort=True):
        runs = [r.sort_values(x, kind="mergesort") for _, r in grp.groupby("run_id", sort=True)]
        xs = [r[x].to_numpy(dtype=np.float64) for r in runs]
        ys = [r[y].to_numpy(dtype=np.float64) for r in runs]
        grid = np.unique(np.concatenate(xs))
        grid = grid[np.isfinite(grid)]
        if grid.size == 0:
            continue
        if grid.size > max_points:
            grid = grid[np.unique(np.linspace(0, grid.size - 1, max_points).round().astype(np.int64))]
        values = np.full((len(runs), grid.size), np.nan)
        for i, (rx, ry) in enumerate(zip(xs, ys, strict=True)):
            idx = np.searchsorted(rx, grid, side="right") - 1
            ok = idx >= 0
            values[i, ok] = ry[idx[ok]]
        has = ~np.isnan(values)
        n = has.sum(axis=0)
        keep = n > 0
        values, n, grid = values[:, keep], n[keep], grid[keep]
        with np.errstate(invalid="ignore", over="ignore"):
            center = np.nanmean(values, axis=0)
            if band == "minmax":
                lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
            else:
                lo, hi = np.nanpercentile(values, 25, axis=0), np.nanpercentile(values, 75, axis=0)
        piece = pd.DataFrame({x: grid, "center": center, "lo": lo, "hi": hi, "n": n})
        for name, value in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
            piece[name] = value
        pieces.append(piece[[*by, x, "center", "lo", "hi", "n"]])
    if not pieces:
        return pd.DataFrame(columns=[*by, x, "center", "lo", "hi", "n"])
    return pd.concat(pieces, ignore_index=True)


def bound_lines(
    curves: pd.DataFrame | None,
    results: pd.DataFrame,
    x: str,
    metric: str,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The theoretical bound curves on history column ``metric``, placed on the ``x`` axis.

    ``curves`` is the certificates' curves table (run_id, bound, iter,
    bound_value, observed). A bound is on ``metric`` when the table has a
    ``metric`` column saying so, or else when its ``observed`` values equal the
    run's ``metric`` column at the same iterations (relative tolerance 1e-7).
    x values come from the run's history row with the same ``iter``. Returns
    problem, config, bound, ``x``, bound_value, both averaged over seeds per iteration.
    ``names`` keeps only the bounds so named (None: all).
    """
    out_cols = ["problem", "config", "bound", x, "bound_value"]
    if curves is None or len(curves) == 0:
        return pd.DataFrame(columns=out_cols)
    require_columns("curves", curves, ("run_id", "bound", "iter", "bound_value", "observed"))
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        curves = curves[curves["bound"].isin(names)]
    hist_cols = list(dict.fromkeys(["run_id", "iter", "problem", "config", x, metric]))
    merged = curves.merge(results[hist_cols], on=["run_id", "iter"], how="inner", suffixes=("", "_hist"))
    if merged.empty:
        return pd.DataFrame(columns=out_cols)
    if "metric" in curves.columns:
        keep = merged["metric"].astype(str) == metric
    else:
        obs = merged["observed"].to_numpy(dtype=np.float64)
        ref = merged[metric].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            same = np.isclose(obs, ref, rtol=1e-7, atol=0.0) | (np.isnan(obs) & np.isnan(ref))
        agree = pd.Series(same, index=merged.index).groupby([merged["run_id"], merged["bound"]]).transform("all")
        keep = agree & merged.groupby(["run_id", "bound"])[metric].transform(lambda s: s.notna().any())
    merged = merged[keep.to_numpy(dtype=bool)]
    if merged.empty:
        return pd.DataFrame(columns=out_cols)
    values = ["bound_value"] if x == "iter" else [x, "bound_value"]
    grouped = merged.groupby(["problem", "config", "bound", "iter"], sort=True)[values].mean().reset_index()
    return grouped.sort_values(["problem", "config", "bound", x], kind="mergesort")[out_cols].reset_index(drop=True)
