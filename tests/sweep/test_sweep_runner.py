"""Sweeps: reproducible tables, resumption, failures as results, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import assert_same_tables, python, subprocess_env, tiny_spec, without_time

from testbed import cli, storage
from testbed.sweep import SpecError, load_spec, parse_spec, plan_runs, run_sweep


def test_same_spec_twice_gives_identical_tables(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec()))
    a = run_sweep(spec, tmp_path / "a", n_jobs=1, quiet=True)
    b = run_sweep(spec, tmp_path / "b", n_jobs=1, quiet=True)
    assert a.executed == b.executed == 12 and a.ok and b.ok
    assert_same_tables(tmp_path / "a", tmp_path / "b")
    results = storage.load_results(tmp_path / "a")
    assert len(results) == 12 * 31
    # time columns do differ between executions, which is why they are set aside
    assert "time_s" in results.columns


def test_parallel_and_serial_tables_are_identical(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec(seeds=2)))
    run_sweep(spec, tmp_path / "j1", n_jobs=1, quiet=True)
    out = run_sweep(spec, tmp_path / "j2", n_jobs=2, quiet=True)
    assert out.executed == 12
    assert_same_tables(tmp_path / "j1", tmp_path / "j2")


def test_results_layout_identity_columns_and_record(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec("layout", seeds=1)))
    run_sweep(spec, tmp_path / "out", n_jobs=1, quiet=True)
    out = tmp_path / "out"
    assert (out / "spec.toml").read_text() == spec.text
    manifest = storage.load_manifest(out)
    assert manifest["experiment"] == "layout" and manifest["spec_hash"] == spec.spec_hash
    assert set(manifest["environment"]["packages"]) >= {"numpy", "scipy", "pandas", "cvxpy"}
    ids = [c["run_id"] for c in plan_runs(spec)]
    assert list(manifest["runs"]) == ids
    assert all(v["status"] == "max_iters" for v in manifest["runs"].values())
    df = storage.load_results(out)
    assert list(df.columns[:13]) == list(storage.IDENTITY_COLUMNS)
    assert list(df.columns[13:16]) == ["hp_lr", "hp_betas", "iter"]
    adam = df[df["config"] == "adam lr=0.1"]
    assert set(adam["optimizer"]) == {"adam"} and set(adam["method"]) == {"adam"}
    assert set(adam["hp_betas"]) == {"(0.9, 0.999)"} and set(adam["hp_lr"]) == {0.1}
    gd = df[df["optimizer"] == "gd"]
    assert set(gd["hp_lr"]) == {"1/L"}
    assert (gd["base_lr"] == 1 / gd["L"]).all()
    assert set(df["problem"]) == {"quadratic", "least_squares"} and df["batch_size"].isna().all()
    record = json.loads((out / "runs" / f"{ids[0]}.json").read_text())
    assert record["config"]["run_id"] == ids[0] and record["status"] == "max_iters"
    assert set(record["files"]) == {"history", "certificate", "curves"}
    assert {"run_s", "total_s"} <= set(record["timings"]) and "python" in record["environment"]
    cert = storage.load_certificates(out)
    assert set(cert["run_id"]) == set(ids) and str(cert["held"].dtype) == "boolean"
    gd_cert = cert[cert["run_id"].isin(gd["run_id"]) & (cert["bound"] == "descent_lemma")]
    assert len(gd_cert) == 2 and gd_cert["applicable"].all() and gd_cert["held"].all()
    curves = storage.load_curves(out)
    assert list(curves.columns) == ["run_id", "bound", "iter", "bound_value", "observed"] and len(curves) > 0
    runs = storage.load_runs(out)
    assert len(runs) == 6 and list(runs["run_id"]) == ids
    assert (runs["iterations"] == 30).all() and (runs["grad_evals"] == 30).all()


def test_a_list_of_bounds_certifies_only_those(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec(seeds=1, bounds='["descent_lemma", "gd_convex_rate"]')))
    run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)
    cert = storage.load_certificates(tmp_path / "o")
    assert set(cert["bound"]) == {"descent_lemma", "gd_convex_rate"} and len(cert) == 2 * 6


def test_rerun_skips_finished_runs_and_force_redoes_them(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec()))
    first = run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "o" / "runs").iterdir()}
    again = run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)
    assert (first.executed, again.executed, again.skipped) == (12, 0, 12)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "o" / "runs").iterdir()} == stamp
    forced = run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True, force=True)
    assert forced.executed == 12


def test_a_changed_spec_runs_only_new_runs_and_loaders_follow_the_spec(tmp_path, write_spec):
    out = tmp_path / "o"
    run_sweep(load_spec(write_spec(tiny_spec(seeds=1))), out, n_jobs=1, quiet=True)
    bigger = load_spec(write_spec(tiny_spec(seeds=2), "bigger.toml"))
    outcome = run_sweep(bigger, out, n_jobs=1, quiet=True)
    assert (outcome.executed, outcome.skipped) == (6, 6)
    smaller = load_spec(write_spec(tiny_spec(seeds=2).replace("grid = { lr = [0.01, 0.1] }", "lr = 0.1"), "s.toml"))
    outcome = run_sweep(smaller, out, n_jobs=1, quiet=True)
    # the old adam runs stay on disk but belong to no run of the current spec
    assert len(storage.load_runs(out)) == 8 and len(list((out / "runs").glob("*.json"))) > 8


ERRORING = """
name = "errs"
bounds = []
[budget]
iters = 20
[[problems]]
family = "quadratic"
dim = 4
[[optimizers]]
name = "projected_gd"
[[optimizers]]
name = "gd"
label = "gd-too-long"
lr = "10/L"
[[optimizers]]
name = "gd"
"""


def test_a_failing_run_is_an_error_result_and_divergence_is_not(tmp_path, write_spec, capsys):
    path = write_spec(ERRORING)
    code = cli.main(["run", str(path), "--out", str(tmp_path / "o"), "-j", "1", "--no-report", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 runs failed" in captured.err and "needs a constrained problem" in captured.err
    runs = storage.load_runs(tmp_path / "o").set_index("optimizer")
    assert runs.loc["projected_gd", "status"] == "error"
    assert runs.loc["projected_gd", "message"].startswith("run: UserInputError: projected_gd: needs a constrained")
    assert runs.loc["gd-too-long", "status"] == "diverged"
    assert runs.loc["gd", "status"] == "max_iters"
    record = json.loads((tmp_path / "o" / "runs" / f"{runs.loc['projected_gd', 'run_id']}.json").read_text())
    assert "Traceback" in record["traceback"] and record["files"] == {}
    # errors are retried by the next sweep; finished results are kept
    again = run_sweep(load_spec(path), tmp_path / "o", n_jobs=1, quiet=True)
    assert (again.executed, again.skipped) == (1, 2)


def test_finished_record_rejects_incomplete_runs(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec(seeds=1)))
    run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)
    runs_dir = tmp_path / "o" / "runs"
    ids = [c["run_id"] for c in plan_runs(spec)]
    assert all(storage.finished_record(runs_dir, i) for i in ids)
    (runs_dir / f"{ids[0]}.curves.parquet").unlink()  # a named file missing
    with open(runs_dir / f"{ids[1]}.parquet", "ab") as fh:  # a named file of the wrong size
        fh.write(b"x")
    (runs_dir / f"{ids[2]}.json").write_text('{"run_id": "')  # a torn record
    assert [storage.finished_record(runs_dir, i) is None for i in ids[:4]] == [True, True, True, False]
    assert len(storage.load_runs(tmp_path / "o")) == 3
    outcome = run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)
    assert outcome.executed == 3 and len(storage.load_runs(tmp_path / "o")) == 6


def test_safe_child_refuses_escapes(tmp_path):
    from problems.errors import UserInputError

    assert storage.safe_child(tmp_path, "runs", "a.json") == (tmp_path / "runs" / "a.json").resolve()
    for bad in (("..", "x"), ("/etc/passwd",), ("runs", "..", "..", "x")):
        with pytest.raises(UserInputError, match="would leave the output directory"):
            storage.safe_child(tmp_path, *bad)
    (tmp_path / "link").symlink_to("/tmp")
    with pytest.raises(UserInputError):
        storage.safe_child(tmp_path, "link", "x")


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.json"
    storage.write_json(target, {"a": 1, "b": float("nan")})
    storage.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_keyboard_interrupt_keeps_finished_runs_and_the_manifest(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec()))

    def stop(summary, k):
        if k == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True, on_result=stop)
    manifest = storage.load_manifest(tmp_path / "o")
    assert sum(v["status"] != "pending" for v in manifest["runs"].values()) == 4
    assert len(storage.load_runs(tmp_path / "o")) == 4
    rest = run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)
    assert (rest.executed, rest.skipped) == (8, 4)


def test_a_second_sweep_on_the_same_directory_is_refused(tmp_path, write_spec):
    import fcntl

    from problems.errors import UserInputError

    spec = load_spec(write_spec(tiny_spec(seeds=1)))
    (tmp_path / "o").mkdir()
    with open(tmp_path / "o" / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UserInputError, match="another sweep is writing to"):
            run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)


def test_monitors_and_minibatches_reach_the_history(tmp_path):
    text = """
