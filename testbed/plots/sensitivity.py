"""Step-size sensitivity: final performance against the learning rate, one line per optimizer.

After DeepOBS (Schneider, Balles & Hennig, "DeepOBS: A Deep Learning Optimizer
Benchmark Suite", ICLR 2019), which plots final performance against the
learning rate to show how much tuning an optimizer needs.

Per problem and configuration the final value is averaged over seeds: the
final gap f - f* where f* is certified, else the final loss f. A configuration
counts as diverged when any of its seeds diverged, errored or ended with a
non-finite value. When an optimizer has several configurations with the same
learning rate (other hyperparameters on a grid), the point shows the best one
that did not diverge; a learning rate at which every configuration diverged is
drawn as a cross at the top of the panel. Final gaps <= 0 are drawn at 1e-16.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from problems._validate import check_int
from testbed.plots.data import GAP_FLOOR, NoDataError, select
from testbed.plots.layout import figure_legend, panel_grid
from testbed.plots.style import palette, suptitle, themed
from testbed.profiles import require_columns

__all__ = ["lr_sensitivity", "sensitivity_table"]

FAILED = ("diverged", "error")
MARKERS = ("o", "s", "^", "D", "v", "P", "<", ">", "p", "h")


def sensitivity_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per problem, optimizer and learning rate: the plotted value (module docstring).

    Columns: problem, optimizer, base_lr, metric ("f_gap" or "f"), value (NaN when
    diverged), diverged (bool), config (the configuration shown, "" when diverged).
    """
    require_columns("runs", runs, ("problem", "optimizer", "config", "status", "base_lr", "f", "f_gap", "f_star"))
    df = runs[np.isfinite(pd.to_numeric(runs["base_lr"], errors="coerce").to_numpy(dtype=np.float64))].copy()
    if df.empty:
        return pd.DataFrame(columns=["problem", "optimizer", "base_lr", "metric", "value", "diverged", "config"])
    certified = df.groupby("problem")["f_star"].transform(lambda s: np.isfinite(s.to_numpy(dtype=np.float64)).any())
    df["metric"] = np.where(certified, "f_gap", "f")
    df["value"] = np.where(certified, df["f_gap"].to_numpy(dtype=np.float64), df["f"].to_numpy(dtype=np.float64))
    df["failed"] = df["status"].isin(FAILED) | ~np.isfinite(df["value"].to_numpy(dtype=np.float64))
    per_config = (
        df.groupby(["problem", "optimizer", "config"], sort=True)
        .agg(
            base_lr=("base_lr", "first"), metric=("metric", "first"), value=("value", "mean"), failed=("failed", "any")
        )
        .reset_index()
    )
    rows = []
    for (problem, optimizer, lr), grp in per_config.groupby(["problem", "optimizer", "base_lr"], sort=True):
        ok = grp[~grp["failed"]]
        metric = grp["metric"].iloc[0]
        if len(ok):
            best = ok.sort_values(["value", "config"], kind="mergesort").iloc[0]
            rows.append((problem, optimizer, float(lr), metric, float(best["value"]), False, str(best["config"])))
        else:
            rows.append((problem, optimizer, float(lr), metric, np.nan, True, ""))
    return pd.DataFrame(rows, columns=["problem", "optimizer", "base_lr", "metric", "value", "diverged", "config"])


def lr_sensitivity(
    runs: pd.DataFrame, problems: Sequence[str] | None = None, ncols: int = 3
) -> Any:
    """Figure of the final gap (or final loss where f* is unknown) against the learning rate (log x),
    one panel per problem, one line per optimizer; diverged learning rates are crosses at the top.

    ``runs`` is the one-row-per-run table (``testbed.storage.load_runs``).
    Raises :class:`~testbed.plots.data.NoDataError` when no run has a learning rate.
    """
    ncols = check_int("ncols", ncols, low=1)
    table = sensitivity_table(select(runs, problems))
    if table.empty:
        raise NoDataError("step-size sensitivity: no run has a learning rate")
    colors = palette(table["optimizer"].astype(str))
    # Distinct open markers: optimizers sharing a learning rate (e.g. all at 1/L) stay visible on top of each other.
    markers = {o: MARKERS[i % len(MARKERS)] for i, o in enumerate(sorted(colors))}
    problems_drawn = sorted(table["problem"].unique())
    with themed():
        fig, axes = panel_grid(len(problems_drawn), ncols=ncols)
        any_diverged = False
        for ax, problem in zip(axes, problems_drawn, strict=True):
            sub = table[table["problem"] == problem]
            metric = sub["metric"].iloc[0]
            floor = GAP_FLOOR if metric == "f_gap" else None
            for optimizer, grp in sub.groupby("optimizer", sort=True):
                grp = grp.sort_values("base_lr")
                good = grp[~grp["diverged"]]
                values = good["value"].to_numpy(dtype=np.float64)
                if floor is not None:
                    values = np.maximum(values, floor)
                ax.plot(good["base_lr"], values, marker=markers[str(optimizer)], markersize=6, markerfacecolor="none",
                        markeredgewidth=1.4, color=colors[str(optimizer)],
                        label=str(optimizer))
                bad = grp[grp["diverged"]]
                if len(bad):
                    any_diverged = True
                    ax.plot(bad["base_lr"], np.full(len(bad), 0.96), linestyle="none", marker="X", markersize=8,
                            color=colors[str(optimizer)], markeredgecolor="black",
                            transform=ax.get_xaxis_transform(), clip_on=False, label=f"{optimizer} diverged")
            ax.set_xscale("log")
            values = sub["value"].to_numpy(dtype=np.float64)
            finite = values[np.isfinite(values)]
            if metric == "f_gap" or (finite.size and np.all(finite > 0)):
                ax.set_yscale("log")
            ax.set_title(problem)
            ax.set_xlabel("learning rate (base_lr)")
            gap_label, loss_label = "final f(x) − f*  (mean over seeds)", "final loss f(x)  (f* unknown)"
            ax.set_ylabel(gap_label if metric == "f_gap" else loss_label)
        entries = [(o, {"color": colors[o], "marker": markers[o], "markersize": 6, "markerfacecolor": "none",
                        "markeredgewidth": 1.4}) for o in sorted(colors)]
        if any_diverged:
            entries.append(("diverged (at top)", {"color": "0.5", "marker": "X", "linestyle": "none",
                                                  "markeredgecolor": "black", "markersize": 8}))
        figure_legend(fig, entries, title="optimizer")
        suptitle(fig, "Step-size sensitivity: final value against learning rate\n"
                 "best configuration per learning rate; a configuration diverged if any seed did")
    return fig
