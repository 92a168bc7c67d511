"""Figures of Dolan–Moré performance profiles and Moré–Wild data profiles.

The numbers come from :mod:`testbed.profiles` (definitions and the
convergence test there); these functions only draw them. Each figure's title
states the relative target and which reference value f_L was used on how many
problems (certified f* or best value found).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from problems._validate import check_float
from testbed import profiles as prof
from testbed.plots.data import NoDataError
from testbed.plots.layout import AXIS_LABELS
from testbed.plots.style import new_figure, palette, suptitle, themed

__all__ = ["data_profile", "performance_profile", "reference_note"]

#: How each cost column is named in titles.
COST_LABELS = {**AXIS_LABELS, "epochs": "epochs (full-gradient equivalents)"}

LINESTYLES = ("-", (0, (5, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2)), (0, (3, 3)))


def reference_note(results: pd.DataFrame) -> str:
    """One line saying which reference f_L the convergence test used, e.g.
    "f_L = certified f* on 3 problems, best value found on 1 (rosenbrock)"."""
    refs = prof.reference_values(results)
    parts = []
    for source in (prof.REFERENCE_CERTIFIED, prof.REFERENCE_BEST):
        names = sorted(refs.index[refs["source"] == source].astype(str))
        if names:
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            parts.append(f"{source} on {len(names)} problem{'s' if len(names) != 1 else ''} ({shown})")
    return "f_L = " + "; ".join(parts)


def _step_figure(
    table: pd.DataFrame, xcol: str, ycol: str, xlabel: str, ylabel: str, title: str, labels: dict[str, str], logx: bool
) -> Any:
    colors = palette(table["solver"].astype(str))
    with themed():
        fig = new_figure(9.0, 4.6)
        ax = fig.add_subplot()
        for i, (solver, grp) in enumerate(table.groupby("solver", sort=True)):
            # Profiles often coincide over a range of tau: distinct dash patterns keep every solver visible.
            ax.step(grp[xcol], grp[ycol], where="post", color=colors[str(solver)], linewidth=1.8,
                    linestyle=LINESTYLES[i % len(LINESTYLES)], label=labels.get(str(solver), str(solver)))
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.legend(loc="outside right upper", title="solver", alignment="left")
        suptitle(fig, title)
    return fig


def performance_profile(
    results: pd.DataFrame, tol: float = 1e-3, cost: str = "grad_evals", solver: str = "optimizer"
) -> Any:
    """Figure of the Dolan–Moré performance profiles rho_s(tau) (log2 x axis) at tolerance ``tol``.

    ``results`` is the tidy history table; ``cost`` the history column counted
    (gradient evaluations by default); ``solver`` ``"optimizer"`` (each at its
    best configuration per problem) or ``"config"``. Legend labels carry the
    AlgoPerf score (area under rho on [1, 4], divided by 3).
    """
    check_float("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    costs = prof.solve_costs(results, tol=tol, cost=cost, solver=solver)
    table = prof.performance_profile(costs)
    area = prof.profile_area(costs)
    solved = np.isfinite(costs.to_numpy()).sum(axis=0)
    labels = {
        str(s): f"{s}  (area {area[s]:.2f}, solves {solved[i]}/{len(costs)})" for i, s in enumerate(costs.columns)
    }
    title = (
        f"Performance profiles (Dolan–Moré), target = {tol:g}, cost = {COST_LABELS.get(cost, cost)}\n"
        f"{reference_note(results)}; solved once f ≤ f_L + {tol:g}·(f(x0) − f_L)"
    )
    return _step_figure(
        table, "tau", "rho", "performance ratio τ (log₂)", "share of problems with r(p, s) ≤ τ", title, labels, True
    )


def data_profile(
    results: pd.DataFrame,
    dims: Mapping[str, int] | None = None,
    tol: float = 1e-3,
    solver: str = "optimizer",
    cost: str = "grad_evals",
) -> Any:
    """Figure of the Moré–Wild data profiles d_s(alpha) at tolerance ``tol``; cost = gradient evaluations
    (or the history column ``cost``, e.g. ``"epochs"`` when minibatch runs are compared with full-batch ones),
    budget alpha in simplex gradients (n_p + 1 units of cost).

    ``dims`` maps problem -> dimension n_p; by default it is read from a ``dim``
    column of ``results``. Raises :class:`~testbed.plots.data.NoDataError` when
    no dimension is available.
    """
    check_float("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    if dims is None:
        if "dim" not in results.columns or results["dim"].isna().all():
            raise NoDataError("data profile: the problem dimensions are unknown (pass dims= or store a 'dim' column)")
        dims = results.dropna(subset=["dim"]).groupby("problem")["dim"].first().astype(int).to_dict()
    costs = prof.solve_costs(results, tol=tol, cost=cost, solver=solver)
    table = prof.data_profile(costs, dims)
    title = (
        f"Data profiles (Moré–Wild), target = {tol:g}, cost = {COST_LABELS.get(cost, cost)}\n"
        f"{reference_note(results)}; solved once f ≤ f_L + {tol:g}·(f(x0) − f_L)"
    )
    return _step_figure(
        table, "alpha", "d", f"budget α in simplex gradients ({COST_LABELS.get(cost, cost)} / (n_p + 1))",
        "share of problems solved within α", title, {}, False,
    )
