"""Panels, lines with spread bands, the cost-axis scale and the shared legend used by the curve figures.

Cost axis (:func:`scale_x`). Iterations, gradient evaluations, epochs and time are drawn on a linear axis
unless the lines of a panel end more than ``LOG_X_SPAN`` = 100 times apart (two decades: Newton's 21
gradient evaluations next to gradient descent's 20000 would be squashed against the axis). Then the axis
is symmetric-log (matplotlib's ``symlog``): logarithmic above ``linthresh``, linear between 0 and
``linthresh``, so the start x = 0 stays on the axis. ``linthresh`` is the decade at or below the smallest
positive x of the panel: 1 for counts (iterations, evaluations), so every count >= 1 is on the log part.
The axis label says "log scale above ...".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from testbed.plots.style import new_figure

__all__ = [
    "AXIS_LABELS",
    "BAND_LABELS",
    "LOG_X_SPAN",
    "draw_band_lines",
    "figure_legend",
    "legend_entry",
    "panel_grid",
    "scale_x",
]

#: Axis labels of the x columns a curve can be drawn against.
AXIS_LABELS = {
    "iter": "iteration t",
    "grad_evals": "gradient evaluations",
    "f_evals": "function evaluations",
    "epochs": "epochs",
    "time_s": "wall time (s)",
}

BAND_LABELS = {"minmax": "band: min–max over seeds", "iqr": "band: interquartile range over seeds"}

#: A panel's x axis turns symmetric-log when its lines end more than this factor apart (module docstring).
LOG_X_SPAN = 100.0

#: Spacing of the sparse markers along a line, as a fraction of the axes diagonal (matplotlib's markevery).
_MARK_STEP = 0.11


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


def _style(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {"color": value, "marker": None}


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

    ``colors`` maps each hue value to a colour or to a style {"color", "marker"}
    (:func:`~testbed.plots.style.config_styles`); markers are drawn sparsely, staggered between lines so
    they do not sit on top of each other. Each line's label is its hue value, so tests and legends can find it.
    """
    for i, (label, grp) in enumerate(agg.groupby(hue, sort=True)):
        style = _style(colors[str(label)])
        color = style["color"]
        xs = grp[x].to_numpy(dtype=np.float64)
        marks = {}
        if style.get("marker"):
            start = (0.013 * (i % 8)) % _MARK_STEP
            marks = {"marker": style["marker"], "markevery": (start, _MARK_STEP), "markersize": 5,
                     "markeredgewidth": 0.8, "markeredgecolor": "white"}
        ax.plot(xs, grp["center"].to_numpy(dtype=np.float64), color=color, linestyle=linestyle, label=str(label),
                **marks)
        lo, hi = grp["lo"].to_numpy(dtype=np.float64), grp["hi"].to_numpy(dtype=np.float64)
        if np.any(np.isfinite(lo) & np.isfinite(hi) & (hi > lo)):
            ax.fill_between(xs, lo, hi, color=color, alpha=band_alpha, linewidth=0, step=None)


def legend_entry(style: Any, linewidth: float = 2.0) -> dict[str, Any]:
    """Line2D keyword arguments of a configuration's legend entry (its colour, and its marker if it has one)."""
    style = _style(style)
    entry = {"color": style["color"], "linewidth": linewidth}
    if style.get("marker"):
        entry.update(marker=style["marker"], markersize=6, markeredgecolor="white", markeredgewidth=0.8)
    return entry


def scale_x(ax: Any, agg: pd.DataFrame, x: str, by: str = "config") -> bool:
    """Make ``ax``'s x axis symmetric-log when the lines of ``agg`` (one per ``by`` value) end more than
    :data:`LOG_X_SPAN` times apart (module docstring); returns whether it did. Call it after drawing."""
    xs = agg[x].to_numpy(dtype=np.float64)
    finite = np.isfinite(xs)
    if not finite.any():
        return False
    ends = agg[finite].groupby(by, sort=False)[x].max().to_numpy(dtype=np.float64)
    ends = ends[ends > 0]
    positive = xs[finite & (xs > 0)]
    if ends.size < 2 or ends.max() <= LOG_X_SPAN * ends.min():
        return False
    linthresh = float(10.0 ** np.floor(np.log10(positive.min())))
    ax.set_xscale("symlog", linthresh=linthresh, linscale=0.4)
    ax.set_xlim(left=float(xs[finite].min()))
    label = ax.get_xlabel() or AXIS_LABELS.get(x, x)
    ax.set_xlabel(f"{label}  (log scale above {linthresh:g})")
    return True


def figure_legend(fig: Any, entries: Sequence[tuple[str, dict[str, Any]]], title: str | None = None) -> Any:
    """A legend right of the panels; ``entries`` are (label, Line2D keyword arguments) pairs."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **kwargs) for _, kwargs in entries]
    labels = [label for label, _ in entries]
    return fig.legend(handles, labels, loc="outside right upper", title=title, alignment="left")
