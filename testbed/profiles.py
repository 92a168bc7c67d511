"""Performance and data profiles: comparing solvers across a set of problems.

Pure pandas/numpy (no plotting), so the numbers behind the report's profile
figures can be tested and reused on their own.

Convergence test (Moré & Wild, "Benchmarking derivative-free optimization
algorithms", SIAM J. Optim. 20(1), 2009, eq. 2.2): a run solves problem p at
tolerance ``tol`` once

    f(x) <= f_L + tol * (f(x_0) - f_L),

where f_L is the reference value of p: its certified optimum f* when the
results carry one (column ``f_star``), otherwise the best f found by any run on
p (Moré & Wild's choice). :func:`reference_values` says which was used.
The cost t(p, s) is the cost column (gradient evaluations by default) at the
first *recorded* history row that passes the test; infinite if none does.

Performance profile (Dolan & Moré, "Benchmarking optimization software with
performance profiles", Math. Program. 91, 2002):

    r(p, s) = t(p, s) / min_s' t(p, s'),      rho_s(tau) = |{p : r(p, s) <= tau}| / |P|.

A failure has r = inf, so it never counts, for any tau.

Data profile (Moré & Wild 2009, eq. 2.9), with n_p the dimension of p:

    d_s(alpha) = |{p : t(p, s) / (n_p + 1) <= alpha}| / |P|,

the budget alpha being counted in simplex gradients (n_p + 1 evaluations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from problems._validate import check_choice, check_float
from problems.errors import UserInputError

__all__ = [
    "COST_COLUMNS",
    "data_profile",
    "performance_profile",
    "performance_ratios",
    "profile_area",
    "reference_values",
    "require_columns",
    "run_solve_costs",
    "solve_costs",
]

#: History columns that can serve as the cost of solving a problem.
COST_COLUMNS = ("grad_evals", "f_evals", "iter", "epochs", "time_s")

REFERENCE_CERTIFIED = "certified f*"
REFERENCE_BEST = "best value found"


def require_columns(name: str, df: object, columns: Sequence[str]) -> pd.DataFrame:
    """Check that ``df`` is a DataFrame holding ``columns``; raise a UserInputError naming what is missing."""
    if not isinstance(df, pd.DataFrame):
        raise UserInputError(f"{name}: must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserInputError(f"{name}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, df.columns))}")
    return df


def reference_values(results: pd.DataFrame) -> pd.DataFrame:
    """The reference value f_L of each problem and where it comes from.

    Returns a DataFrame indexed by problem with columns ``f_ref`` and ``source``:
    ``"certified f*"`` when the problem's ``f_star`` column is finite, else
    ``"best value found"`` (the smallest finite f over every recorded row of every
    run on that problem, Moré & Wild's f_L). ``f_ref`` is NaN when neither exists.
    """
    require_columns("results", results, ("problem", "f_star", "f"))
    rows = []
    for problem, grp in results.groupby("problem", sort=True):
        f_star = pd.to_numeric(grp["f_star"], errors="coerce").to_numpy(dtype=np.float64)
        f_star = f_star[np.isfinite(f_star)]
        if f_star.size:
            rows.append((problem, float(f_star[0]), REFERENCE_CERTIFIED))
            continue
        f = grp["f"].to_numpy(dtype=np.float64)
        f = f[np.isfinite(f)]
        rows.append((problem, float(f.min()) if f.size else np.nan, REFERENCE_BEST))
    out = pd.DataFrame(rows, columns=["problem", "f_ref", "source"]).set_index("problem")
    return out


def run_solve_costs(
    results: pd.DataFrame, tol: float = 1e-3, costs: Sequence[str] = ("grad_evals",)
) -> pd.DataFrame:
    """Per run: the cost to first pass the convergence test at tolerance ``tol`` (inf if it never does).

    Returns one row per run with run_id, problem, optimizer, config, seed (those
    present), ``target_gap`` = tol * (f(x_0) - f_L) (the gap to reach), and one
    column per name in ``costs`` holding that history column at the first
    passing row.
    """
    check_float("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    costs = [check_choice("costs", c, COST_COLUMNS) for c in costs]
    require_columns("results", results, ("run_id", "problem", "iter", "f", "f_star", *costs))
    refs = reference_values(results)
    ordered = results.sort_values(["run_id", "iter"], kind="mergesort")
    f_ref = ordered["problem"].map(refs["f_ref"]).to_numpy(dtype=np.float64)
    f = ordered["f"].to_numpy(dtype=np.float64)
    run_ids = ordered["run_id"].to_numpy()
    starts = np.r_[0, np.flatnonzero(run_ids[1:] != run_ids[:-1]) + 1] if len(run_ids) else np.zeros(0, dtype=int)
    f0 = np.repeat(f[starts], np.diff(np.r_[starts, len(f)]))
    with np.errstate(invalid="ignore"):
        target = tol * (f0 - f_ref)
        passed = f <= f_ref + target
    ident = ordered.iloc[starts].set_index("run_id")
    out = ident[[c for c in ("problem", "optimizer", "config", "seed") if c in ident.columns]].copy()
    out["target_gap"] = target[starts]
    for cost in costs:
        values = np.where(passed, ordered[cost].to_numpy(dtype=np.float64), np.inf)
        # Cost columns never decrease along a run, so the smallest passing cost is the cost at the first passing row.
        first = pd.Series(values, index=run_ids).groupby(level=0, sort=False).min()
        out[cost] = first.reindex(out.index).to_numpy()
    return out.reset_index()


def solve_costs(
    results: pd.DataFrame,
    tol: float = 1e-3,
    cost: str = "grad_evals",
    solver: str = "optimizer",
) -> pd.DataFrame:
    """The cost t(p, s) for each solver s to solve each problem p at tolerance ``tol``.

    ``results`` is the tidy history table (``load_results``). Returns a DataFrame
    indexed by problem, one column per solver, ``inf`` where s never solves p.

    Several seeds: a configuration solves p only if every seed does, and its
    cost is the mean over seeds. ``solver="optimizer"`` compares optimizer
    entries, each taking its best configuration per problem (the minimum cost
    over its configurations, i.e. tuned on that problem);
    ``solver="config"`` compares every configuration separately.
    """
    check_float("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    check_choice("cost", cost, COST_COLUMNS)
    check_choice("solver", solver, ("optimizer", "config"))
    require_columns("results", results, ("run_id", "problem", "optimizer", "config", "iter", "f", "f_star", cost))
    if results.empty:
        raise UserInputError("results: the table is empty, there is nothing to profile")
    per_run = run_solve_costs(results, tol, (cost,))
    per_config = per_run.groupby(["problem", "optimizer", "config"], sort=True)[cost].mean().reset_index()
    table = per_config.pivot_table(index="problem", columns=solver, values=cost, aggfunc="min")
    table = table.reindex(index=sorted(per_run["problem"].unique()), columns=sorted(per_run[solver].unique()))
    table.columns.name = "solver"
    return table.fillna(np.inf).astype(np.float64)


def performance_ratios(costs: pd.DataFrame) -> pd.DataFrame:
    """Dolan–Moré ratios r(p, s) = t(p, s) / min_s' t(p, s'); failures (and problems no solver solves) get inf.

    A problem solved at the start point (best cost 0) gives ratio 1 to every
    solver with cost 0 and inf to the others (t / 0).
    """
    if not isinstance(costs, pd.DataFrame) or costs.empty:
        raise UserInputError("costs: must be a non-empty DataFrame (problems x solvers), e.g. from solve_costs")
    t = costs.to_numpy(dtype=np.float64)
    if np.any(t < 0) or np.any(np.isnan(t)):
        raise UserInputError("costs: must be >= 0 (inf for a failure), got a negative or NaN entry")
    best = t.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = t / best
    r[(t == 0) & (best == 0)] = 1.0
    r[~np.isfinite(r)] = np.inf
    return pd.DataFrame(r, index=costs.index, columns=costs.columns)


def performance_profile(costs: pd.DataFrame, taus: Sequence[float] | None = None) -> pd.DataFrame:
    """Dolan–Moré profile rho_s(tau), tidy: columns solver, tau, rho.

    ``taus`` defaults to 1 and every finite ratio (the breakpoints of the step
    functions), plus one point beyond the largest ratio so the final level shows.
    """
    ratios = performance_ratios(costs)
    r = ratios.to_numpy()
    if taus is None:
        finite = np.unique(r[np.isfinite(r)])
        top = float(finite.max()) if finite.size else 1.0
        grid = np.unique(np.r_[1.0, finite, max(2.0, 2.0 * top)])
    else:
        grid = np.asarray(taus, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or np.any(grid < 1) or not np.all(np.isfinite(grid)):
            raise UserInputError("taus: must be a non-empty 1-d sequence of finite values >= 1")
        grid = np.sort(grid)
    n_problems = r.shape[0]
    rows = []
    for j, solver in enumerate(ratios.columns):
        counts = (r[:, j][None, :] <= grid[:, None]).sum(axis=1)
        rows.append(pd.DataFrame({"solver": solver, "tau": grid, "rho": counts / n_problems}))
    return pd.concat(rows, ignore_index=True)


def data_profile(
    costs: pd.DataFrame, dims: Mapping[str, int] | pd.Series, alphas: Sequence[float] | None = None
) -> pd.DataFrame:
    """Moré–Wild data profile d_s(alpha), tidy: columns solver, alpha, d.

    ``dims`` maps each problem (the index of ``costs``) to its dimension n_p;
    the budget alpha is in simplex gradients, t(p, s) / (n_p + 1). ``alphas``
    defaults to 0 and every finite scaled cost, plus one point beyond.
    """
    if not isinstance(costs, pd.DataFrame) or costs.empty:
        raise UserInputError("costs: must be a non-empty DataFrame (problems x solvers), e.g. from solve_costs")
    dims = pd.Series(dims, dtype=object)
    missing = [p for p in costs.index if p not in dims.index]
    if missing:
        raise UserInputError(f"dims: no dimension for problem(s) {', '.join(map(str, missing))}")
    n = pd.to_numeric(dims.reindex(costs.index)).to_numpy(dtype=np.float64)
    if np.any(~np.isfinite(n)) or np.any(n < 1):
        raise UserInputError("dims: every dimension must be an integer >= 1")
    scaled = costs.to_numpy(dtype=np.float64) / (n[:, None] + 1.0)
    if alphas is None:
        finite = np.unique(scaled[np.isfinite(scaled)])
        top = float(finite.max()) if finite.size else 1.0
        grid = np.unique(np.r_[0.0, finite, 1.1 * top if top > 0 else 1.0])
    else:
        grid = np.sort(np.asarray(alphas, dtype=np.float64))
        if grid.ndim != 1 or grid.size == 0 or np.any(grid < 0) or not np.all(np.isfinite(grid)):
            raise UserInputError("alphas: must be a non-empty 1-d sequence of finite values >= 0")
    rows = []
    for j, solver in enumerate(costs.columns):
        counts = (scaled[:, j][None, :] <= grid[:, None]).sum(axis=1)
        rows.append(pd.DataFrame({"solver": solver, "alpha": grid, "d": counts / scaled.shape[0]}))
    return pd.concat(rows, ignore_index=True)


def profile_area(costs: pd.DataFrame, tau_max: float = 4.0) -> pd.Series:
    """Area under each solver's performance profile on [1, tau_max], divided by (tau_max - 1), in [0, 1].

    The summary score of MLCommons AlgoPerf (Dahl et al., "Benchmarking Neural
    Network Training Algorithms", 2023, with tau_max = 4): ratios above
    ``tau_max`` count as failures. 1 means fastest on every problem.
    """
    tau_max = check_float("tau_max", tau_max, low=1.0, low_open=True)
    r = performance_ratios(costs).to_numpy()
    # rho is a step function; its integral over [1, tau_max] is the mean over problems of (tau_max - r)_+.
    area = np.where(r <= tau_max, tau_max - np.minimum(r, tau_max), 0.0).mean(axis=0)
    return pd.Series(area / (tau_max - 1.0), index=costs.columns, name="profile_area")
