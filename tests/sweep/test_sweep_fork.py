"""Local parallel sweeps: forked workers (Linux) and the loky fallback give the serial tables; forked workers
run BLAS on one thread, are stopped with the sweep, die with their parent and do not hold its lock."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

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
from testbed.sweep import forked, load_spec, run_sweep, runner

_SAFE = runner._safe  # the real task, wrapped by the probes below (module level: tasks are pickled)


def _probe_threads(config, out):
    """The task, reporting the worker's pid and the thread counts of its BLAS/OpenMP pools."""
    from threadpoolctl import threadpool_info

    summary = _SAFE(config, out)
    return {**summary, "pid": os.getpid(), "threads": sorted({i["num_threads"] for i in threadpool_info()})}


def _probe_lock(config, out):
    """The task, reporting whether this worker holds a descriptor of the sweep's lock file and whether the
    lock is taken (by the parent)."""
    import fcntl

    lock = os.path.realpath(os.path.join(out, ".lock"))
    mine = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            mine.append(os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            taken = False
        except OSError:
            taken = True
    return {**_SAFE(config, out), "holds_lock": lock in mine, "lock_taken": taken}


@forking
def test_forked_workers_give_the_serial_tables(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec(seeds=2)))
    before = forked_children()
    run_sweep(spec, tmp_path / "j1", n_jobs=1, quiet=True)
    out = run_sweep(spec, tmp_path / "j2", n_jobs=2, quiet=True)
    assert out.executed == 12 and out.ok
    assert_same_tables(tmp_path / "j1", tmp_path / "j2")
    assert not (forked_children() - before)  # the workers are gone with the sweep


def test_loky_fallback_gives_the_serial_tables(tmp_path, write_spec, monkeypatch):
    """Where workers cannot be forked (macOS, Windows), joblib's loky backend runs them."""
    monkeypatch.setattr(runner, "can_fork", lambda: False)
    called = []
    real = runner._joblib
    monkeypatch.setattr(runner, "_joblib", lambda *a: called.append(a[2]) or real(*a))
    spec = load_spec(write_spec(tiny_spec(seeds=1)))
    run_sweep(spec, tmp_path / "j1", n_jobs=1, quiet=True)
    out = run_sweep(spec, tmp_path / "loky", n_jobs=2, quiet=True)
    assert called == [2] and out.executed == 6 and out.ok
    assert_same_tables(tmp_path / "j1", tmp_path / "loky")


@forking
def test_interrupting_a_forked_sweep_stops_its_workers_and_keeps_finished_runs(tmp_path, write_spec):
    spec = load_spec(write_spec(tiny_spec(seeds=2)))
    before = forked_children()

    def stop(summary, k):
        if k == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True, on_result=stop)
    assert not (forked_children() - before)  # no worker of this sweep is left (earlier tests' may exit meanwhile)
    manifest = storage.load_manifest(tmp_path / "o")
    assert sum(v["status"] != "pending" for v in manifest["runs"].values()) == 3
    # runs in flight when the sweep stopped may have been committed too; the rerun does exactly the rest
    finished = len(storage.load_runs(tmp_path / "o"))
    assert 3 <= finished <= 3 + 2 * 2
    rest = run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True)
    assert (rest.skipped, rest.executed) == (finished, 12 - finished) and rest.ok
    assert not list((tmp_path / "o" / "runs").glob(".tmp-*"))


@forking
def test_forked_workers_run_blas_on_one_thread_and_the_parent_is_restored(tmp_path, write_spec, monkeypatch):
    from threadpoolctl import threadpool_info

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    monkeypatch.setattr(runner, "_safe", _probe_threads)
    seen = []
    spec = load_spec(write_spec(tiny_spec(seeds=1)))
    out = run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True, on_result=lambda s, k: seen.append(s))
    assert out.ok and len(seen) == 6
    assert {tuple(s["threads"]) for s in seen} == {(1,)}
    assert os.getpid() not in {s["pid"] for s in seen}
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before


@forking
def test_workers_do_not_hold_the_lock_of_the_output_directory(tmp_path, write_spec, monkeypatch):
    """A parent killed with -9 must free the directory at once, not when its workers exit."""
    monkeypatch.setattr(runner, "_safe", _probe_lock)
    seen = []
    spec = load_spec(write_spec(tiny_spec(seeds=1)))
    run_sweep(spec, tmp_path / "o", n_jobs=2, quiet=True, on_result=lambda s, k: seen.append(s))
    assert len(seen) == 6
    assert not any(s["holds_lock"] for s in seen)
    assert all(s["lock_taken"] for s in seen)  # ... while the sweep itself holds it


SLOW = """
name = "slow"
seeds = 6
bounds = []
[budget]
iters = 20000
[[problems]]
family = "quadratic"
dim = 30
[[optimizers]]
name = "heavy_ball"
"""


@forking
def test_workers_die_with_a_killed_parent(tmp_path, write_spec):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: the orphaned workers become ours, so that we can reap them
    path = write_spec(SLOW)
    proc = subprocess.Popen(
        [python(), "-m", "testbed", "run", str(path), "--out", str(tmp_path / "o"), "-j", "2", "--quiet",
         "--no-report"],
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.05)
            workers = children_of(proc.pid)
        assert len(workers) >= 2, "the sweep did not start its workers"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [p for p in alive if running(p)]
        assert not alive, f"workers {alive} outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:  # no orphan left running when the test fails, no zombie left either way
            if running(pid):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        libc.prctl(36, 0)


@forking
def test_closing_the_results_before_the_first_one_stops_the_workers(tmp_path, write_spec):
    """E.g. the progress display fails to start: the forked workers must not outlive the sweep."""
    from threadpoolctl import threadpool_info

    from testbed.sweep import plan_runs

    before, threads = forked_children(), [i["num_threads"] for i in threadpool_info()]
    (tmp_path / "o" / "runs").mkdir(parents=True)
    todo = plan_runs(load_spec(write_spec(tiny_spec(seeds=1))))
    results = forked.run_forked(runner._safe, todo, str(tmp_path / "o"), 2, None)
    assert forked_children() > before  # forked eagerly
    results.close()
    assert not (forked_children() - before)  # no worker of this sweep is left (earlier tests' may exit meanwhile)
    assert [i["num_threads"] for i in threadpool_info()] == threads
