"""Collect a report from a results directory: load the tables, compute the summaries, draw every figure.

The directory follows the results layout of :mod:`testbed.storage` (spec.toml,
manifest.json, runs/). Figures that have nothing to show (no ERM runs, no
learning rates, no certificates) become a note instead of an image.
Everything is sorted, so two builds of the same directory differ only in the
"generated" timestamp.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from problems._validate import check_float
from testbed.report import tables
from testbed.report.document import (
    CodeBlock,
    FigureBlock,
    Report,
    Section,
    TableBlock,
    TextBlock,
    display_frame,
    format_value,
)

__all__ = ["MAX_LINES", "build_report", "comparison_cost", "problem_dimensions"]

#: Above this many configurations on one problem, curve figures show each optimizer's best configuration only.
MAX_LINES = 6

COST_NAMES = {"grad_evals": "gradient evaluations", "epochs": "epochs"}
COST_NOTES = {
    "grad_evals": "",
    "epochs": "Some runs use minibatches, so cost is counted in epochs (samples seen / n: full-gradient "
    "equivalents; equal to gradient evaluations for full-batch runs and for problems that are not finite sums).",
}


def comparison_cost(runs: pd.DataFrame) -> str:
    """The cost column comparisons use: ``"grad_evals"``, or ``"epochs"`` when some run used minibatches (a
    minibatch gradient is not a full one; epochs count both in full-gradient equivalents)."""
    if "batch_size" in runs.columns and pd.to_numeric(runs["batch_size"], errors="coerce").notna().any():
        return "epochs"
    return "grad_evals"


def problem_dimensions(results_dir: Path, runs: pd.DataFrame, results: pd.DataFrame) -> dict[str, int]:
    """The dimension n_p of each problem: a ``dim`` column when the tables have one, else the problem rebuilt
    from the first finished run record's family and parameters (``problems.make`` is cheap: no reference
    optimum is computed). Problems that cannot be rebuilt are left out."""
    if "dim" in results.columns and results["dim"].notna().any():
        return results.dropna(subset=["dim"]).groupby("problem")["dim"].first().astype(int).to_dict()
    from testbed.storage import finished_record
    from testbed.sweep.build import make_problem

    dims: dict[str, int] = {}
    for problem, grp in runs.sort_values("run_id").groupby("problem", sort=True):
        for run_id in grp["run_id"]:
            record = finished_record(results_dir / "runs", str(run_id))
            spec = ((record or {}).get("config") or {}).get("problem") or {}
            if "family" not in spec:
                continue
            try:
                dims[str(problem)] = int(make_problem(spec["family"], spec.get("params") or {}).dim)
            except Exception:  # a family that no longer builds: its data profile point is left out, with a note
                continue
            break
    return dims


def _figure(key: str, title: str, caption: str, draw: Callable[[], Any]) -> FigureBlock:
    from testbed.plots import NoDataError, to_png

    try:
        fig = draw()
    except NoDataError as exc:
        return FigureBlock(key, title, caption, None, note=f"Omitted: {exc}.")
    return FigureBlock(key, title, caption, to_png(fig))


def _curve_selection(best: pd.DataFrame, results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The history rows the curve figures draw, and a caption sentence saying which."""
    per_problem = results.groupby("problem")["config"].nunique()
    if per_problem.empty or per_problem.max() <= MAX_LINES:
        return results, "Every configuration is drawn."
    chosen = best.loc[best["best_config"] != "", ["problem", "best_config"]].rename(columns={"best_config": "config"})
    keep = results.merge(chosen, on=["problem", "config"], how="inner")
    return keep, (
        f"More than {MAX_LINES} configurations on a problem: each optimizer is drawn at its best configuration "
        "on that problem (smallest mean final gap, see the table of best configurations)."
    )


def _overview(manifest: dict, runs: pd.DataFrame, results_dir: Path) -> Section:
    blocks: list[Any] = []
    if manifest.get("description"):
        blocks.append(TextBlock(str(manifest["description"])))
    facts = [
        ("results directory", str(results_dir)),
        ("spec hash", manifest.get("spec_hash")),
        ("package version", manifest.get("package_version")),
        ("created", manifest.get("created")),
        ("updated", manifest.get("updated")),
        ("runs planned", manifest.get("n_runs", len(manifest.get("runs", {})) or None)),
        ("runs finished", len(runs)),
    ]
    frame = pd.DataFrame([(k, format_value(v)) for k, v in facts if v is not None], columns=["", "value"])
    blocks.append(TableBlock("Experiment", frame))
    counts = display_frame(tables.status_counts(runs))
    blocks.append(TableBlock("Runs by status", counts, empty_note="No finished run in this directory."))
    return Section("overview", "Overview", blocks)


