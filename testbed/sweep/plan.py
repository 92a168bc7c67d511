"""From a validated spec to the list of runs, each with a stable id.

Runs are ordered problem instance, then optimizer configuration, then seed
(each in the order written in the spec and expanded by its grid). A run's id
is the first 16 hex digits of the sha256 of its fully resolved configuration
(canonical JSON: experiment, problem label/family/parameters, optimizer
label/configuration/method/hyperparameters, seed, budget, recording,
batch size, bounds, monitors) and the package version: the same spec gives
the same ids on every machine, and any change that could change a stored
row (including a label, which is stored) gives a new id.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from testbed.sweep.build import run_seeded, split_run_settings
from testbed.sweep.grid import Entry, format_value

__all__ = ["hp_columns", "plan_runs", "run_id", "version"]


def version() -> str:
    """The installed optim-testbed version (part of every run id)."""
    from testbed.environment import package_version

    return package_version("optim-testbed") or "unknown"


def _instance_label(entry: Entry, swept: dict[str, Any]) -> str:
    parts = [entry.label] + [f"{k}={format_value(v)}" for k, v in swept.items()]
    return " ".join(parts)


def run_id(config: dict[str, Any]) -> str:
    """Stable id of a resolved run configuration (``run_id`` itself excluded)."""
    body = {k: v for k, v in config.items() if k != "run_id"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hp_columns(hparams: dict[str, Any]) -> dict[str, Any]:
    """``hp_<name>`` identity values: scalars as given (``"1/L"`` stays a string), others as their label text."""
    out = {}
    for k, v in hparams.items():
        out[f"hp_{k}"] = v if isinstance(v, (bool, int, float, str)) else format_value(v)
    return out


def plan_runs(spec: Any) -> list[dict[str, Any]]:
    """Every run of ``spec`` as a JSON-friendly configuration dict with its ``run_id``."""
    problem_points = {
        e.index: [{"label": _instance_label(e, p.swept), "family": e.name, "params": p.values} for p in e.points()]
        for e in spec.problems
    }
    optimizer_points: dict[int, list[dict[str, Any]]] = {}
    for e in spec.optimizers:
        optimizer_points[e.index] = []
        for p in e.points():
            hparams, settings = split_run_settings(p.values)
            batch = settings.get("batch_size", spec.batch_size)
            optimizer_points[e.index].append(
                {
                    "label": e.label,
                    "config": _instance_label(e, p.swept),
                    "method": e.name,
                    "hparams": hparams,
                    "batch_size": None if batch == "full" else batch,
                }
            )
    common = {
        "experiment": spec.name,
        "budget": dict(spec.budget),
        "record_every": spec.record_every,
        "bounds": spec.bounds,
        "monitors": list(spec.monitors),
        "package_version": version(),
    }
    runs = []
    for pe in spec.problems:
        for prob in problem_points[pe.index]:
            for oe in spec.optimizers:
                if oe.only is not None and pe.label not in oe.only:
                    continue
                for opt in optimizer_points[oe.index]:
                    for seed in spec.seeds:
                        params = run_seeded(prob["params"], seed)
                        instance = prob if params is prob["params"] else {**prob, "params": params}
                        config = {**common, "problem": instance, "optimizer": opt, "seed": seed}
                        runs.append({"run_id": run_id(config), **config})
    if len({r["run_id"] for r in runs}) != len(runs):
        raise RuntimeError("two runs of one spec got the same id; labels and grid candidates should prevent this")
    return runs
