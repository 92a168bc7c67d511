"""The report's tables, computed from the loaded results (pure pandas, raw values; formatting is elsewhere).

Conventions shared by the tables:

* final gap of a run = its final f minus the problem's reference value f_ref
  (certified f* where known, else the best f any run found; see
  :func:`testbed.profiles.reference_values`);
* a configuration (problem, optimizer entry, config label) *failed* when any of
  its seeds diverged or errored; its values are means over seeds;
* "best" picks, per problem and optimizer entry, among configurations that did
  not fail; ties are broken by the config label, so the tables are deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from testbed.profiles import reference_values, require_columns, run_solve_costs

__all__ = [
    "FAILED_STATUSES",
    "best_by_cost",
    "best_by_final_gap",
    "certificate_checks",
    "certificate_summary",
    "failed_runs",
    "not_applicable_reasons",
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


def best_by_final_gap(results: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per problem and optimizer entry: the configuration with the smallest mean final gap among those that
    did not fail.

    Columns: problem, optimizer, best_config, final_gap, reference, seeds, configs (tried), failed_configs.
    best_config is "" and final_gap NaN when every configuration failed.
    """
    require_columns("runs", runs, ("problem", "optimizer", "config", "seed", "status", "f"))
    columns = ["problem", "optimizer", "best_config", "final_gap", "reference", "seeds", "configs", "failed_configs"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    df = _final_gaps(results, runs)
    per_config = (
        df.groupby(["problem", "optimizer", "config"], sort=True)
        .agg(final_gap=("final_gap", "mean"), failed=("failed", "any"), seeds=("seed", "nunique"),
             reference=("reference", "first"))
        .reset_index()
    )
    rows = []
    for (problem, optimizer), grp in per_config.groupby(["problem", "optimizer"], sort=True):
        ok = grp[~grp["failed"]].sort_values(["final_gap", "config"], kind="mergesort")
        best = ok.iloc[0] if len(ok) else None
        rows.append({
            "problem": problem,
            "optimizer": optimizer,
            "best_config": "" if best is None else best["config"],
            "final_gap": np.nan if best is None else float(best["final_gap"]),
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
    measures = list(dict.fromkeys([cost, "time_s"]))
    per_run = run_solve_costs(results, tol, measures)
    status = runs.set_index("run_id")["status"] if "run_id" in runs.columns else pd.Series(dtype=object)
    failed = per_run["run_id"].map(status).isin(FAILED_STATUSES).to_numpy()
    per_run.loc[failed, measures] = np.inf
    per_run["cost"] = per_run[cost]
    per_config = (
        per_run.groupby(["problem", "optimizer", "config"], sort=True)
        .agg(target_gap=("target_gap", "mean"), cost=("cost", "mean"), time_s=("time_s", "mean"))
        .reset_index()
    )
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


def certificate_summary(certificates: pd.DataFrame) -> pd.DataFrame:
    """Per bound: runs certified, held, of which within round-off, violated, not applicable, and its statement."""
    from testbed.plots.certificates import certificate_states

    columns = ["bound", "runs", "held", "roundoff", "violated", "not_applicable", "statement"]
    if certificates.empty:
        return pd.DataFrame(columns=columns)
    df = certificate_states(certificates)
    if "statement" not in df.columns:
        df["statement"] = ""
    rows = []
    for bound, grp in df.groupby("bound", sort=True):
        held = grp["state"] == "held"
        rows.append({
            "bound": bound,
            "runs": grp["run_id"].nunique(),
            "held": int(held.sum()),
            "roundoff": int((held & grp["roundoff"].fillna(False).astype(bool)).sum()),
            "violated": int((grp["state"] == "violated").sum()),
            "not_applicable": int((grp["state"] == "not applicable").sum()),
            "statement": str(grp["statement"].dropna().iloc[0]) if grp["statement"].notna().any() else "",
        })
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["violated", "bound"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def certificate_checks(certificates: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Every applicable (run, bound) check, violations first, then holds within round-off, then holds.

    Columns: state, problem, config, seed, bound, worst_slack, worst_rel_slack, first_violation, worst_iter,
    n_checked, run_id; first_violation and worst_iter are NaN where the certificate says -1 (none).
    """
    columns = ["state", "problem", "config", "seed", "bound", "worst_slack", "worst_rel_slack", "first_violation",
               "worst_iter", "n_checked", "run_id"]
    if certificates.empty:
        return pd.DataFrame(columns=columns)
    df = _with_identity(certificates, runs)
    df = df[df["state"] != "not applicable"].copy()
    roundoff = df["roundoff"].fillna(False).astype(bool)
    df.loc[(df["state"] == "held") & roundoff, "state"] = "held (roundoff)"
    for col in columns:
        if col not in df.columns:
            df[col] = np.nan
    for col in ("first_violation", "worst_iter"):  # -1 means "none" in the certificate contract
        values = pd.to_numeric(df[col], errors="coerce").astype("float64")
        df[col] = values.where(values >= 0)
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