name = "erm"
bounds = []
monitors = ["accuracy", "test_loss"]
seeds = [3]
[budget]
iters = 10
[[problems]]
family = "logistic"
n = 80
d = 4
[[problems]]
family = "quadratic"
dim = 3
[[optimizers]]
name = "gd"
lr = 0.5
[[optimizers]]
name = "sgd"
lr = 0.1
SGD_LINES
"""
    # minibatches on a problem that is not a finite sum are refused ...
    with pytest.raises(SpecError, match=r"problems\[1\] \(quadratic\) is not a finite sum"):
        parse_spec(text.replace("SGD_LINES", "batch_size = 8"))
    # ... unless the entry is restricted to the finite sums
    spec = parse_spec(text.replace("SGD_LINES", 'problems = ["logistic"]\ngrid = { batch_size = [8, "full"] }'))
    planned = [(r["problem"]["label"], r["optimizer"]["config"], r["optimizer"]["batch_size"]) for r in plan_runs(spec)]
    assert planned == [
        ("logistic", "gd", None), ("logistic", "sgd batch_size=8", 8), ("logistic", "sgd batch_size=full", None),
        ("quadratic", "gd", None),
    ]
    run_sweep(spec, tmp_path / "o", n_jobs=1, quiet=True)
    df = storage.load_results(tmp_path / "o")
    assert {"train_acc", "test_acc", "test_f"} <= set(df.columns)
    logistic = df[df["problem"] == "logistic"]
    assert logistic["train_acc"].between(0, 1).all() and logistic["test_f"].notna().all()
    assert df.loc[df["problem"] == "quadratic", "train_acc"].isna().all()
    sgd_rows = df[df["config"] == "sgd batch_size=8"]
    assert (sgd_rows["batch_size"] == 8).all() and (sgd_rows["seed"] == 3).all()
    # 60 training samples: an epoch is 7 batches of 8 and one of 4, so 10 steps see 7*8 + 4 + 2*8 = 76 samples
    assert sgd_rows["epochs"].iloc[-1] == pytest.approx(76 / 60)
    assert df.loc[df["config"] == "sgd batch_size=full", "batch_size"].isna().all()


# ------------------------------------------------------------------ kill -9
SLOW = """
name = "slow"
seeds = 10
bounds = []
[budget]
iters = 3000
[[problems]]
family = "quadratic"
dim = 30
[[optimizers]]
name = "heavy_ball"
grid = { momentum = [0.1, 0.5, 0.9] }
"""


def _count_json(runs_dir: Path) -> int:
    return len(list(runs_dir.glob("*.json"))) if runs_dir.is_dir() else 0


def test_kill_9_mid_sweep_then_rerun_equals_an_uninterrupted_sweep(tmp_path, write_spec):
    path = write_spec(SLOW)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [python(), "-m", "testbed", "run", str(path), "--out", str(out), "-j", "1", "--quiet", "--no-report"],
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
    while _count_json(out / "runs") < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    finished = [p for p in (out / "runs").glob("*.json") if storage.finished_record(out / "runs", p.stem)]
    assert 4 <= len(finished) < 30
    # no file reads as finished that is not: every record is complete and its tables are readable
    for p in (out / "runs").glob("*.json"):
        record = storage.finished_record(out / "runs", p.stem)
        assert record is not None
        for info in record["files"].values():
            pd.read_parquet(out / "runs" / info["name"])
    spec = load_spec(path)
    resumed = run_sweep(spec, out, n_jobs=2, quiet=True)
    assert resumed.skipped == len(finished) and resumed.executed == 30 - len(finished)
    assert not list((out / "runs").glob(".tmp-*"))
    run_sweep(spec, tmp_path / "clean", n_jobs=2, quiet=True)
    assert_same_tables(out, tmp_path / "clean")
    assert len(without_time(storage.load_results(out))) == 30 * 3001
