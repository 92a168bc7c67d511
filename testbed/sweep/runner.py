"""Run a validated spec: skip finished runs, execute the rest locally or on a dask cluster.

Every backend calls the same :func:`testbed.sweep.worker.execute` on the same
configurations, and a run's files depend only on its configuration, so the
tables are identical (time columns aside) whatever the backend and the
number of workers. A run is finished when its ``.json`` record is committed
(:func:`testbed.storage.finished_record`); a sweep that is interrupted (Ctrl-C,
``kill -9``) loses at most the runs in flight, and running it again does only
what is left. Runs that ended with status ``"error"`` are retried on the next
sweep; ``force=True`` redoes everything.

Local parallel sweeps (``n_jobs > 1``) fork their workers from this process
where the platform allows it (Linux, :mod:`testbed.sweep.forked`): ready in
milliseconds instead of the ~1 s a fresh interpreter needs for its imports,
which is longer than a whole small sweep. Elsewhere (macOS, Windows) joblib's
loky backend starts them. A local worker process that dies (killed, out of
memory, a crash in native code) does not stop the sweep: the run it was
running is retried once, and recorded as an error with status ``"error"`` and
a message such as "worker process died (signal 9, SIGKILL) while running this
run" if it kills its worker again; the other runs it cost are run again.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from problems.errors import UserInputError
from testbed.storage import atomic_write_bytes, finished_record, safe_child, write_json
from testbed.sweep.forked import can_fork, run_forked

__all__ = ["SweepOutcome", "default_jobs", "output_dir", "run_sweep"]


@dataclass
class SweepOutcome:
    """What a sweep did: counts by status, the failed runs and where the results are."""

    out_dir: Path
    total: int
    skipped: int
    executed: int
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: Runs run again because a local worker process died while it held them (their outcome is counted as usual).
    retried: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no run ended with status ``"error"``."""
        return not self.failures


def default_jobs() -> int:
    """All cores available to this process."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def output_dir(spec: Any, out: str | os.PathLike | None = None) -> Path:
    """``out`` if given, else ``reports/<experiment name>`` under the current directory (resolved)."""
    if out is not None:
        return Path(out).expanduser().resolve()
    return safe_child(Path.cwd() / "reports", spec.name)


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[int | None]:
    """Refuse two sweeps writing to one directory at once (an OS lock, released even by kill -9).

    Yields the lock file's descriptor (None without advisory locks)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent sweeps are the user's responsibility
        yield None
        return
    fh = open(out / ".lock", "a+")  # held for the whole sweep
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserInputError(f"another sweep is writing to {str(out)!r}; wait for it or use --out") from None
        yield fh.fileno()
    finally:
        fh.close()


def _clean_temporaries(*dirs: Path) -> None:
    for d in dirs:
        for tmp in d.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _safe(config: dict[str, Any], out: str) -> dict[str, Any]:
    """Execute one run; an exception escaping the worker (disk full, ...) becomes an error summary."""
    from testbed.sweep.worker import execute

    try:
        return execute(config, out)
    except Exception as exc:
        return {"run_id": config["run_id"], "status": "error", "message": f"worker: {type(exc).__name__}: {exc}"}


