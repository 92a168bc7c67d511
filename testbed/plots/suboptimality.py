"""Suboptimality f(x) - f* against iterations, gradient evaluations or wall time, under its theoretical bounds.

Where the certified optimum f* is unknown the panel shows f(x) - f_L with
f_L = (min f observed on that problem) - delta, delta = target * (f_0 - min f)
(:func:`~testbed.plots.data.gap_to_reference`): a relative picture, not a
distance to the optimum, whose curves cannot go below delta (the dotted line)
instead of plunging to 0 at the end of the best run; the y label says so.
With a certified f*, gaps at or below 1e-16 * max(1, |f*|) (f* reached up to
roundoff) are drawn at that floor.
The bound curves of the certificates (e.g. the lecture's
2L||x0 - x*||^2 / (t + 4) for gradient descent with step 1/L, the tight
L||x0 - x*||^2 / (4t + 2) of Drori & Teboulle, linear rates under strong
convexity) are drawn dashed, so each empirical curve is seen under its bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from problems._validate import check_choice, check_int
from testbed.plots.curves import log_curve_figure
from testbed.plots.data import BANDS, DEFAULT_TARGET, NoDataError, bound_lines, gap_to_reference, select
from testbed.plots.layout import AXIS_LABELS
from testbed.profiles import require_columns

__all__ = ["suboptimality"]


def suboptimality(
    results: pd.DataFrame,
    x: str = "iter",
    curves: pd.DataFrame | None = None,
    band: str = "minmax",
    problems: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
    ncols: int = 3,
    bounds: Sequence[str] | None = None,
    target: float = DEFAULT_TARGET,
) -> Any:
    """Figure of f(x_t) - f* (log scale) against ``x``, one panel per problem, one line per configuration.

    Parameters
    ----------
    results : tidy history table (``testbed.storage.load_results``).
    x : ``"iter"``, ``"grad_evals"``, ``"f_evals"``, ``"epochs"`` or ``"time_s"``.
    curves : bound curves (``load_curves``); bounds on f - f* are drawn dashed. None draws none.
    band : ``"minmax"`` (min–max over seeds) or ``"iqr"`` (interquartile range).
    problems, configs : restrict to these labels (None: all).
    ncols : panels per row.
    bounds : names of the bounds to draw (None: every bound on f - f* found in ``curves``).
    target : relative target; where f* is unknown, the margin delta = target * (f_0 - min f) of f_L.

    Returns a :class:`matplotlib.figure.Figure`. Raises :class:`~testbed.plots.data.NoDataError`
    when nothing is left to draw.
    """
    check_choice("x", x, tuple(AXIS_LABELS))
    check_choice("band", band, BANDS)
    ncols = check_int("ncols", ncols, low=1)
    require_columns("results", results, ("run_id", "problem", "config", "status", "iter", "f", "f_star", x))
    df = select(results, problems, configs)
    if df.empty:
        raise NoDataError("results: no rows to plot")
    df, certified = gap_to_reference(df, target=target)
    lines = bound_lines(curves, df, x, "f_gap", bounds) if curves is not None and "f_gap" in df.columns else None
    deltas = df.groupby("problem")["gap_floor"].first()
    floors = {str(p): (float(deltas[p]), f"δ = {target:g}·(f(x₀) − min f): floor of f − f_L (f* unknown)")
              for p in deltas.index if not bool(certified.get(p, False))}

    def ylabel(problem: str) -> str:
        if bool(certified.get(problem, False)):
            return "f(x) − f*"
        return "f(x) − f_L  (f* unknown;\nf_L = min observed f − δ)"

    title = f"Suboptimality against {AXIS_LABELS[x]}"
    if lines is not None and len(lines):
        title += " (dashed: theoretical bounds)"
    return log_curve_figure(df, x, "gap", ylabel=ylabel, title=title, bounds=lines, band=band, ncols=ncols,
                            floors=floors)
