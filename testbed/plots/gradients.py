"""Gradient norm against iterations, and the descent lemma's slack per iteration.

Descent lemma (lecture 8; Nesterov, "Introductory Lectures on Convex
Optimization", 2004, Lemma 1.2.3): for L-smooth f,
f(y) <= f(x) + <grad f(x), y - x> + L/2 ||y - x||^2, so a gradient step
x_{t+1} = x_t - eta grad f(x_t) decreases f by at least
eta (1 - L eta / 2) ||grad f(x_t)||^2, which for eta = 1/L is the lecture's

    f(x_{t+1}) <= f(x_t) - ||grad f(x_t)||^2 / (2L).

The slack plotted is f(x_t) - f(x_{t+1}) - (guaranteed decrease): >= 0 when the
guarantee holds, negative where it fails (shaded). ``decrease="lecture"`` uses
||g_t||^2 / (2L) (guaranteed for gradient descent with step exactly 1/L);
``decrease="step"`` uses the step actually taken, eta_t (1 - L eta_t / 2) ||g_t||^2
(the descent lemma at y = x_t - eta_t g_t: guaranteed for a gradient step of any
size, so a negative value means L understates the smoothness along the path, or
the step was not a plain gradient step). It is computed from consecutive
recorded iterations only (t and t + 1 both in the history).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from problems._validate import check_choice, check_int
from testbed.plots.curves import log_curve_figure
from testbed.plots.data import BANDS, NoDataError, aggregate_seeds, bound_lines, constrained_problems, select
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
from testbed.profiles import require_columns

__all__ = ["CONSTRAINED_NOTE", "descent_slack", "descent_slack_table", "grad_norm"]

DECREASES = ("lecture", "step")

#: Subtitle of a gradient-norm panel of a constrained problem: at a constrained optimum grad f(x*) is a
#: normal vector of the feasible set, not 0, so the curve flattens at ||grad f(x*)|| > 0.
CONSTRAINED_NOTE = "constrained problem: ‖∇f‖ does not go to 0; see f − f*"


def grad_norm(
    results: pd.DataFrame,
    x: str = "iter",
    curves: pd.DataFrame | None = None,
    band: str = "minmax",
    problems: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
    ncols: int = 3,
    bounds: Sequence[str] | None = None,
    constrained: Sequence[str] | None = None,
) -> Any:
    """Figure of ||grad f(x_t)|| (log scale) against ``x`` per problem, one line per configuration.

    Same layout, seed aggregation and options as
    :func:`~testbed.plots.suboptimality.suboptimality`; bound curves on the
    gradient norm from ``curves`` are drawn dashed (only those named in ``bounds``, when given).
    ``constrained`` names the problems with a feasible set (None: found from the ``family`` column,
    :func:`~testbed.plots.data.constrained_problems`): their panels say that ||grad f|| does not go to 0
    there (:data:`CONSTRAINED_NOTE`), since at a constrained optimum the gradient is not 0.
    """
    check_choice("x", x, tuple(AXIS_LABELS))
    check_choice("band", band, BANDS)
    ncols = check_int("ncols", ncols, low=1)
    require_columns("results", results, ("run_id", "problem", "config", "status", "iter", "grad_norm", x))
    df = select(results, problems, configs)
    if df.empty:
        raise NoDataError("results: no rows to plot")
    lines = bound_lines(curves, df, x, "grad_norm", bounds) if curves is not None else None
    title = f"Gradient norm against {AXIS_LABELS[x]}"
    boxed = set(constrained_problems(df) if constrained is None else [str(p) for p in constrained])
    if boxed & set(df["problem"].astype(str)):
        title += " (on constrained problems it tends to ‖∇f(x*)‖ > 0, not to 0)"

    def ylabel(problem: str) -> str:
        return "‖∇f(x)‖  (does not go to 0)" if problem in boxed else "‖∇f(x)‖"

    return log_curve_figure(
        df, x, "grad_norm", ylabel=ylabel, title=title, bounds=lines, band=band, ncols=ncols,
        notes={p: CONSTRAINED_NOTE for p in boxed},
    )


def descent_slack_table(results: pd.DataFrame, decrease: str = "lecture") -> pd.DataFrame:
    """Per run and iteration t with t + 1 also recorded: the descent-lemma slack (module docstring).

    Returns run_id, problem, config, status, iter, slack, tol. ``tol`` is the floating-point tolerance of the
    comparison, RTOL * max(1, |f(x_t)|, |f(x_t+1)|) with the certificates' RTOL (:mod:`testbed.theory.catalogue`):
    f(x_t) - f(x_t+1) cannot be resolved more finely, so |slack| <= tol is zero up to round-off.
    Runs without a finite L are left out.
    """
    from testbed.theory.catalogue import RTOL

    check_choice("decrease", decrease, DECREASES)
    needed = ["run_id", "problem", "config", "status", "iter", "f", "grad_norm", "L"]
    require_columns("results", results, [*needed, "lr"] if decrease == "step" else needed)
    df = results[np.isfinite(pd.to_numeric(results["L"], errors="coerce").to_numpy(dtype=np.float64))]
    df = df.sort_values(["run_id", "iter"], kind="mergesort")
    same_run = df["run_id"].to_numpy()[1:] == df["run_id"].to_numpy()[:-1]
    it = df["iter"].to_numpy(dtype=np.float64)
    f = df["f"].to_numpy(dtype=np.float64)
    g2 = df["grad_norm"].to_numpy(dtype=np.float64) ** 2
    L = df["L"].to_numpy(dtype=np.float64)
    if decrease == "lecture":
        guaranteed = g2 / (2.0 * L)
    else:
        eta = df["lr"].to_numpy(dtype=np.float64)
        guaranteed = eta * (1.0 - L * eta / 2.0) * g2
    ok = same_run & (it[1:] == it[:-1] + 1)
    with np.errstate(invalid="ignore", over="ignore"):
        slack = f[:-1] - f[1:] - guaranteed[:-1]
    scale = np.maximum(1.0, np.maximum(np.abs(f[:-1]), np.abs(f[1:])))
    head = df.iloc[:-1][ok][["run_id", "problem", "config", "status", "iter"]].reset_index(drop=True)
    head["slack"] = slack[ok]
    head["tol"] = RTOL * scale[ok]
    return head


def _sparse_symlog_ticks(ax: Any, linthresh: float, per_side: int = 4) -> None:
    """At most ``per_side`` decade ticks on each side of 0 (every decade labelled would overlap)."""
    from matplotlib.ticker import NullLocator

    bottom, top = ax.get_ylim()
    lo = int(np.ceil(np.log10(linthresh))) + 1  # not at +-linthresh itself: those labels would overlap 0
    ticks = [0.0]
    for sign, end in ((1.0, top), (-1.0, -bottom)):
        if end > linthresh:
            decades = np.arange(lo, int(np.floor(np.log10(end))) + 1)
            stride = max(1, int(np.ceil(len(decades) / per_side)))
            ticks += [sign * 10.0 ** float(k) for k in decades[::-1][::stride]]
    ax.set_yticks(sorted(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylim(bottom, top)


def descent_slack(
    results: pd.DataFrame,
    decrease: str = "lecture",
    band: str = "minmax",
    problems: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
    ncols: int = 3,
) -> Any:
    """Figure of the descent-lemma slack per iteration (symmetric-log y, negative = guarantee failed).

    One panel per problem with a known L, one line per configuration (mean over
    seeds with a band). ``decrease`` is ``"lecture"`` or ``"step"`` (see the module docstring).
    """
    check_choice("band", band, BANDS)
    ncols = check_int("ncols", ncols, low=1)
    table = descent_slack_table(select(results, problems, configs), decrease)
    table = table[np.isfinite(table["slack"].to_numpy(dtype=np.float64))]
    if table.empty:
        raise NoDataError("descent-lemma slack: no run has a finite L and two consecutive recorded iterations")
    agg = aggregate_seeds(table, "iter", "slack", band=band)
    styles = config_styles(results)
    problems_drawn = sorted(agg["problem"].unique())
    guarantee = "‖∇f(x_t)‖²/(2L)" if decrease == "lecture" else "η_t(1 − Lη_t/2)‖∇f(x_t)‖²"
    with themed():
        fig, axes = panel_grid(len(problems_drawn), ncols=ncols)
        for ax, problem in zip(axes, problems_drawn, strict=True):
            sub = agg[agg["problem"] == problem]
            rows = table[table["problem"] == problem]
            # Linear within the round-off tolerance: differences of f that float64 cannot resolve read as zero.
            linthresh = float(10.0 ** np.ceil(np.log10(rows["tol"].max())))
            draw_band_lines(ax, sub, "iter", "config", styles)
            ax.set_yscale("symlog", linthresh=linthresh)
            ax.axhline(0.0, color="0.2", linewidth=0.9)
            bottom, top = ax.get_ylim()
            if bottom < 0:
                ax.axhspan(bottom, 0.0, color="tab:red", alpha=0.07, linewidth=0)
                ax.set_ylim(bottom, top)
            _sparse_symlog_ticks(ax, linthresh)
            ax.set_title(problem)
            ax.set_xlabel(AXIS_LABELS["iter"])
            ax.set_ylabel("slack")
            scale_x(ax, sub, "iter")
        bad = (table["slack"] < -table["tol"]).groupby(table["config"].astype(str)).agg(["sum", "size"])
        drawn = set(agg["config"].astype(str))
        entries = [(f"{c}: {int(bad.loc[c, 'sum'])}/{int(bad.loc[c, 'size'])} steps < 0", legend_entry(styles[c]))
                   for c in styles if c in drawn]
        figure_legend(fig, entries, title="configuration\n(steps with slack < 0 beyond round-off)")
        suptitle(
            fig,
            f"Descent-lemma slack f(x_t) − f(x_t+1) − {guarantee} (≥ 0 where the guaranteed decrease holds; "
            f"shaded: < 0)\nline: mean over seeds, {BAND_LABELS[band]}; symmetric log y, linear within the "
            "round-off tolerance 1e-12·max(1, |f|)",
        )
    return fig
