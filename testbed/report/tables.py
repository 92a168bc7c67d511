"""The report's tables, computed from the loaded results (pure pandas, raw values; formatting is elsewhere).

Conventions shared by the tables:

* final gap of a run = its final f minus the problem's reference value f_ref
  (certified f* where known, else the best f any run found; see
  :func:`testbed.profiles.reference_values`);
* a configuration (problem, optimizer entry, config label) *failed* when any of
  its seeds diverged or errored; its values are means over seeds;
* "best" picks, per problem and optimizer entry, among configurations that did
  not fail. By final gap: gaps at round-off level, |gap| <= RTOL * max(1, |f_ref|)
  with the certificates' RTOL = 1e-12 (:mod:`testbed.theory.catalogue`), are ties
  (their order is float noise, e.g. -2.665e-15 against -2.66e-15), broken by the
  cost to reach the target gap (fewer gradient evaluations or epochs), then by
  the time to reach it; remaining ties by the config label, so the tables are
  deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from testbed.profiles import reference_values, require_columns, run_solve_costs
from testbed.report.tightness import tightness

__all__ = [
    "FAILED_STATUSES",
    "best_by_cost",
    "best_by_final_gap",
    "certificate_checks",
    "certificate_summary",
    "failed_runs",
    "not_applicable_reasons",
    "roundoff_tolerance",
    "status_counts",
]

FAILED_STATUSES = ("diverged", "error")
_STATE_ORDER = {"violated": 0, "held (roundoff)": 1, "held": 2}


def status_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs per problem and optimizer entry, with one column per status (in the order of testbed.result.STATUSES)."""
    from testbed.result import STATUSES

    require_columns("runs", runs, ("problem", "optimizer", "status"))
    if runs.empty:
        return pd.DataFrame(columns=["problem", "optimizer", "runs"])
    table = pd.crosstab([runs["problem"], runs["optimizer"]], runs["status"])
    present = [s for s in STATUSES if s in table.columns] + sorted(c for c in table.columns if c not in STATUSES)
    table = table[present]
    table.insert(0, "runs", table.sum(axis=1))
    table.columns.name = None
    return table.reset_index()


