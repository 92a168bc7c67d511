"""The lecture's studies in experiments/ stay runnable and say what they claim.

Every spec validates with ``testbed validate``; a shrunken copy of each numbered study (few iterations, one
or two seeds, every problem, optimizer and grid value kept) runs end to end with no errored run; and the
claims the specs' comments make about their own grids hold (the batch-size ladders follow their scaling
rule, the Polyak heavy-ball tunings match the problems' condition numbers, the seeds change the runs of
the minibatch studies).
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from testbed import cli, storage
from testbed.sweep import parse_spec, plan_runs, run_sweep

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SPECS = sorted(EXPERIMENTS.glob("*.toml"))
STUDIES = sorted(EXPERIMENTS.glob("[0-9][0-9]_*.toml"))
#: Budget of a shrunken study: enough steps for every method to take a few (Newton, barrier, line searches).
SHRUNK_ITERS = 12
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(autouse=True)
def _private_reference_cache(tmp_path, monkeypatch):
    """Reference optima are computed afresh into a private cache, never read from the user's."""
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path / "cache"))


def load(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


# ------------------------------------------------------------------ a small TOML writer for the shrunken specs
def toml_value(value: Any) -> str:
    """A TOML literal for a value read by tomllib from a spec (bool, int, float, str, list, table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value), value
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON escapes are valid in TOML basic strings
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML literal for {type(value).__name__}")


def toml_key(key: str) -> str:
    return key if BARE_KEY.match(key) else json.dumps(key)


def to_toml(raw: dict[str, Any]) -> str:
    """Spec text for a spec dict: top-level values, then [budget], then the [[problems]] and [[optimizers]]."""
    tables = ("budget", "problems", "optimizers")
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in raw.items() if k not in tables]
    if "budget" in raw:
        lines += ["", "[budget]", *(f"{toml_key(k)} = {toml_value(v)}" for k, v in raw["budget"].items())]
    for kind in ("problems", "optimizers"):
        for entry in raw.get(kind, []):
            lines += ["", f"[[{kind}]]", *(f"{toml_key(k)} = {toml_value(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"


def shrink(raw: dict[str, Any]) -> dict[str, Any]:
    """The same study, cheap: at most SHRUNK_ITERS steps, at most two seeds, records every step; problems,
    optimizers, grids, batch sizes, bounds and monitors untouched."""
    small = copy.deepcopy(raw)
    budget = small["budget"]
    budget["iters"] = min(budget.get("iters", SHRUNK_ITERS), SHRUNK_ITERS)
    budget.pop("max_time", None)  # keep the shrunken runs machine-independent
    seeds = small.get("seeds", 1)
    small["seeds"] = min(seeds, 2) if isinstance(seeds, int) else seeds[:2]
    small["record_every"] = 1
    small["name"] = small["name"] + "-shrunk"
    return small


# ------------------------------------------------------------------ tests
def test_there_are_six_numbered_studies():
    assert len(STUDIES) == 6, [p.name for p in STUDIES]
    assert [p.name[:2] for p in STUDIES] == ["01", "02", "03", "04", "05", "06"]
    readme = (EXPERIMENTS / "README.md").read_text()
    for path in STUDIES:
        assert f"experiments/{path.name}" in readme, f"README.md has no section for {path.name}"
        text = path.read_text()
        header = text.split("\nname =", 1)[0]
        assert "What to look at in the report" in header and "-j 2" in header, path.name


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_spec_validates(path, capsys):
    code = cli.main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "OK" in out
    assert load(path)["name"] == path.stem  # the report lands in reports/<file stem>/


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_toml_writer_round_trips(path):
    raw = load(path)
    assert tomllib.loads(to_toml(raw)) == raw


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_shrunken_study_runs_without_errors(path, tmp_path):
    raw = load(path)
    small = shrink(raw)
    spec = parse_spec(to_toml(small), f"{path.name} (shrunken)")
    full = parse_spec(path.read_text(), path.name, dry_run=False)
    plan = plan_runs(spec)
    # Shrinking keeps every problem instance and optimizer configuration of the study.
    configs = {(r["problem"]["label"], r["optimizer"]["config"]) for r in plan}
    assert configs == {(r["problem"]["label"], r["optimizer"]["config"]) for r in plan_runs(full)}
    outcome = run_sweep(spec, tmp_path / "out", n_jobs=1, quiet=True)
    assert outcome.ok, outcome.failures[:3]
    assert outcome.executed == len(plan)
    runs = storage.load_runs(tmp_path / "out")
    assert len(runs) == len(plan)
    assert set(runs["status"]) <= {"max_iters", "converged", "diverged"}, runs["status"].value_counts()
    certificates = storage.load_certificates(tmp_path / "out")
    applicable = certificates[certificates["applicable"].astype(bool)]
    assert applicable["held"].astype(bool).all(), applicable.loc[~applicable["held"].astype(bool), "bound"]
    if raw.get("monitors"):
        results = storage.load_results(tmp_path / "out")
        for column in ("train_acc", "test_acc", "test_f"):
            assert results[column].notna().any(), column


def test_seeds_change_the_minibatch_studies(tmp_path):
    """Studies 3 and 4 claim their seeds draw the minibatch order: two seeds give two different runs."""
    for path in STUDIES:
        raw = load(path)
        if raw.get("seeds", 1) == 1:
            continue
        small = shrink(raw)
        small["problems"] = small["problems"][:1]
        label = small["problems"][0].get("label", small["problems"][0]["family"])
        small["optimizers"] = [o for o in small["optimizers"] if label in o.get("problems", [label])][:1]
        out = tmp_path / path.stem
        assert run_sweep(parse_spec(to_toml(small)), out, n_jobs=1, quiet=True).ok
        results = storage.load_results(out)
        first = results[results["config"] == results["config"].iloc[0]]
        by_seed = [g["f"].to_numpy() for _, g in first.groupby("seed")]
        assert len(by_seed) == 2 and not (by_seed[0] == by_seed[1]).all(), path.name
        assert (results["batch_size"].notna()).all(), path.name


def test_batch_size_ladders_follow_their_rules():
    """In 04_batch_size every zipped (batch_size, lr) pair is lr0 * N (linear), lr0 * sqrt(N) (sqrt) or lr0."""
    raw = load(EXPERIMENTS / "04_batch_size.toml")
    base = {}
    for entry in raw["optimizers"]:
        if entry["label"].endswith("-linear"):
            base[entry["name"]] = (entry["grid"]["batch_size"][0], entry["grid"]["lr"][0])
    assert set(base) == {"sgd", "adam"}
    rules = {"linear": lambda n: n, "sqrt": math.sqrt, "fixed": lambda n: 1.0}
    seen = set()
    for entry in raw["optimizers"]:
        rule = entry["label"].rsplit("-", 1)[1]
        b0, lr0 = base[entry["name"]]
        if "grid" in entry:
            assert entry["zip"] == [["batch_size", "lr"]]
            pairs = list(zip(entry["grid"]["batch_size"], entry["grid"]["lr"], strict=True))
        else:
            pairs = [(entry["batch_size"], entry["lr"])]
        for batch, lr in pairs:
            assert lr == pytest.approx(lr0 * rules[rule](batch / b0), rel=1e-4), (entry["label"], batch, lr)
        seen.add((entry["name"], rule))
    assert seen == {(n, r) for n in ("sgd", "adam") for r in rules}


def test_polyak_heavy_ball_tunings_match_the_problems():
    """02_momentum's heavy_ball-polyak zips Polyak's (c/L, momentum) for the kappa = L/mu of each problem."""
    import problems

    raw = load(EXPERIMENTS / "02_momentum.toml")
    polyak = next(o for o in raw["optimizers"] if o.get("label") == "heavy_ball-polyak")
    pairs = list(zip(polyak["grid"]["lr"], polyak["grid"]["momentum"], strict=True))
    assert len(pairs) == len(raw["problems"])
    for entry, (lr, momentum) in zip(raw["problems"], pairs, strict=True):
        params = {k: v for k, v in entry.items() if k not in ("family", "label")}
        problem = problems.make(entry["family"], **params)
        root = math.sqrt(problem.L / problem.mu)
        assert float(lr.removesuffix("/L")) == pytest.approx(4.0 / (1.0 + 1.0 / root) ** 2, rel=1e-4), entry
        assert momentum == pytest.approx(((root - 1.0) / (root + 1.0)) ** 2, rel=1e-4), entry


def test_a_shrunken_study_runs_through_the_command_line_to_its_report(tmp_path, capsys):
    """`testbed run` on a study (here 04, the one with monitors, minibatches and zipped grids) writes the
    results and the report, and the report names every problem and optimizer of the study."""
    raw = load(EXPERIMENTS / "04_batch_size.toml")
    small = shrink(raw)
    small["seeds"] = 1
    spec_path = tmp_path / "04_batch_size.toml"
    spec_path.write_text(to_toml(small))
    out = tmp_path / "report"
    assert cli.main(["run", str(spec_path), "-j", "1", "--quiet", "--out", str(out)]) == 0, capsys.readouterr().err
    assert (out / "index.html").is_file()
    report = (out / "report.md").read_text()
    for entry in raw["problems"] + raw["optimizers"]:
        assert entry["label"].replace("_", "\\_") in report, entry["label"]
    assert "figures/training.png" in report