def _warm_references(todo: list[dict]) -> None:
    """Compute each distinct problem's reference optimum once, here, into the disk cache.

    Parallel workers then read f*/x* from the cache instead of each solving
    (and importing cvxpy for) the same reference. Failures are left to the
    runs, which report them.
    """
    from testbed.sweep.build import make_problem

    if os.environ.get("OPTIM_TESTBED_CACHE", "").lower() == "off":  # no cache to share (problems.reference)
        return
    seen = set()
    for config in todo:
        family, params = config["problem"]["family"], config["problem"]["params"]
        key = json.dumps([family, params], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        with contextlib.suppress(Exception):
            make_problem(family, params).reference_optimum()


# ------------------------------------------------------------------ backends
def _serial(todo: list[dict], out: str) -> Iterator[dict]:
    for config in todo:
        yield _safe(config, out)


def _joblib(todo: list[dict], out: str, n_jobs: int) -> Iterator[dict]:
    """Run the configs on loky workers; the summaries in completion order.

    A loky worker that dies (killed, out of memory, a crash in native code) breaks the whole pool: the
    runs it had not returned are lost, and which of them killed it is unknown. The sweep goes on with the
    runs never handed out in a new pool, and runs the lost ones again one at a time (then a death names
    its run): a run that kills its worker there is recorded as an error, having been retried once
    (:func:`testbed.sweep.worker.record_worker_death`); the others finish as usual.
    """
    from collections import deque
    from concurrent.futures.process import BrokenProcessPool  # loky's TerminatedWorkerError is one

    from joblib import Parallel, parallel_config

    from testbed.sweep.worker import record_worker_death

    queue, suspects, retried = deque(todo), deque(), set()
    with parallel_config(backend="loky", n_jobs=n_jobs, inner_max_num_threads=1):
        while queue or suspects:
            alone = not queue
            handout = _Handout(queue if queue else deque([suspects.popleft()]))
            returned: set[str] = set()
            try:
                for summary in Parallel(return_as="generator_unordered", pre_dispatch="2*n_jobs")(handout.tasks(out)):
                    returned.add(summary["run_id"])
                    yield {**summary, "worker_deaths": 1} if summary["run_id"] in retried else summary
            except BrokenProcessPool as exc:
                lost = [c for c in handout.close() if c["run_id"] not in returned]
                if not lost:
                    if not returned:  # broke before running anything: it would again
                        raise
                elif alone:
                    yield {**record_worker_death(lost[0], out, _loky_exitcode(exc)), "worker_deaths": 2}
                else:
                    suspects.extend(lost)
                    retried.update(c["run_id"] for c in lost)


class _Handout:
    """Configs handed to one joblib ``Parallel`` call as it takes them (from its callback thread too): taken
    from ``source`` and noted in ``handed`` together, until :meth:`close`, so that none is lost in between."""

    def __init__(self, source: Any) -> None:
        import threading

        self.source, self.handed, self._open, self._lock = source, [], True, threading.Lock()

    def tasks(self, out: str) -> Iterator[Any]:
        from joblib import delayed

        while True:
            with self._lock:
                if not (self._open and self.source):
                    return
                config = self.source.popleft()
                self.handed.append(config)
            yield delayed(_safe)(config, out)

    def close(self) -> list[dict]:
        """Stop handing out; the configs handed out."""
        with self._lock:
            self._open = False
            return list(self.handed)


def _loky_exitcode(exc: BaseException) -> int | None:
    """The dead worker's exit code in loky's message ("... The exit codes of the workers are {SIGKILL(-9)}")."""
    import re

    found = re.search(r"exit codes of the workers are \{[^}(]*\((-?\d+)\)", str(exc))
    return int(found.group(1)) if found else None


def _connect(address: str, timeout: float = 10.0) -> Any:
    """A dask.distributed Client for ``address`` (a user error if dask is missing or the scheduler unreachable)."""
    try:
        from distributed import Client
    except ImportError:
        raise UserInputError("--dask-scheduler needs dask.distributed (pip install 'dask[distributed]')") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserInputError(f"cannot reach the dask scheduler at {address!r}: {exc}") from None


def _dask(todo: list[dict], out: str, client: Any, retries: int = 3) -> Iterator[dict]:
    """Submit every run to the cluster; yield summaries as they complete. A worker lost mid-run has its run
    rescheduled by the scheduler; exceptions escaping the task are retried ``retries`` times."""
    from distributed import as_completed

    token = f"{os.getpid()}-{time.time_ns()}"
    keys = [f"testbed-run-{c['run_id']}-{token}" for c in todo]
    futures = client.map(_safe, todo, out=out, key=keys, retries=retries, pure=False)
    by_key = {f.key: c for f, c in zip(futures, todo, strict=True)}
    for fut in as_completed(futures):
        try:
            summary = fut.result()
        except Exception as exc:  # a task lost more times than the cluster allows (KilledWorker), ...
            summary = {"run_id": by_key[fut.key]["run_id"], "status": "error",
                       "message": f"dask: {type(exc).__name__}: {exc}"}
        fut.release()
        yield summary


# ------------------------------------------------------------------ the sweep
def _manifest(spec: Any, plan: list[dict], entries: dict[str, dict], created: str) -> dict[str, Any]:
    from testbed import environment
    from testbed.sweep.plan import version

    return {
        "experiment": spec.name,
        "description": spec.description,
        "spec_hash": spec.spec_hash,
        "created": created,
        "updated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "package_version": version(),
        "environment": environment.describe(),
        "n_runs": len(plan),
        "runs": {c["run_id"]: entries[c["run_id"]] for c in plan},
    }


def _entry(config: dict[str, Any], status: str, message: str = "") -> dict[str, Any]:
    out = {
        "status": status,
        "problem": config["problem"]["label"],
        "optimizer": config["optimizer"]["label"],
        "config": config["optimizer"]["config"],
        "seed": config["seed"],
    }
    if status == "error":
        out["message"] = message
    return out


def run_sweep(
    spec: Any,
    out: str | os.PathLike | None = None,
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    quiet: bool = False,
    on_result: Callable[[dict[str, Any], int], None] | None = None,
) -> SweepOutcome:
    """Run every unfinished run of ``spec`` into ``out`` (default ``reports/<name>``); see the module docstring.

    ``n_jobs`` local worker processes (default: all cores; 1 runs in this
    process), or ``scheduler``: the address of a dask.distributed scheduler
    whose workers see ``out`` on a shared filesystem. ``on_result(summary, k)``
    is called after the k-th executed run.
    """
    from testbed.sweep.plan import plan_runs
    from testbed.sweep.progress import Progress

    t_start = time.perf_counter()
    n_jobs = default_jobs() if n_jobs is None or n_jobs == -1 else n_jobs
    if n_jobs < 1:
        raise UserInputError(f"-j/--jobs: must be >= 1 (or -1 for all cores), got {n_jobs}")
    out_dir = output_dir(spec, out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"--out: {str(out_dir)!r} exists and is not a directory")
    plan = plan_runs(spec)
    runs_dir = safe_child(out_dir, "runs")
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(_connect(scheduler)) if scheduler is not None else None
        runs_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = stack.enter_context(_lock(out_dir))
        _clean_temporaries(out_dir, runs_dir)
        atomic_write_bytes(safe_child(out_dir, "spec.toml"), spec.text.encode())
        entries: dict[str, dict] = {}
        todo = []
        for config in plan:
            record = None if force else finished_record(runs_dir, config["run_id"])
            if record is not None and record.get("status") != "error":
                entries[config["run_id"]] = _entry(config, record["status"], record.get("message", ""))
            else:
                entries[config["run_id"]] = _entry(config, "pending")
                todo.append(config)
        created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        manifest_path = safe_child(out_dir, "manifest.json")
        if manifest_path.is_file():
            with contextlib.suppress(ValueError, OSError):
                created = json.loads(manifest_path.read_text()).get("created", created)
        write_json(manifest_path, _manifest(spec, plan, entries, created))
        outcome = SweepOutcome(out_dir=out_dir, total=len(plan), skipped=len(plan) - len(todo), executed=0)
        by_id = {c["run_id"]: c for c in todo}
        results: Iterable[dict]
        if todo and (scheduler is not None or (n_jobs > 1 and len(todo) > 1)):
            _warm_references(todo)
        if not todo:
            results = ()
        elif scheduler is not None:
            results = _dask(todo, str(out_dir), client)
        elif n_jobs == 1 or len(todo) == 1:
            results = _serial(todo, str(out_dir))
        elif can_fork():
            results = run_forked(_safe, todo, str(out_dir), min(n_jobs, len(todo)), lock_fd)
        else:
            results = _joblib(todo, str(out_dir), min(n_jobs, len(todo)))
        try:
            with Progress(len(todo), outcome.skipped, quiet=quiet) as bar:
                for summary in results:
                    outcome.executed += 1
                    entries[summary["run_id"]] = _entry(by_id[summary["run_id"]], summary["status"],
                                                        summary.get("message", ""))
                    if summary["status"] == "error":
                        outcome.failures.append((summary["run_id"], summary.get("message", "")))
                    if summary.get("worker_deaths"):
                        outcome.retried.append(summary["run_id"])
                    bar.advance(summary)
                    if on_result is not None:
                        on_result(summary, outcome.executed)
        finally:
            close = getattr(results, "close", None)
            if close is not None:  # stop the workers now, not when the generator is collected
                close()
            write_json(manifest_path, _manifest(spec, plan, entries, created))
        _clean_temporaries(runs_dir)  # left by workers killed mid-write (dask retried their runs elsewhere)
    for e in entries.values():
        outcome.statuses[e["status"]] = outcome.statuses.get(e["status"], 0) + 1
    outcome.seconds = time.perf_counter() - t_start
    return outcome
