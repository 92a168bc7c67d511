"""The common figure behind suboptimality and gradient-norm plots: a log-y quantity against a cost axis.

One panel per problem, one line per configuration (mean over seeds, with a
band, see :mod:`testbed.plots.data`), theoretical bounds as dashed lines in the
colour of the configuration they were computed for (one dash pattern per
bound), and a cross at the last finite point of every run that diverged.
Configurations of one optimizer share a hue and differ in lightness and marker
(:func:`~testbed.plots.style.config_styles`); the x axis turns symmetric-log
when the lines of a panel end more than two decades apart
(:func:`~testbed.plots.layout.scale_x`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from testbed.plots.data import NoDataError, aggregate_seeds
from testbed.plots.layout import (
    AXIS_LABELS,
    BAND_LABELS,
    draw_band_lines,
    figure_legend,
    legend_entry,
    panel_grid,
    scale_x,
)
from testbed.plots.style import config_styles, suptitle, themed

__all__ = ["BOUND_DASHES", "log_curve_figure"]

#: Dash patterns for bound lines, assigned to bound names in sorted order.
BOUND_DASHES = ((5, 2), (1.5, 1.5), (6, 2, 1.5, 2), (3, 3), (8, 2, 1.5, 2, 1.5, 2))


def _diverged_points(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The last finite (x, y) of each diverged run."""
    bad = df[df["status"] == "diverged"]
    rows = []
    for _, grp in bad.groupby("run_id", sort=True):
        ok = grp[np.isfinite(grp[y].to_numpy(dtype=np.float64)) & np.isfinite(grp[x].to_numpy(dtype=np.float64))]
        if len(ok):
            last = ok.sort_values(x).iloc[-1]
            rows.append((last["problem"], last["config"], float(last[x]), float(last[y])))
    return pd.DataFrame(rows, columns=["problem", "config", x, y])


def _set_log_limits(ax: Any, sub: pd.DataFrame, diverged_configs: set[str], bound_top: float) -> None:
    """y limits from the data: the smallest band value / 3 up to 3 x the largest value of the runs that did not
    diverge (a diverging curve leaves through the top); bound lines may raise the top by at most 1e4 x."""
    lo = sub["lo"].to_numpy(dtype=np.float64)
    lo = lo[np.isfinite(lo) & (lo > 0)]
    calm = sub[~sub["config"].isin(diverged_configs)]
    ref = calm if len(calm) else sub
    hi = ref["hi"].to_numpy(dtype=np.float64)
    hi = hi[np.isfinite(hi) & (hi > 0)]
    if not lo.size or not hi.size:
        return
    top = float(hi.max())
    if np.isfinite(bound_top):
        top = max(top, min(bound_top, top * 1e4))
    ax.set_ylim(float(lo.min()) / 3.0, top * 3.0)


def log_curve_figure(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    ylabel: Callable[[str], str],
    title: str,
    bounds: pd.DataFrame | None = None,
    band: str = "minmax",
    ncols: int = 3,
    floors: dict[str, tuple[float, str]] | None = None,
    notes: dict[str, str] | None = None,
) -> Any:
    """Draw ``y`` (log scale) against ``x`` for every problem and config of ``df`` (see the module docstring).

    ``ylabel(problem)`` gives each panel's y label; ``bounds`` is a
    :func:`~testbed.plots.data.bound_lines` table or None. ``floors`` maps a problem to (value, legend text)
    of a horizontal dotted line drawn in its panel (e.g. the resolution delta of f - f_L); ``notes`` maps a
    problem to a line added under its panel title.
    """
    agg = aggregate_seeds(df, x, y, band=band)
    agg = agg[np.isfinite(agg["center"].to_numpy(dtype=np.float64))]
    if agg.empty:
        raise NoDataError(f"no finite {y} values to plot against {x}")
    styles = config_styles(df)
    colors = {name: style["color"] for name, style in styles.items()}
    floors, notes = floors or {}, notes or {}
    problems = sorted(agg["problem"].unique())
    diverged = _diverged_points(df, x, y)
    bounds = bounds if bounds is not None else pd.DataFrame(columns=["problem", "config", "bound", x, "bound_value"])
    dashes = {b: BOUND_DASHES[i % len(BOUND_DASHES)] for i, b in enumerate(sorted(bounds["bound"].unique()))}
    with themed():
        fig, axes = panel_grid(len(problems), ncols=ncols)
        for ax, problem in zip(axes, problems, strict=True):
            sub = agg[agg["problem"] == problem]
            draw_band_lines(ax, sub, x, "config", styles)
            bound_top = -np.inf
            for (config, name), grp in bounds[bounds["problem"] == problem].groupby(["config", "bound"], sort=True):
                values = grp["bound_value"].to_numpy(dtype=np.float64)
                ax.plot(grp[x], values, color=colors[str(config)], dashes=dashes[name], linewidth=1.2,
                        label=f"bound: {name} ({config})")
                finite = values[np.isfinite(values) & (values > 0)]
                if finite.size:
                    bound_top = max(bound_top, float(finite.max()))
            marks = diverged[diverged["problem"] == problem]
            ax.set_yscale("log")
            _set_log_limits(ax, sub, set(marks["config"]), bound_top)
            top = ax.get_ylim()[1]
            for _, row in marks.iterrows():  # a point beyond the top is drawn at the top edge
                ax.plot([row[x]], [min(row[y], top)], marker="X", markersize=8, color=colors[str(row["config"])],
                        markeredgecolor="black", linestyle="none", clip_on=False, label=f"diverged ({row['config']})")
            if problem in floors:
                ax.axhline(floors[problem][0], color="0.35", linestyle=":", linewidth=1.1, zorder=1,
                           label=floors[problem][1])
            ax.set_title(problem + (f"\n{notes[problem]}" if problem in notes else ""),
                         fontsize=9.5 if problem in notes else None)
            ax.set_xlabel(AXIS_LABELS.get(x, x))
            ax.set_ylabel(ylabel(problem))
            scale_x(ax, sub, x)
        drawn = set(agg["config"].astype(str))
        entries = [(c, legend_entry(styles[c])) for c in styles if c in drawn]
        entries += [(f"bound: {b}", {"color": "0.3", "dashes": d, "linewidth": 1.2}) for b, d in dashes.items()]
        for text in dict.fromkeys(label for _, label in floors.values()):
            entries.append((text, {"color": "0.35", "linestyle": ":", "linewidth": 1.1}))
        if len(diverged):
            entries.append(("run diverged (last finite point)", {"color": "0.5", "marker": "X", "linestyle": "none",
                                                                  "markeredgecolor": "black", "markersize": 8}))
        figure_legend(fig, entries, title="configuration")
        suptitle(fig, f"{title}\nline: mean over seeds, {BAND_LABELS[band]}")
    return fig
