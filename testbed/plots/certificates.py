"""Certificate heatmap: runs x theoretical bounds, each cell held / violated / not applicable.

A bound within the documented floating-point tolerance (``roundoff`` in the
certificate table) is shown as held. A bound that is applicable but has no
verdict (held is NA, e.g. nothing to check) is shown as not applicable.
When there are more runs than ``max_rows``, the rows are the configurations
instead (seeds merged): violated if any seed violated, held if some seed held
and none violated, else not applicable; the title says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from problems._validate import check_int
from testbed.plots.data import NoDataError
from testbed.plots.style import new_figure, suptitle, themed
from testbed.profiles import require_columns

__all__ = ["STATES", "certificate_heatmap", "certificate_states"]

#: Cell states in display order, with their colours.
STATES = {"not applicable": "#d9d9d9", "held": "#4daf7c", "violated": "#d7301f"}
_CODE = {name: i for i, name in enumerate(STATES)}
_SYMBOL = {"not applicable": "–", "held": "✓", "violated": "✗"}


def certificate_states(certificates: pd.DataFrame) -> pd.DataFrame:
    """A copy of the certificate table with a ``state`` column: "held", "violated" or "not applicable"."""
    require_columns("certificates", certificates, ("run_id", "bound", "applicable", "held", "roundoff"))
    df = certificates.copy()
    applicable = df["applicable"].fillna(False).astype(bool).to_numpy()
    held = df["held"].astype("boolean")
    roundoff = df["roundoff"].fillna(False).astype(bool).to_numpy()
    is_held = held.fillna(False).to_numpy(dtype=bool)
    is_violated = (~held.fillna(True)).to_numpy(dtype=bool)
    state = np.full(len(df), "not applicable", dtype=object)
    state[applicable & (is_held | (is_violated & roundoff))] = "held"
    state[applicable & is_violated & ~roundoff] = "violated"
    df["state"] = state
    return df


def _row_labels(states: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    if runs is not None and {"run_id", "problem", "config"} <= set(runs.columns):
        cols = [c for c in ("run_id", "problem", "config", "seed") if c in runs.columns]
        states = states.drop(columns=[c for c in cols if c != "run_id" and c in states.columns])
        states = states.merge(runs[cols].drop_duplicates("run_id"), on="run_id", how="left")
    for col in ("problem", "config"):
        if col not in states.columns:
            states[col] = ""
        states[col] = states[col].fillna("").astype(str)
    if "seed" not in states.columns:
        states["seed"] = np.nan
    return states


def certificate_heatmap(certificates: pd.DataFrame, runs: pd.DataFrame | None = None, max_rows: int = 60) -> Any:
    """Figure of the certificates as a runs x bounds heatmap (held / violated / not applicable).

    ``certificates`` is ``load_certificates``'s table; ``runs`` (``load_runs``)
    gives readable row labels "problem · config · seed". Rows are sorted by
    problem, config and seed; columns by bound name.
    """
    max_rows = check_int("max_rows", max_rows, low=1)
    if certificates is None or len(certificates) == 0:
        raise NoDataError("certificates: the table is empty")
    states = _row_labels(certificate_states(certificates), runs)
    merged = states["run_id"].nunique() > max_rows
    if merged:
        states["row"] = states["problem"] + " · " + states["config"]
    else:
        seed = states["seed"].map(lambda s: "" if pd.isna(s) else f" · seed {int(s)}")
        label = states["problem"] + " · " + states["config"] + seed
        states["row"] = np.where(states["problem"] == "", states["run_id"].astype(str), label)
    states["code"] = states["state"].map(_CODE)
    states = states.sort_values(["problem", "config", "seed", "run_id"], kind="mergesort")
    rows = list(dict.fromkeys(states["row"]))
    matrix = states.pivot_table(index="row", columns="bound", values="code", aggfunc="max", fill_value=0)
    matrix = matrix.reindex(index=rows, columns=sorted(matrix.columns), fill_value=0)
    values = matrix.to_numpy(dtype=np.float64)
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    nrows, ncols = values.shape
    show_symbols = nrows * ncols <= 600
    with themed():
        fig = new_figure(4.5 + 0.6 * ncols, 1.9 + 0.26 * nrows)
        ax = fig.add_subplot()
        ax.imshow(values, cmap=ListedColormap(list(STATES.values())), vmin=0, vmax=len(STATES) - 1, aspect="auto",
                  interpolation="nearest")
        ax.set_xticks(range(ncols), labels=list(matrix.columns), rotation=35, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(nrows), labels=rows, fontsize=8)
        ax.set_xticks(np.arange(-0.5, ncols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, nrows, 1), minor=True)
        ax.grid(False)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
        if show_symbols:
            names = list(STATES)
            for i in range(nrows):
                for j in range(ncols):
                    symbol = _SYMBOL[names[int(values[i, j])]]
                    ax.text(j, i, symbol, ha="center", va="center", fontsize=8, color="black")
        counts = states.groupby("state").size()
        handles = [Patch(color=c, label=f"{s} ({int(counts.get(s, 0))})") for s, c in STATES.items()]
        fig.legend(handles=handles, loc="outside right upper", title="certificate (run × bound)")
        kind = "configurations (seeds merged: violated if any seed violated)" if merged else "runs"
        suptitle(fig, f"Theory certificates: {kind} × bounds; within float tolerance shown as held")
    return fig
