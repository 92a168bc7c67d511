"""A small synthetic results directory in the layout of the brief ("Results layout"), written with
testbed.storage's own writer, and the tables loaded from it.

Problems (three, chosen so every figure has something to show):
- ``quad-5`` (family quadratic, dim 5): certified f* = 0.5 (so f != f - f*), L = 4, ||x0 - x*||^2 = 2.
  ``gd lr=0.25`` (= 1/L) converges linearly under its bound curves; ``gd lr=0.6`` diverges on both seeds;
  ``adam`` at two learning rates; ``lbfgs`` errors before recording anything (no history file).
- ``rosen-2`` (family rosenbrock, dim 2): f* unknown (NaN), so plots use f - min observed.
- ``logreg`` (family logistic, n=100, d=4 -> dim 5): ERM monitors test_f, train_acc, test_acc.
Seeds 0 and 1 for every configuration; histories are made from closed forms with seeded noise.
Text fields carry HTML metacharacters to test escaping.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from testbed import environment
from testbed.storage import (
    load_certificates,
    load_curves,
    load_manifest,
    load_results,
    load_runs,
    write_json,
    write_run,
)

EXPERIMENT = "synthetic <demo> & co"
SPEC_TEXT = """name = "synthetic"
description = "A <script>alert('x')</script> & 'quoted' test spec"
seeds = [0, 1]

[[problems]]
family = "quadratic"
label = "quad-5"