def _final_gaps(results: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    refs = reference_values(results) if len(results) else pd.DataFrame(columns=["f_ref", "source"])
    df = runs.copy()
    df["f_ref"] = df["problem"].map(refs["f_ref"]).astype("float64")
    sources = refs["source"].to_dict()
    df["reference"] = [sources.get(p, "none") for p in df["problem"]]
    df["final_gap"] = df["f"].astype("float64") - df["f_ref"]
    df["failed"] = df["status"].isin(FAILED_STATUSES) | ~np.isfinite(df["final_gap"].to_numpy(dtype=np.float64))
    return df


def roundoff_tolerance(f_ref: float | np.ndarray) -> float | np.ndarray:
    """The round-off level of a gap f - f_ref: RTOL * max(1, |f_ref|) with the certificates' RTOL
    (:mod:`testbed.theory.catalogue`); gaps within it are equal up to float noise. NaN f_ref gives RTOL."""
    from testbed.theory.catalogue import RTOL

    ref = np.abs(np.asarray(f_ref, dtype=np.float64))
    tol = RTOL * np.maximum(1.0, np.where(np.isfinite(ref), ref, 0.0))
    return float(tol) if tol.ndim == 0 else tol


def _config_costs(results: pd.DataFrame, runs: pd.DataFrame, tol: float, cost: str) -> pd.DataFrame:
    """Per (problem, optimizer, config): target_gap (mean over seeds), cost and time_s to reach it (means over
    seeds; inf when some seed does not reach it or a seed failed)."""
    columns = ["problem", "optimizer", "config", "target_gap", "cost", "time_s"]
    if results.empty:
        return pd.DataFrame(columns=columns)
    measures = list(dict.fromkeys([cost, "time_s"]))
    per_run = run_solve_costs(results, tol, measures)
    status = runs.set_index("run_id")["status"] if "run_id" in runs.columns else pd.Series(dtype=object)
    failed = per_run["run_id"].map(status).isin(FAILED_STATUSES).to_numpy()
    per_run.loc[failed, measures] = np.inf
    per_run["cost"] = per_run[cost]
    return (
        per_run.groupby(["problem", "optimizer", "config"], sort=True)
        .agg(target_gap=("target_gap", "mean"), cost=("cost", "mean"), time_s=("time_s", "mean"))
        .reset_index()[columns]
    )


def _pick_by_gap(ok: pd.DataFrame, cost_name: str) -> tuple[pd.Series, str]:
    """The best row of one (problem, optimizer) among configurations that did not fail, and how it was decided
    (module docstring: round-off ties broken by cost to target, then time to target)."""
    gap = ok["final_gap"].to_numpy(dtype=np.float64)
    tied = np.abs(gap) <= ok["roundoff"].to_numpy(dtype=np.float64)
    ranked = ok.assign(_tied=tied, _key=np.where(tied, 0.0, gap))
    ranked = ranked.sort_values(["_key", "cost", "time_s", "config"], kind="mergesort")
    best = ranked.iloc[0]
    group = ranked[ranked["_tied"]] if bool(best["_tied"]) else ranked.iloc[:1]
    if len(group) < 2:
        return best, "final gap"
    how = f"round-off tie ({len(group)} configurations): "
    if not np.isfinite(best["cost"]):
        return best, how + "none reached the target, first by label"
    same_cost = group.iloc[1:][group["cost"].iloc[1:] == best["cost"]]
    if same_cost.empty:
        return best, how + f"fewest {cost_name} to target"
    if bool((same_cost["time_s"] > best["time_s"]).all()):
        return best, how + f"equal {cost_name} to target, then least time"
    return best, how + "equal cost and time to target, first by label"


def best_by_final_gap(
    results: pd.DataFrame, runs: pd.DataFrame, tol: float = 1e-3, cost: str = "grad_evals"
) -> pd.DataFrame:
    """Per problem and optimizer entry: the configuration with the smallest mean final gap among those that
    did not fail; gaps within round-off of each other's level (:func:`roundoff_tolerance`) are ties, broken by
    the mean ``cost`` (history column) to reach the target gap ``tol`` * (f(x0) - f_ref), then by the time to
    reach it (:func:`best_by_cost`'s measure), then by label.

    Columns: problem, optimizer, best_config, final_gap, decided_by ("final gap" or how a round-off tie was
    broken), reference, seeds, configs (tried), failed_configs. best_config is "" and final_gap NaN when every
    configuration failed.
    """
    require_columns("runs", runs, ("problem", "optimizer", "config", "seed", "status", "f"))
    columns = ["problem", "optimizer", "best_config", "final_gap", "decided_by", "reference", "seeds", "configs",
               "failed_configs"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    df = _final_gaps(results, runs)
    per_config = (
        df.groupby(["problem", "optimizer", "config"], sort=True)
        .agg(final_gap=("final_gap", "mean"), failed=("failed", "any"), seeds=("seed", "nunique"),
             reference=("reference", "first"), f_ref=("f_ref", "first"))
        .reset_index()
    )
    per_config["roundoff"] = roundoff_tolerance(per_config["f_ref"].to_numpy(dtype=np.float64))
    costs = _config_costs(results, runs, tol, cost) if len(results) else pd.DataFrame(
        columns=["problem", "optimizer", "config", "cost", "time_s"])
    per_config = per_config.merge(costs[["problem", "optimizer", "config", "cost", "time_s"]],
                                  on=["problem", "optimizer", "config"], how="left")
    per_config[["cost", "time_s"]] = per_config[["cost", "time_s"]].astype("float64").fillna(np.inf)
    cost_name = {"grad_evals": "gradient evaluations", "epochs": "epochs"}.get(cost, cost)
    rows = []
    for (problem, optimizer), grp in per_config.groupby(["problem", "optimizer"], sort=True):
        ok = grp[~grp["failed"]]
        best, decided = _pick_by_gap(ok, cost_name) if len(ok) else (None, "")
        rows.append({
            "problem": problem,
            "optimizer": optimizer,
            "best_config": "" if best is None else best["config"],
            "final_gap": np.nan if best is None else float(best["final_gap"]),
            "decided_by": decided,
            "reference": grp["reference"].iloc[0],
            "seeds": 0 if best is None else int(best["seeds"]),
            "configs": len(grp),
            "failed_configs": int(grp["failed"].sum()),
        })
    return pd.DataFrame(rows, columns=columns)


def best_by_cost(
    results: pd.DataFrame, runs: pd.DataFrame, tol: float = 1e-3, cost: str = "grad_evals"
) -> pd.DataFrame:
    """Per problem and optimizer entry: the cheapest configuration to reach the target gap tol * (f(x0) - f_ref)
    (Moré–Wild's test, :mod:`testbed.profiles`), by the history column ``cost`` and by wall time.

    A configuration reaches the target when every seed does (and none failed); its cost is the mean over
    seeds. Columns: problem, optimizer, target_gap, by_cost, cost, by_time, time_s, reached ("k/n"
    configurations). Costs are NaN and configs "" when no configuration reaches the target.
    """
    columns = ["problem", "optimizer", "target_gap", "by_cost", "cost", "by_time", "time_s", "reached"]
    if results.empty:
        return pd.DataFrame(columns=columns)
    per_config = _config_costs(results, runs, tol, cost)
    rows = []
    for (problem, optimizer), grp in per_config.groupby(["problem", "optimizer"], sort=True):
        ok = grp[np.isfinite(grp["cost"].to_numpy(dtype=np.float64))]
        by_cost = ok.sort_values(["cost", "time_s", "config"], kind="mergesort")
        by_time = ok.sort_values(["time_s", "cost", "config"], kind="mergesort")
        rows.append({
            "problem": problem,
            "optimizer": optimizer,
            "target_gap": float(grp["target_gap"].median()),
            "by_cost": by_cost["config"].iloc[0] if len(ok) else "",
            "cost": float(by_cost["cost"].iloc[0]) if len(ok) else np.nan,
            "by_time": by_time["config"].iloc[0] if len(ok) else "",
            "time_s": float(by_time["time_s"].iloc[0]) if len(ok) else np.nan,
            "reached": f"{len(ok)}/{len(grp)}",
        })
    return pd.DataFrame(rows, columns=columns)


def _with_identity(certificates: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    from testbed.plots.certificates import certificate_states

    df = certificate_states(certificates)
    cols = [c for c in ("run_id", "problem", "config", "seed") if c in runs.columns]
    if "run_id" in cols:
        df = df.merge(runs[cols].drop_duplicates("run_id"), on="run_id", how="left")
    for col in ("problem", "config"):
        if col not in df.columns:
            df[col] = ""
    if "seed" not in df.columns:
        df["seed"] = np.nan
    return df


def _checks_with_tightness(
    certificates: pd.DataFrame, curves: pd.DataFrame | None, results: pd.DataFrame | None
) -> pd.DataFrame:
    """The certificate table with the :mod:`testbed.report.tightness` columns (NaN / -1 without curves)."""
    from testbed.plots.certificates import certificate_states

    df = certificate_states(certificates)
    if curves is not None and len(curves):
        tight = tightness(curves, results if results is not None else pd.DataFrame())
        df = df.merge(tight, on=["run_id", "bound"], how="left")
    for col in ("tightness", "tight_iter", "ratio_points"):
        if col not in df.columns:
            df[col] = np.nan
    iters = pd.to_numeric(df["tight_iter"], errors="coerce").astype("float64")
    df["tight_iter"] = iters.where(iters >= 0)  # -1 means "no point": missing
    return df


def certificate_summary(
    certificates: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per bound: runs certified, held, of which within round-off, violated, not applicable, the tightest
    ratio observed/bound over its runs (:mod:`testbed.report.tightness`; needs ``curves``, and ``results`` for
    per-step inequalities on f), the run (problem · config from ``runs``, else its run_id) and iteration where
    it occurred, and its statement."""
    columns = ["bound", "runs", "held", "roundoff", "violated", "not_applicable", "tightness", "tight_run",
               "tight_iter", "statement"]
    if certificates.empty:
        return pd.DataFrame(columns=columns)
    df = _checks_with_tightness(certificates, curves, results)
    if runs is not None and {"run_id", "problem", "config"} <= set(runs.columns):
        df = df.merge(runs[["run_id", "problem", "config"]].drop_duplicates("run_id"), on="run_id", how="left")
        df["tight_run"] = df["problem"].astype(str) + " · " + df["config"].astype(str)
    else:
        df["tight_run"] = df["run_id"].astype(str)
    if "statement" not in df.columns:
        df["statement"] = ""
    rows = []
    for bound, grp in df.groupby("bound", sort=True):
        held = grp["state"] == "held"
        ratios = grp["tightness"].to_numpy(dtype=np.float64)
        top = grp.iloc[int(np.nanargmax(ratios))] if np.isfinite(ratios).any() else None
        rows.append({
            "bound": bound,
            "runs": grp["run_id"].nunique(),
            "held": int(held.sum()),
            "roundoff": int((held & grp["roundoff"].fillna(False).astype(bool)).sum()),
            "violated": int((grp["state"] == "violated").sum()),
            "not_applicable": int((grp["state"] == "not applicable").sum()),
            "tightness": np.nan if top is None else float(top["tightness"]),
            "tight_run": "" if top is None else str(top["tight_run"]),
            "tight_iter": np.nan if top is None else float(top["tight_iter"]),
            "statement": str(grp["statement"].dropna().iloc[0]) if grp["statement"].notna().any() else "",
        })
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["violated", "bound"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def certificate_checks(
    certificates: pd.DataFrame,
    runs: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every applicable (run, bound) check, violations first, then holds within round-off, then holds.

    Columns: state, problem, config, seed, bound, worst_slack (the certificate's min over t of bound -
    observed, which decides the verdict), tightness (max over t >= 1 of observed/bound, see
    :mod:`testbed.report.tightness`; NaN without ``curves``), tight_iter (where), first_violation, n_checked,
    run_id; first_violation and tight_iter are NaN where there is none.
    """
    columns = ["state", "problem", "config", "seed", "bound", "worst_slack", "tightness", "tight_iter",
               "first_violation", "n_checked", "run_id"]
    if certificates.empty:
        return pd.DataFrame(columns=columns)
    df = _with_identity(_checks_with_tightness(certificates, curves, results), runs)
    df = df[df["state"] != "not applicable"].copy()
    roundoff = df["roundoff"].fillna(False).astype(bool)
    df.loc[(df["state"] == "held") & roundoff, "state"] = "held (roundoff)"
    for col in columns:
        if col not in df.columns:
            df[col] = np.nan
    values = pd.to_numeric(df["first_violation"], errors="coerce").astype("float64")
    df["first_violation"] = values.where(values >= 0)  # -1 means "none" in the certificate contract
    df["_order"] = df["state"].map(_STATE_ORDER)
    df = df.sort_values(["_order", "problem", "config", "seed", "bound", "run_id"], kind="mergesort")
    return df[columns].reset_index(drop=True)


def not_applicable_reasons(certificates: pd.DataFrame) -> pd.DataFrame:
    """Why bounds did not apply: bound, reason, number of runs."""
    from testbed.plots.certificates import certificate_states

    if certificates.empty:
        return pd.DataFrame(columns=["bound", "reason", "runs"])
    df = certificate_states(certificates)
    df = df[df["state"] == "not applicable"].copy()
    if "reason" not in df.columns:
        df["reason"] = ""
    df["reason"] = df["reason"].fillna("").astype(str).replace("", "applicable, nothing checked")
    out = df.groupby(["bound", "reason"], sort=True)["run_id"].nunique().rename("runs").reset_index()
    return out


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that diverged or errored: status, problem, config, seed, iterations, message, run_id (errors first)."""
    columns = ["status", "problem", "config", "seed", "iterations", "message", "run_id"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    df = runs[runs["status"].isin(FAILED_STATUSES)].copy()
    for col in columns:
        if col not in df.columns:
            df[col] = np.nan
    df["_order"] = df["status"].map({"error": 0, "diverged": 1})
    df = df.sort_values(["_order", "problem", "config", "seed", "run_id"], kind="mergesort")
    return df[columns].reset_index(drop=True)
