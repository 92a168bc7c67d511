"""Suboptimality f(x) - f* against iterations, gradient evaluations or wall time, under its theoretical bounds.

Where the certified optimum f* is unknown the panel shows f(x) - min f, the
smallest f observed on that problem over all runs, and its y label says so
(a relative picture, not a distance to the optimum; the points attaining
that minimum have gap 0 and are left out). With a certified f*, gaps at or
below 1e-16 * max(1, |f*|) (f* reached up to roundoff) are drawn at that floor.
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
from testbed.plots.data import BANDS, NoDataError, bound_lines, gap_to_reference, select
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
    df, certified = gap_to_reference(df)
    lines = bound_lines(curves, df, x, "f_gap", bounds) if curves is not None and "f_gap" in df.columns else None

    def ylabel(problem: str) -> str:
        return "f(x) − f*" if bool(certified.get(problem, False)) else "f(x) − min observed f  (f* unknown)"

    title = f"Suboptimality against {AXIS_LABELS[x]}"
    if lines is not None and len(lines):
        title += " (dashed: theoretical bounds)"
    return log_curve_figure(df, x, "gap", ylabel=ylabel, title=title, bounds=lines, band=band, ncols=ncols)