[[optimizers]]
method = "gd"
grid.lr = [0.25, 0.6]
"""
INJECTION = "<script>alert('x')</script>"

QUAD = {"label": "quad-5", "family": "quadratic", "params": {"dim": 5}, "f_star": 0.5, "L": 4.0, "R2": 2.0}
ROSEN = {"label": "rosen-2", "family": "rosenbrock", "params": {}, "f_star": math.nan, "L": math.nan, "R2": math.nan}
LOGREG = {"label": "logreg", "family": "logistic", "params": {"n": 100, "d": 4}, "f_star": math.nan, "L": 0.3,
          "R2": math.nan}

#: (problem, optimizer label, config label, method, lr, kind) of every configuration with a history.
CONFIGS = [
    (QUAD, "gd", "gd lr=0.25", "gd", 0.25, "linear"),
    (QUAD, "gd", "gd lr=0.6", "gd", 0.6, "diverge"),
    (QUAD, "adam", "adam lr=0.01", "adam", 0.01, "slow"),
    (QUAD, "adam", "adam lr=0.1", "adam", 0.1, "medium"),
    (ROSEN, "gd", "gd lr=0.001", "gd", 0.001, "slow"),
    (ROSEN, "adam", "adam lr=0.01", "adam", 0.01, "medium"),
    (LOGREG, "sgd", "sgd lr=0.1", "sgd", 0.1, "erm_fast"),
    (LOGREG, "adam", "adam lr=0.01", "adam", 0.01, "erm_slow"),
]
SEEDS = (0, 1)
ITERS = 40
DIVERGE_AT = 25
BOUNDS = ("gd_sublinear", "gd_tight", "descent_lemma", "strongly_convex_linear")


def run_id_of(problem: dict, config: str, seed: int) -> str:
    return f"{problem['label']}__{config.replace(' ', '_').replace('=', '')}__s{seed}"


def _gap_curve(kind: str, gap0: float, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = np.exp((0.005 if kind == "linear" else 0.05) * rng.standard_normal(t.size))
    noise[0] = 1.0
    if kind == "linear":
        return gap0 * 0.7**t * noise
    if kind == "diverge":
        return gap0 * 3.0**t * noise
    if kind == "slow":
        return gap0 / (1.0 + 0.1 * t) * noise
    if kind == "medium":
        return gap0 * 0.8**t * noise + 1e-6
    if kind == "erm_fast":
        return 0.4 * 0.9**t * noise + 0.25
    return 0.4 * 0.97**t * noise + 0.25


def _history(problem: dict, kind: str, seed: int, lr: float) -> pd.DataFrame:
    rng = np.random.default_rng([seed, len(kind), int(lr * 1e4)])
    t = np.arange(ITERS + 1, dtype=np.float64)
    if kind == "diverge":
        t = t[: DIVERGE_AT + 1]
    f_star = problem["f_star"]
    base = 0.5 if math.isnan(f_star) else f_star
    gap = _gap_curve(kind, 1.0 + 0.1 * seed, t, rng)
    f = base + gap if not kind.startswith("erm") else gap
    L = problem["L"] if np.isfinite(problem["L"]) else 10.0
    # ||g||^2 / (2L) = 0.27 gap: gradient descent's linear decrease of 0.3 gap keeps the descent lemma (slack > 0).
    grad_norm = np.sqrt(2.0 * L * 0.27 * np.maximum(gap, 1e-300))
    hist = pd.DataFrame(
        {
            "iter": t.astype(np.int64),
            "f": f,
            "f_gap": f - f_star,
            "grad_norm": grad_norm,
            "dist_to_opt": np.sqrt(2.0 * gap / 1.0) if np.isfinite(f_star) else np.nan,
            "lr": np.r_[np.full(t.size - 1, lr), np.nan],
            "grad_evals": t.astype(np.int64) * (2 if kind == "medium" else 1),
            "f_evals": np.zeros(t.size, dtype=np.int64),
            "hvp_evals": np.zeros(t.size, dtype=np.int64),
            "hess_evals": np.zeros(t.size, dtype=np.int64),
            "epochs": t * (0.25 if kind.startswith("erm") else 1.0),
            "time_s": t * 1e-3 * (1.0 + 0.2 * seed) * (3.0 if kind == "medium" else 1.0),
        }
    )
    if kind.startswith("erm"):
        hist["test_f"] = f + 0.05
        hist["train_acc"] = 1.0 - 0.6 * gap
        hist["test_acc"] = 1.0 - 0.6 * gap - 0.03
    return hist


def _certificate(
    run_id: str, problem: dict, kind: str, seed: int, hist: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, curves = [], []
    gd_on_quad = problem is QUAD and kind in ("linear", "diverge")
    for bound in BOUNDS:
        row = {"bound": bound, "applicable": False, "reason": "", "held": pd.NA, "n_checked": 0,
               "worst_slack": math.nan, "worst_rel_slack": math.nan, "worst_iter": -1, "first_violation": -1,
               "roundoff": False, "statement": f"statement of {bound} with x < y & z"}
        if bound == "strongly_convex_linear":
            row["reason"] = "mu = 0: not strongly convex"
        elif not gd_on_quad:
            row["reason"] = "applies to gradient descent on a known-L convex problem"
        elif kind == "diverge" and bound != "descent_lemma":
            row["reason"] = "step 2.4/L > 2/L"
        else:
            t = hist["iter"].to_numpy(dtype=np.float64)
            gap = hist["f_gap"].to_numpy(dtype=np.float64)
            L, R2 = problem["L"], problem["R2"]
            if bound == "gd_sublinear":
                value = 2 * L * R2 / (t + 4)
            elif bound == "gd_tight":
                value = L * R2 / (4 * t + 2)
            else:  # f(x_t) <= f(x_{t-1}) - ||g_{t-1}||^2/(2L): on f, not on the gap, so never drawn as a gap bound
                f_hist = hist["f"].to_numpy()
                g2 = hist["grad_norm"].to_numpy() ** 2
                value = np.r_[f_hist[0], f_hist[:-1] - g2[:-1] / (2 * L)]
            observed = hist["f"].to_numpy(dtype=np.float64) if bound == "descent_lemma" else gap
            slack = value - observed
            violated = kind == "diverge"
            row.update(applicable=True, held=not violated, n_checked=len(t), worst_slack=float(slack.min()),
                       worst_rel_slack=float((slack / np.abs(value)).min()), worst_iter=int(np.argmin(slack)),
                       first_violation=int(np.flatnonzero(slack < 0)[0]) if violated else -1,
                       roundoff=bound == "gd_tight" and seed == 1)
            curves.append(pd.DataFrame({"bound": bound, "iter": t.astype(np.int64), "bound_value": value,
                                        "observed": observed}))
        rows.append(row)
    cert = pd.DataFrame(rows)
    cert["held"] = cert["held"].astype("boolean")
    cert.insert(0, "run_id", run_id)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        {"bound": pd.Series([], dtype=object), "iter": pd.Series([], dtype="int64"),
         "bound_value": pd.Series([], dtype="float64"), "observed": pd.Series([], dtype="float64")})
    curve.insert(0, "run_id", run_id)
    return cert, curve


def _identity(run_id: str, problem: dict, optimizer: str, config: str, method: str, seed: int, status: str,
              lr: float) -> dict:
    return {"run_id": run_id, "experiment": EXPERIMENT, "problem": problem["label"], "family": problem["family"],
            "optimizer": optimizer, "config": config, "method": method, "seed": seed, "status": status,
            "base_lr": lr, "batch_size": math.nan, "L": problem["L"], "f_star": problem["f_star"], "hp_lr": lr}


def _record(identity: dict, problem: dict, status: str, message: str, hist: pd.DataFrame | None) -> dict:
    final = {}
    if hist is not None:
        last = hist.iloc[-1]
        final = {k: float(last[k]) for k in ("f", "f_gap", "grad_norm", "time_s")}
        final["grad_evals"] = int(last["grad_evals"])
    config = {"run_id": identity["run_id"], "experiment": EXPERIMENT,
              "problem": {"label": problem["label"], "family": problem["family"], "params": problem["params"]},
              "optimizer": {"label": identity["optimizer"], "config": identity["config"],
                            "method": identity["method"], "hparams": {"lr": identity["base_lr"]}, "batch_size": None},
              "seed": identity["seed"]}
    return {"config": config, "identity": identity, "status": status, "message": message,
            "iterations": None if hist is None else int(hist["iter"].iloc[-1]), "final": final, "traceback": None,
            "environment": environment.describe(host=True), "timings": {"total_s": 0.01}}


def build_results(root: Path, with_manifest: bool = True) -> Path:
    """Write the synthetic sweep into ``root`` (created) and return it."""
    runs_dir = root / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    (root / "spec.toml").write_text(SPEC_TEXT)
    manifest_runs = {}
    for problem, optimizer, config, method, lr, kind in CONFIGS:
        for seed in SEEDS:
            run_id = run_id_of(problem, config, seed)
            hist = _history(problem, kind, seed, lr)
            status = "diverged" if kind == "diverge" else "max_iters"
            message = (f"diverged at iteration {DIVERGE_AT} (f = 1e+12) {INJECTION}" if status == "diverged"
                       else f"reached the iteration budget ({ITERS})")
            identity = _identity(run_id, problem, optimizer, config, method, seed, status, lr)
            lead = pd.DataFrame({k: [v] * len(hist) for k, v in identity.items()})
            lead["seed"] = lead["seed"].astype("int64")
            history = pd.concat([lead, hist], axis=1)
            cert, curves = _certificate(run_id, problem, kind, seed, hist)
            write_run(runs_dir, run_id, {"history": history, "certificate": cert, "curves": curves},
                      _record(identity, problem, status, message, hist))
            manifest_runs[run_id] = {"status": status, "problem": problem["label"], "optimizer": optimizer,
                                     "config": config, "seed": seed}
    for seed in SEEDS:  # a run that failed before recording anything: record only, no tables
        run_id = run_id_of(QUAD, "lbfgs", seed)
        identity = _identity(run_id, QUAD, "lbfgs", "lbfgs", "lbfgs", seed, "error", math.nan)
        write_run(runs_dir, run_id, {}, _record(identity, QUAD, "error", "build: LinAlgError: singular <matrix>", None))
        manifest_runs[run_id] = {"status": "error", "problem": QUAD["label"], "optimizer": "lbfgs",
                                 "config": "lbfgs", "seed": seed, "message": "build: LinAlgError"}
    if with_manifest:
        write_json(root / "manifest.json", {
            "experiment": EXPERIMENT, "description": f"Synthetic results {INJECTION}", "spec_hash": "0123abcd",
            "created": "2025-01-01T00:00:00+00:00", "package_version": "0.1.0",
            "environment": environment.describe(), "n_runs": len(manifest_runs), "runs": manifest_runs})
    return root


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic results directory (shared, read-only: tests that write copy it first)."""
    return build_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def tables(results_dir: Path) -> dict:
    """The directory's tables through testbed.storage's loaders."""
    return {"results": load_results(results_dir), "runs": load_runs(results_dir),
            "certificates": load_certificates(results_dir), "curves": load_curves(results_dir),
            "manifest": load_manifest(results_dir)}


@pytest.fixture(scope="session")
def written_report(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the synthetic results with its report written (both formats); returns the index.html path."""
    import shutil

    from testbed.report import write_report

    target = tmp_path_factory.mktemp("reported") / "results"
    shutil.copytree(results_dir, target)
    return write_report(target)
