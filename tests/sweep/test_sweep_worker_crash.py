"""A local worker process that dies mid-sweep (kill -9, segfault, out of memory) does not stop the sweep: the
run it was running is retried once, and recorded as an error if it kills its worker again; every other run
finishes, with the forked pool (Linux) and with the loky fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sweep_helpers import (
    assert_same_tables,
    children_of,
    forked_children,
    forking,
    python,
    running,
    subprocess_env,
    tiny_spec,
)

from testbed import storage
from testbed.sweep import forked, load_spec, plan_runs, run_sweep, runner

_SAFE = runner._safe  # the real task, wrapped below (module level: loky pickles tasks)

DEATH = "worker process died (signal 9, SIGKILL) while running this run"


def _control(out: str) -> Path:
    """Where a test says which runs kill their worker (``<run_id>.mode``) and each execution is logged."""
    return Path(out).parent / "crash"


def _crashing(config: dict, out: str) -> dict:
    """The task, killing its own worker with SIGKILL for a run whose mode file says so: on the first
    execution only ("once"), or every time ("always"). Each execution of such a run logs the worker's pid."""
    mode_file = _control(out) / f"{config['run_id']}.mode"
    if mode_file.is_file():
        log = _control(out) / f"{config['run_id']}.log"
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        executions = len(log.read_text().split())
        if mode_file.read_text() == "always" or executions == 1:
            os.kill(os.getpid(), signal.SIGKILL)
    return _SAFE(config, out)


def _plan_crash(tmp_path: Path, run_id: str, mode: str) -> Path:
    control = tmp_path / "crash"
    control.mkdir(exist_ok=True)
    (control / f"{run_id}.mode").write_text(mode)
    return control / f"{run_id}.log"


def _executions(log: Path) -> list[int]:
    return [int(pid) for pid in log.read_text().split()]


@pytest.fixture
def crashing(monkeypatch):
    monkeypatch.setattr(runner, "_safe", _crashing)


@pytest.fixture
def loky(monkeypatch):
    """Force the loky fallback (as on macOS and Windows), and check that it is the one used."""
    used = []
    real = runner._joblib
    monkeypatch.setattr(runner, "can_fork", lambda: False)
    monkeypatch.setattr(runner, "_joblib", lambda *a: used.append(a[2]) or real(*a))
    return used


def _check_run_killed_once(tmp_path: Path, write_spec, only_victim_retried: bool) -> None:
    """``only_victim_retried``: the pool knows which run its dead worker was running (else the other runs in
    flight are run again too)."""
    spec = load_spec(write_spec(tiny_spec(seeds=2)))
    victim = plan_runs(spec)[3]["run_id"]  # in flight with others, with runs queued behind
    log = _plan_crash(tmp_path, victim, "once")
    out = run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True)
    assert out.ok and out.executed == 12 and victim in out.retried
    if only_victim_retried:
        assert out.retried == [victim]
    assert "error" not in out.statuses and "pending" not in out.statuses and sum(out.statuses.values()) == 12
    first, second = _executions(log)
    assert first != second  # a new worker took the retry
    assert storage.load_runs(tmp_path / "o").set_index("run_id").loc[victim, "status"] != "error"
    runner_j1 = run_sweep(spec, tmp_path / "j1", n_jobs=1, quiet=True)
    assert runner_j1.ok
    assert_same_tables(tmp_path / "j1", tmp_path / "o")


def _check_run_killing_every_time(tmp_path: Path, write_spec, monkeypatch) -> None:
    spec = load_spec(write_spec(tiny_spec(seeds=2)))
    victim = plan_runs(spec)[2]["run_id"]
    log = _plan_crash(tmp_path, victim, "always")
    out = run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True)
    assert not out.ok and out.executed == 12
    assert len(_executions(log)) == 2  # retried once, then given up: no endless loop
    assert [run_id for run_id, _ in out.failures] == [victim] and out.failures[0][1].startswith(DEATH)
    assert out.statuses["error"] == 1 and "pending" not in out.statuses and sum(out.statuses.values()) == 12
    manifest = storage.load_manifest(tmp_path / "o")["runs"]
    assert manifest[victim]["status"] == "error" and manifest[victim]["message"].startswith(DEATH)
    runs = storage.load_runs(tmp_path / "o").set_index("run_id")
    assert len(runs) == 12  # the others finished, and the victim has a record saying why it failed
    assert runs.loc[victim, "status"] == "error" and runs.loc[victim, "message"].startswith(DEATH)
    assert (runs.drop(index=victim)["status"] != "error").all()
    # once it stops crashing, the next sweep redoes that run only (errors are retried)
    monkeypatch.setattr(runner, "_safe", _SAFE)
    rest = run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True)
    assert (rest.skipped, rest.executed) == (11, 1) and rest.ok
    run_sweep(spec, tmp_path / "j1", n_jobs=1, quiet=True)
    assert_same_tables(tmp_path / "j1", tmp_path / "o")