def _environment(manifest: dict) -> Section:
    env = manifest.get("environment") or {}
    if not env:
        return Section("environment", "Environment", [TextBlock("The manifest records no environment.")])
    machine = [(k, format_value(v)) for k, v in env.items() if not isinstance(v, dict)]
    packages = [(k, format_value(v)) for k, v in (env.get("packages") or {}).items()]
    return Section("environment", "Environment", [
        TableBlock("Machine", pd.DataFrame(machine, columns=["", "value"])),
        TableBlock("Package versions", pd.DataFrame(packages, columns=["package", "version"]),
                   empty_note="No package versions recorded."),
    ])


def _best(results: pd.DataFrame, runs: pd.DataFrame, best: pd.DataFrame, tol: float, cost: str) -> Section:
    gap_headers = {"problem": "problem", "optimizer": "optimizer", "best_config": "best configuration",
                   "final_gap": "final gap (mean over seeds)", "reference": "reference f_ref", "seeds": "seeds",
                   "configs": "configurations", "failed_configs": "failed"}
    by_cost = tables.best_by_cost(results, runs, tol, cost)
    name = COST_NAMES[cost]
    cost_headers = {"problem": "problem", "optimizer": "optimizer", "target_gap": "target gap",
                    "by_cost": f"best by {name}", "cost": name, "by_time": "best by time", "time_s": "time (s)",
                    "reached": "configurations reaching target"}
    return Section("best", "Best configurations", [
        TextBlock("Final gap = final f − f_ref, with f_ref the certified f* where known, else the best f any run "
                  "found on the problem. A configuration failed when any of its seeds diverged or errored; the "
                  "best is chosen among the others. Values are means over seeds."),
        TableBlock("Best configuration per optimizer and problem, by final gap", display_frame(best, gap_headers),
                   empty_note="No finished run."),
        TableBlock(f"Best configuration by cost to reach the target gap tol·(f(x0) − f_ref), tol = {tol:g}",
                   display_frame(by_cost, cost_headers),
                   caption="A configuration reaches the target when every seed does; costs are means over seeds, "
                           "counted at the first recorded iteration that passes. " + COST_NOTES[cost],
                   empty_note="No run history."),
    ])


def _certificates(certificates: pd.DataFrame, runs: pd.DataFrame) -> Section:
    if certificates.empty:
        return Section("certificates", "Theory certificates", [TextBlock("No certificate was computed.")])
    summary = display_frame(tables.certificate_summary(certificates), {
        "bound": "bound", "runs": "runs", "held": "held", "roundoff": "of which within round-off",
        "violated": "violated", "not_applicable": "not applicable", "statement": "statement"})
    checks = display_frame(tables.certificate_checks(certificates, runs), {
        "state": "verdict", "problem": "problem", "config": "configuration", "seed": "seed", "bound": "bound",
        "worst_slack": "worst slack", "worst_rel_slack": "worst relative slack",
        "first_violation": "first violation (iter)", "worst_iter": "worst iter", "n_checked": "points checked",
        "run_id": "run"})
    reasons = display_frame(tables.not_applicable_reasons(certificates), {"bound": "bound", "reason": "reason",
                                                                          "runs": "runs"})
    from testbed.plots import certificate_heatmap

    return Section("certificates", "Theory certificates", [
        TableBlock("Summary per bound (violations first)", summary),
        TableBlock("Checks, violations first", checks,
                   caption="Slack = bound − observed, its minimum over the checked iterations; negative = violated. "
                           "An excess within the documented floating-point tolerance counts as held (round-off).",
                   empty_note="No bound applied to any run."),
        TableBlock("Why bounds did not apply", reasons, empty_note="Every bound applied to every run."),
        _figure("certificates", "Certificates: runs × bounds",
                "Green: held (round-off included), red: violated, grey: not applicable.",
                lambda: certificate_heatmap(certificates, runs)),
    ])


def _convergence(results: pd.DataFrame, curves: pd.DataFrame, note: str, cost: str) -> Section:
    from testbed import plots

    if results.empty:
        return Section("convergence", "Convergence", [TextBlock("Omitted: no run history in this directory.")])
    sub = "Suboptimality f − f* (f − min observed f where f* is unknown, as the y label says) on a log scale; "
    band = "lines are means over seeds, bands the min–max range over seeds; "
    blocks: list[Any] = [
        _figure(f"suboptimality-{x}", f"Suboptimality against {label}",
                sub + band + "dashed lines: the bounds of the certificates. " + extra + note,
                lambda x=x: plots.suboptimality(results, x=x, curves=curves))
        for x, label, extra in (("iter", "iterations", ""), (cost, COST_NAMES[cost], COST_NOTES[cost] + " "),
                                ("time_s", "wall time", ""))
    ]
    blocks.append(_figure("grad-norm", "Gradient norm", "‖∇f(x_t)‖ on a log scale; " + band + note,
                          lambda: plots.grad_norm(results, curves=curves)))
    blocks.append(_figure(
        "descent-slack", "Descent-lemma slack",
        "f(x_t) − f(x_t+1) − ‖∇f(x_t)‖²/(2L) per iteration (lecture 8): the descent lemma guarantees it is ≥ 0 for "
        "gradient descent with step 1/L; for other methods it is a diagnostic. Runs without a known L are left out. "
        + note,
        lambda: plots.descent_slack(results)))
    return Section("convergence", "Convergence", blocks)


