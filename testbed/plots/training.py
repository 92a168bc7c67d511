"""Empirical-risk-minimisation curves: training and test loss, training and test accuracy.

For the ERM problems (logistic regression, MLP) whose runs carry the monitor
columns ``test_f``, ``train_acc`` and ``test_acc``. One row of panels per
problem: loss on the left (training f solid, test loss dashed; log y when it
spans more than a decade), accuracy on the right (training solid, test
dashed). Lines are means over seeds with a band, as in :mod:`testbed.plots.data`.
A monitor that was not recorded is said so in the panel.

Accuracy y-range: accuracies start near chance and end close to each other
(0.95 against 0.97), which a 0-1 range hides. The y limits are set from the
data the lines show after their first quarter (each line's last 3/4 of its x
extent), with a margin of 10% of that range (at least 0.005): the early rise
may leave through the bottom, which the panel title then says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from problems._validate import check_choice
from testbed.plots.data import BANDS, NoDataError, aggregate_seeds, select
from testbed.plots.layout import AXIS_LABELS, BAND_LABELS, draw_band_lines, figure_legend, legend_entry, scale_x
from testbed.plots.style import config_styles, new_figure, suptitle, themed
from testbed.profiles import require_columns

__all__ = ["MONITORS", "accuracy_limits", "training_curves"]

#: Monitor columns this figure looks for.
MONITORS = ("test_f", "train_acc", "test_acc")

#: Share of each line's x extent left out when setting the accuracy y limits (the early rise from chance).
_ACC_SKIP = 0.25


def accuracy_limits(aggs: list[pd.DataFrame], x: str) -> tuple[float, float, bool] | None:
    """The y limits of an accuracy panel from its :func:`~testbed.plots.data.aggregate_seeds` tables (module
    docstring), and whether some drawn value lies below them; None when there is nothing finite."""
    lows, highs, all_lo = [], [], []
    for agg in aggs:
        for _, grp in agg.groupby("config", sort=False):
            xs = grp[x].to_numpy(dtype=np.float64)
            lo, hi = grp["lo"].to_numpy(dtype=np.float64), grp["hi"].to_numpy(dtype=np.float64)
            ok = np.isfinite(xs) & np.isfinite(lo) & np.isfinite(hi)
            if not ok.any():
                continue
            xs, lo, hi = xs[ok], lo[ok], hi[ok]
            late = xs >= xs.min() + _ACC_SKIP * (xs.max() - xs.min())
            lows.append(lo[late].min())
            highs.append(hi[late].max())
            all_lo.append(lo.min())
    if not lows:
        return None
    bottom, top = float(min(lows)), float(max(highs))
    margin = max(0.1 * (top - bottom), 0.005)
    return bottom - margin, top + margin, bool(min(all_lo) < bottom - margin)


def _erm_problems(df: pd.DataFrame) -> list[str]:
    present = [c for c in MONITORS if c in df.columns]
    if not present:
        return []
    has = df[present].notna().any(axis=1)
    return sorted(df.loc[has, "problem"].astype(str).unique())


def training_curves(
    results: pd.DataFrame,
    x: str = "epochs",
    band: str = "minmax",
    problems: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
) -> Any:
    """Figure of training/test loss and training/test accuracy against ``x`` for the ERM problems.

    Only problems with at least one non-missing monitor column are drawn;
    raises :class:`~testbed.plots.data.NoDataError` when there are none.
    """
    check_choice("x", x, tuple(AXIS_LABELS))
    check_choice("band", band, BANDS)
    require_columns("results", results, ("run_id", "problem", "config", "f", x))
    df = select(results, problems, configs)
    erm = _erm_problems(df)
    if not erm:
        raise NoDataError("training curves: no run has the monitor columns test_f, train_acc or test_acc")
    df = df[df["problem"].isin(erm)]
    styles = config_styles(df)
    with themed():
        fig = new_figure(2 * 4.2 + 2.8, 3.1 * len(erm) + 0.6)
        axes = fig.subplots(len(erm), 2, squeeze=False)
        for (ax_loss, ax_acc), problem in zip(axes, erm, strict=True):
            sub = df[df["problem"] == problem]
            drawn: dict[str, list[pd.DataFrame]] = {"loss": [], "acc": []}
            for column, ax, style in (("f", ax_loss, "-"), ("test_f", ax_loss, "--"),
                                      ("train_acc", ax_acc, "-"), ("test_acc", ax_acc, "--")):
                if column not in sub.columns or sub[column].isna().all():
                    continue
                agg = aggregate_seeds(sub.dropna(subset=[column]), x, column, band=band)
                draw_band_lines(ax, agg, x, "config", styles, linestyle=style)
                drawn["acc" if ax is ax_acc else "loss"].append(agg)
            for ax in (ax_loss, ax_acc):
                if not ax.get_lines():
                    ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center", color="0.4")
            values = np.concatenate([np.asarray(line.get_ydata(), dtype=np.float64) for line in ax_loss.get_lines()]
                                    or [np.zeros(0)])
            values = values[np.isfinite(values)]
            if values.size and values.min() > 0 and values.max() > 10.0 * values.min():
                ax_loss.set_yscale("log")  # only when the loss spans more than a decade
            missing = [name for name in ("test_f",) if name not in sub.columns or sub[name].isna().all()]
            ax_loss.set_title(f"{problem}: loss" + ("  (test loss not recorded)" if missing else ""))
            ax_loss.set_ylabel("loss")
            limits = accuracy_limits(drawn["acc"], x)
            clipped = ""
            if limits is not None:
                ax_acc.set_ylim(limits[0], limits[1])
                clipped = "\n(y zoomed on the last 3/4 of each run)" if limits[2] else ""
            ax_acc.set_title(f"{problem}: accuracy{clipped}", fontsize=9.5 if clipped else None)
            ax_acc.set_ylabel("accuracy")
            for ax, kind in ((ax_loss, "loss"), (ax_acc, "acc")):
                ax.set_xlabel(AXIS_LABELS[x])
                if drawn[kind]:
                    scale_x(ax, pd.concat(drawn[kind], ignore_index=True), x)
        entries = [(c, legend_entry(style)) for c, style in styles.items()]
        entries += [("training", {"color": "0.3", "linestyle": "-"}), ("test", {"color": "0.3", "linestyle": "--"})]
        figure_legend(fig, entries, title="configuration")
        suptitle(fig, f"Training curves (solid: training set, dashed: test set)\nline: mean over seeds, "
                 f"{BAND_LABELS[band]}")
    return fig