@forking
def test_forked_worker_killed_by_its_run_once_is_replaced_and_the_run_retried(tmp_path, write_spec, crashing):
    before = forked_children()
    _check_run_killed_once(tmp_path, write_spec, only_victim_retried=True)
    assert not (forked_children() - before)  # the replacement worker is gone with the sweep too


@forking
def test_forked_run_killing_its_worker_every_time_is_recorded_as_an_error(
    tmp_path, write_spec, crashing, monkeypatch
):
    _check_run_killing_every_time(tmp_path, write_spec, monkeypatch)


def test_loky_worker_killed_by_its_run_once_is_replaced_and_the_run_retried(tmp_path, write_spec, crashing, loky):
    _check_run_killed_once(tmp_path, write_spec, only_victim_retried=False)
    assert loky == [2]


def test_loky_run_killing_its_worker_every_time_is_recorded_as_an_error(
    tmp_path, write_spec, crashing, loky, monkeypatch
):
    _check_run_killing_every_time(tmp_path, write_spec, monkeypatch)
    assert loky[0] == 2


@forking
def test_without_the_retry_limit_a_run_killing_its_worker_would_not_be_given_up(
    tmp_path, write_spec, crashing, monkeypatch
):
    """The limit is what ends the retries: raised, the same run is retried until it hits the new limit."""
    monkeypatch.setattr(forked, "MAX_WORKER_DEATHS", 4)
    spec = load_spec(write_spec(tiny_spec(seeds=1)))
    victim = plan_runs(spec)[1]["run_id"]
    log = _plan_crash(tmp_path, victim, "always")
    out = run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True)
    assert len(_executions(log)) == 4 and [r for r, _ in out.failures] == [victim]


LONG = """
name = "long"
seeds = 6
bounds = []
record_every = 100
[budget]
iters = 60000
[[problems]]
family = "quadratic"
dim = 30
[[optimizers]]
name = "heavy_ball"
"""


@forking
def test_a_forked_worker_killed_from_outside_mid_sweep_costs_nothing(tmp_path, write_spec):
    """``kill -9`` of a worker of ``testbed run``: no traceback, the sweep completes, and its tables (and a
    rerun's) are those of an uninterrupted sweep."""
    path = write_spec(LONG)
    command = [python(), "-m", "testbed", "run", str(path), "--out", str(tmp_path / "o"), "-j", "2", "--quiet",
               "--no-report"]
    proc = subprocess.Popen(command, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            time.sleep(0.05)
            workers = children_of(proc.pid)
        assert len(workers) >= 2, "the sweep did not start its workers"
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 0, stderr  # the killed worker's run was retried, and finished
    assert "6 runs executed" in stdout
    assert not running(workers[0])
    rerun = subprocess.run(command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0 and "Traceback" not in rerun.stderr, rerun.stderr
    assert "0 runs executed, 6 already finished" in rerun.stdout
    assert not list((tmp_path / "o" / "runs").glob(".tmp-*"))
    run_sweep(load_spec(path), tmp_path / "ref", n_jobs=2, quiet=True)
    assert_same_tables(tmp_path / "ref", tmp_path / "o")


@pytest.mark.parametrize(
    ("exitcode", "how"),
    [(-9, "(signal 9, SIGKILL)"), (-11, "(signal 11, SIGSEGV)"), (3, "(exit code 3)"), (None, "(cause unknown)")],
)
def test_the_error_message_says_how_the_worker_died(exitcode, how):
    from testbed.sweep.worker import worker_death_message

    assert worker_death_message(exitcode).startswith(f"worker process died {how} while running this run")