def _comparison(results: pd.DataFrame, runs: pd.DataFrame, dims: dict[str, int], tol: float, cost: str) -> Section:
    from testbed import plots

    blocks: list[Any] = [_figure(
        "lr-sensitivity", "Step-size sensitivity",
        "Final gap (final loss where f* is unknown) against the learning rate, mean over seeds, best configuration "
        "per learning rate; crosses at the top: every configuration at that learning rate diverged.",
        lambda: plots.lr_sensitivity(runs))]
    if results.empty:
        blocks.append(TextBlock("Profiles omitted: no run history in this directory."))
        return Section("comparison", "Comparison across problems", blocks)
    blocks.append(_figure(
        "performance-profile", "Performance profiles",
        f"Dolan–Moré: share of problems each optimizer (at its best configuration per problem) solves within a "
        f"factor τ of the fastest, cost = {COST_NAMES[cost]}, tol = {tol:g}; the title says which reference f_L "
        "(certified f* or best value found) each problem used. " + COST_NOTES[cost],
        lambda: plots.performance_profile(results, tol=tol, cost=cost)))
    missing = sorted(set(results["problem"].astype(str)) - set(dims))
    data_results = results[results["problem"].isin(list(dims))]
    note = f" Left out (dimension unknown): {', '.join(missing)}." if missing else ""

    def draw_data_profile() -> Any:
        if data_results.empty:
            raise plots.NoDataError("data profile: no problem has a known dimension")
        return plots.data_profile(data_results, dims=dims, tol=tol, cost=cost)

    blocks.append(_figure(
        "data-profile", "Data profiles",
        f"Moré–Wild: share of problems solved within a budget of α simplex gradients (n_p + 1 units of "
        f"{COST_NAMES[cost]}), tol = {tol:g}. " + COST_NOTES[cost] + note,
        draw_data_profile))
    return Section("comparison", "Comparison across problems", blocks)


def _training(results: pd.DataFrame, note: str) -> Section:
    from testbed import plots

    if results.empty:
        return Section("training", "Training curves (ERM)", [TextBlock("Omitted: no run history in this directory.")])
    return Section("training", "Training curves (ERM)", [_figure(
        "training", "Training and test curves",
        "Training objective and test loss (log scale when they span more than a decade), training and test "
        "accuracy, against epochs. " + note,
        lambda: plots.training_curves(results))])


def _failures(runs: pd.DataFrame) -> Section:
    failed = tables.failed_runs(runs)
    headers = {"status": "status", "problem": "problem", "config": "configuration", "seed": "seed",
               "iterations": "iterations", "message": "message", "run_id": "run"}
    return Section("failures", "Runs that diverged or errored", [
        TableBlock(f"{len(failed)} run(s)", display_frame(failed, headers), empty_note="No run diverged or errored.")
    ])


def build_report(results_dir: str | Path, tol: float = 1e-3) -> Report:
    """Read ``results_dir`` with :mod:`testbed.storage`'s loaders and assemble the :class:`Report`.

    ``tol`` is the relative tolerance of the target gap (best-by-cost table and profiles).
    """
    from testbed.storage import load_certificates, load_curves, load_manifest, load_results, load_runs

    tol = check_float("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    root = Path(results_dir)
    manifest = load_manifest(root) if (root / "manifest.json").is_file() else {}
    results, runs = load_results(root), load_runs(root)
    certificates, curves = load_certificates(root), load_curves(root)
    spec_path = root / "spec.toml"
    spec = spec_path.read_text(encoding="utf-8") if spec_path.is_file() else ""

    best = tables.best_by_final_gap(results, runs)
    drawn, selection_note = _curve_selection(best, results) if len(results) else (results, "")
    dims = problem_dimensions(root, runs, results) if len(runs) else {}
    cost = comparison_cost(runs)
    experiment = str(manifest.get("experiment") or root.name)
    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    sections = [
        _overview(manifest, runs, root),
        Section("spec", "Specification", [CodeBlock(spec, "toml") if spec else TextBlock("No spec.toml found.")]),
        _environment(manifest),
        _best(results, runs, best, tol, cost),
        _certificates(certificates, runs),
        _convergence(drawn, curves, selection_note, cost),
        _comparison(results, runs, dims, tol, cost),
        _training(drawn, selection_note),
        _failures(runs),
    ]
    subtitle = [f"{len(runs)} finished run(s) on {runs['problem'].nunique() if len(runs) else 0} problem(s)"]
    return Report(title=f"optim-testbed report: {experiment}", subtitle=subtitle, generated=generated,
                  sections=sections)
