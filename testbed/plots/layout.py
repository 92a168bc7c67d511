"""Panels, lines with spread bands and the shared legend used by the curve figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from testbed.plots.style import new_figure

__all__ = ["AXIS_LABELS", "BAND_LABELS", "draw_band_lines", "figure_legend", "panel_grid"]

#: Axis labels of the x columns a curve can be drawn against.
AXIS_LABELS = {
    "iter": "iteration t",
    "grad_evals": "gradient evaluations",
    "f_evals": "function evaluations",
    "epochs": "epochs",
    "time_s": "wall time (s)",
}

BAND_LABELS = {"minmax": "band: min–max over seeds", "iqr": "band: interquartile range over seeds"}


def panel_grid(
    n: int, ncols: int = 3, width: float = 4.0, height: float = 3.0, legend_width: float = 2.6
) -> tuple[Any, list[Any]]:
    """A figure with ``n`` panels on a grid of at most ``ncols`` columns (room on the right for a legend)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = new_figure(width * ncols + legend_width, height * nrows + 0.6)
    grid = fig.subplots(nrows, ncols, squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def draw_band_lines(
    ax: Any,
    agg: pd.DataFrame,
    x: str,
    hue: str,
    colors: dict[str, Any],
    linestyle: str = "-",
    band_alpha: float = 0.18,
) -> None:
    """Draw one line per ``hue`` value of an :func:`~testbed.plots.data.aggregate_seeds` table, with its band.

    Each line's label is its hue value, so tests and legends can find it.
    """
    for label, grp in agg.groupby(hue, sort=True):
        color = colors[str(label)]
        xs = grp[x].to_numpy(dtype=np.float64)
        ax.plot(xs, grp["center"].to_numpy(dtype=np.float64), color=color, linestyle=linestyle, label=str(label))
        lo, hi = grp["lo"].to_numpy(dtype=np.float64), grp["hi"].to_numpy(dtype=np.float64)
        if np.any(np.isfinite(lo) & np.isfinite(hi) & (hi > lo)):
            ax.fill_between(xs, lo, hi, color=color, alpha=band_alpha, linewidth=0, step=None)


def figure_legend(fig: Any, entries: Sequence[tuple[str, dict[str, Any]]], title: str | None = None) -> Any:
    """A legend right of the panels; ``entries`` are (label, Line2D keyword arguments) pairs."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **kwargs) for _, kwargs in entries]
    labels = [label for label, _ in entries]
    return fig.legend(handles, labels, loc="outside right upper", title=title, alignment="left")
