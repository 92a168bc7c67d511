"""Collect a report from a results directory: load the tables, compute the summaries, draw every figure.

The directory follows the results layout of :mod:`testbed.storage` (spec.toml,
manifest.json, runs/). Figures that have nothing to show (no ERM runs, no
learning rates, no certificates) become a note instead of an image.
Everything is sorted, so two builds of the same directory differ only in the
"generated" timestamp.

The relative target (:func:`resolve_target`): the best-by-cost table, the
profiles, the tie-break of the best-by-final-gap table and the margin of f_L in
the suboptimality figures all use the target gap target * (f(x0) - f_ref). It is
the ``target`` argument when given, else the manifest's optional ``"target"``
entry, else :data:`DEFAULT_TARGET` = 1e-3; the report states it in the overview
and wherever it is used.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from problems._validate import check_float
from problems.errors import UserInputError
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

__all__ = ["DEFAULT_TARGET", "MAX_LINES", "build_report", "comparison_cost", "problem_dimensions", "resolve_target"]

#: Above this many configurations on one problem, curve figures show each optimizer's best configuration only.
MAX_LINES = 6

#: The relative target when neither the caller nor the manifest gives one.
DEFAULT_TARGET = 1e-3

COST_NAMES = {"grad_evals": "gradient evaluations", "epochs": "epochs"}
COST_NOTES = {
    "grad_evals": "",
    "epochs": "Some runs use minibatches, so cost is counted in epochs (samples seen / n: full-gradient "
    "equivalents; equal to gradient evaluations for full-batch runs and for problems that are not finite sums).",
}


def resolve_target(target: float | None = None, tol: float | None = None, manifest: dict | None = None) -> float:
    """The relative target of a report: ``target`` (``tol`` is its older name; giving both with different
    values is an error), else ``manifest["target"]`` when the manifest has one, else :data:`DEFAULT_TARGET`.
    Must lie in (0, 1); the error names the field the value came from."""
    if target is not None and tol is not None and float(target) != float(tol):
        raise UserInputError(f"target: give target or its alias tol, not both with different values "
                             f"(target={target!r}, tol={tol!r})")
    if target is not None:
        field, value = "target", target
    elif tol is not None:
        field, value = "tol", tol
    elif (manifest or {}).get("target") is not None:
        field, value = "manifest target", manifest["target"]
    else:
        return DEFAULT_TARGET
    return check_float(field, value, low=0.0, high=1.0, low_open=True, high_open=True)


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
        "on that problem (smallest mean final gap, round-off ties broken by cost to reach the target; see the "
        "table of best configurations)."
    )


def _overview(manifest: dict, runs: pd.DataFrame, results_dir: Path, target: float) -> Section:
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
        ("relative target", f"{target:g}: target gap = {target:g}·(f(x0) − f_ref)"),
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
                   "final_gap": "final gap (mean over seeds)", "decided_by": "decided by",
                   "reference": "reference f_ref", "seeds": "seeds", "configs": "configurations",
                   "failed_configs": "failed"}
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
                   caption="Final gaps within round-off, |gap| ≤ 1e-12·max(1, |f_ref|) (the certificates' "
                           f"tolerance), are ties: their order is float noise. A tie is broken by the {name} to "
                           f"reach the target gap (target = {tol:g}, as in the next table), then by the time to "
                           "reach it; \"decided by\" says which.",
                   empty_note="No finished run."),
        TableBlock(f"Best configuration by cost to reach the target gap target·(f(x0) − f_ref), target = {tol:g}",
                   display_frame(by_cost, cost_headers),
                   caption="A configuration reaches the target when every seed does; costs are means over seeds, "
                           "counted at the first recorded iteration that passes. " + COST_NOTES[cost],
                   empty_note="No run history."),
    ])


_TIGHTNESS_TEXT = (
    "Tightness = max over checked iterations t ≥ 1 of observed/bound, and the iteration where it occurs: 1 means "
    "the bound is attained, 0.5 that the run stayed at least a factor 2 inside it, above 1 a violation (t = 0 is "
    "left out: there most bounds reduce to f(x0) − f* ≤ f(x0) − f*). For per-step inequalities between values of "
    "f (descent lemma, Newton's damped phase) it is the guaranteed decrease over the actual decrease. Points whose "
    "bound is at round-off level (≤ 1e-12·max(1, |f|, |f*|, |observed|, |bound|)) are left out: there the ratio "
    "is noise. The verdict itself comes from the slack bound − observed at every checked point."
)


def _certificates(
    certificates: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame, results: pd.DataFrame
) -> Section:
    if certificates.empty:
        return Section("certificates", "Theory certificates", [TextBlock("No certificate was computed.")])
    summary = display_frame(tables.certificate_summary(certificates, curves, results, runs), {
        "bound": "bound", "runs": "runs", "held": "held", "roundoff": "of which within round-off",
        "violated": "violated", "not_applicable": "not applicable", "tightness": "tightest observed/bound",
        "tight_run": "in run", "tight_iter": "at iter", "statement": "statement"})
    checks = display_frame(tables.certificate_checks(certificates, runs, curves, results), {
        "state": "verdict", "problem": "problem", "config": "configuration", "seed": "seed", "bound": "bound",
        "worst_slack": "worst slack", "tightness": "tightness (max observed/bound, t ≥ 1)",
        "tight_iter": "at iter", "first_violation": "first violation (iter)", "n_checked": "points checked",
        "run_id": "run"})
    reasons = display_frame(tables.not_applicable_reasons(certificates), {"bound": "bound", "reason": "reason",
                                                                          "runs": "runs"})
    from testbed.plots import certificate_heatmap

    return Section("certificates", "Theory certificates", [
        TextBlock(_TIGHTNESS_TEXT),
        TableBlock("Summary per bound (violations first)", summary),
        TableBlock("Checks, violations first", checks,
                   caption="Worst slack = min over the checked iterations of bound − observed; negative = violated. "
                           "An excess within the documented floating-point tolerance counts as held (round-off). "
                           "Tightness: see above.",
                   empty_note="No bound applied to any run."),
        TableBlock("Why bounds did not apply", reasons, empty_note="Every bound applied to every run."),
        _figure("certificates", "Certificates: runs × bounds",
                "Green: held (round-off included), red: violated, grey: not applicable.",
                lambda: certificate_heatmap(certificates, runs)),
    ])


def _convergence(results: pd.DataFrame, curves: pd.DataFrame, note: str, cost: str, target: float) -> Section:
    from testbed import plots
    from testbed.plots.data import constrained_problems

    if results.empty:
        return Section("convergence", "Convergence", [TextBlock("Omitted: no run history in this directory.")])
    from testbed.profiles import REFERENCE_CERTIFIED, reference_values

    sub = "Suboptimality f − f* on a log scale. "
    if (reference_values(results)["source"] != REFERENCE_CERTIFIED).any():
        sub += (
            "Where f* is unknown (as the y label says) the panel shows f − f_L with f_L = min observed f − δ, "
            f"δ = {target:g}·(f(x0) − min observed f) (the target times the progress of the median run; dotted "
            "line): the curves stay above δ instead of plunging to 0 at the end of the run that found the "
            "minimum, and a run reaches the target exactly when its curve is at or below 2δ. "
        )
    band = "Lines are means over seeds, bands the min–max range over seeds; configurations of one optimizer share "
    band += "a hue and differ in lightness and marker. "
    logx = ("The x axis is symmetric-log (log above the smallest positive x's decade, linear below it, so x = 0 "
            "stays visible; the label says so) when the lines of a panel end more than 100 times apart. ")
    blocks: list[Any] = [
        _figure(f"suboptimality-{x}", f"Suboptimality against {label}",
                sub + band + "Dashed lines: the bounds of the certificates. " + logx + extra + note,
                lambda x=x: plots.suboptimality(results, x=x, curves=curves, target=target))
        for x, label, extra in (("iter", "iterations", ""), (cost, COST_NAMES[cost], COST_NOTES[cost] + " "),
                                ("time_s", "wall time", ""))
    ]
    boxed = constrained_problems(results)
    boxed_note = (
        f"Constrained problems ({', '.join(boxed)}): at a constrained optimum ∇f(x*) is not 0 (it is normal to "
        "the feasible set), so their curves flatten at ‖∇f(x*)‖ > 0 by design; judge those runs by f − f*. "
        if boxed else ""
    )
    blocks.append(_figure("grad-norm", "Gradient norm",
                          "‖∇f(x_t)‖ on a log scale. " + boxed_note + band + logx + note,
                          lambda: plots.grad_norm(results, curves=curves, constrained=boxed)))
    blocks.append(_figure(
        "descent-slack", "Descent-lemma slack",
        "f(x_t) − f(x_t+1) − ‖∇f(x_t)‖²/(2L) per iteration (lecture 8): the descent lemma guarantees it is ≥ 0 for "
        "gradient descent with step 1/L; for other methods it is a diagnostic. Runs without a known L are left out. "
        + logx + note,
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
        f"factor τ of the fastest, cost = {COST_NAMES[cost]}, target = {tol:g} (solved once f ≤ f_L + "
        f"{tol:g}·(f(x0) − f_L)); the title says which reference f_L (certified f* or best value found) each "
        "problem used. " + COST_NOTES[cost],
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
        f"{COST_NAMES[cost]}), target = {tol:g} (solved once f ≤ f_L + {tol:g}·(f(x0) − f_L)). "
        + COST_NOTES[cost] + note,
        draw_data_profile))
    return Section("comparison", "Comparison across problems", blocks)


def _training(results: pd.DataFrame, note: str) -> Section:
    from testbed import plots

    if results.empty:
        return Section("training", "Training curves (ERM)", [TextBlock("Omitted: no run history in this directory.")])
    return Section("training", "Training curves (ERM)", [_figure(
        "training", "Training and test curves",
        "Training objective and test loss (log scale when they span more than a decade), training and test "
        "accuracy, against epochs. The accuracy y range is set from the last 3/4 of each run with a margin, so "
        "final accuracies that differ by a point or two can be told apart (the panel title says when the early "
        "rise leaves through the bottom). " + note,
        lambda: plots.training_curves(results))])


def _failures(runs: pd.DataFrame) -> Section:
    failed = tables.failed_runs(runs)
    headers = {"status": "status", "problem": "problem", "config": "configuration", "seed": "seed",
               "iterations": "iterations", "message": "message", "run_id": "run"}
    return Section("failures", "Runs that diverged or errored", [
        TableBlock(f"{len(failed)} run(s)", display_frame(failed, headers), empty_note="No run diverged or errored.")
    ])


def build_report(results_dir: str | Path, target: float | None = None, tol: float | None = None) -> Report:
    """Read ``results_dir`` with :mod:`testbed.storage`'s loaders and assemble the :class:`Report`.

    ``target`` is the relative target of the target gap target * (f(x0) - f_ref) (best-by-cost table, tie-break
    of the best-by-final-gap table, profiles, margin of f_L), resolved by :func:`resolve_target` (default 1e-3);
    ``tol`` is its older name.
    """
    from testbed.storage import load_certificates, load_curves, load_manifest, load_results, load_runs

    root = Path(results_dir)
    manifest = load_manifest(root) if (root / "manifest.json").is_file() else {}
    target = resolve_target(target, tol, manifest)
    results, runs = load_results(root), load_runs(root)
    certificates, curves = load_certificates(root), load_curves(root)
    spec_path = root / "spec.toml"
    spec = spec_path.read_text(encoding="utf-8") if spec_path.is_file() else ""

    cost = comparison_cost(runs)
    best = tables.best_by_final_gap(results, runs, target, cost)
    drawn, selection_note = _curve_selection(best, results) if len(results) else (results, "")
    dims = problem_dimensions(root, runs, results) if len(runs) else {}
    experiment = str(manifest.get("experiment") or root.name)
    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    sections = [
        _overview(manifest, runs, root, target),
        Section("spec", "Specification", [CodeBlock(spec, "toml") if spec else TextBlock("No spec.toml found.")]),
        _environment(manifest),
        _best(results, runs, best, target, cost),
        _certificates(certificates, runs, curves, results),
        _convergence(drawn, curves, selection_note, cost, target),
        _comparison(results, runs, dims, target, cost),
        _training(drawn, selection_note),
        _failures(runs),
    ]
    subtitle = [f"{len(runs)} finished run(s) on {runs['problem'].nunique() if len(runs) else 0} problem(s)",
                f"relative target {target:g}"]
    return Report(title=f"optim-testbed report: {experiment}", subtitle=subtitle, generated=generated,
                  sections=sections)
