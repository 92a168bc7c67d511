"""The local parallel backend on Linux: sweep workers forked from the sweeping process.

A freshly started interpreter spends ~1 s importing what a run needs (numpy,
pandas, pyarrow, scipy, the theory package) -- longer than a whole small
sweep, which is why ``-j 2`` used to be slower than ``-j 1`` on the quickstart.
Here the modules are imported once, in this process (:data:`PRELOAD`), and the
workers are forked from it, ready in milliseconds; a new pool is forked for
every sweep, so the workers see this process as it is when the sweep starts
(problems and optimizers registered by the caller included). The workers'
BLAS/OpenMP pools are pinned to one thread before forking, not in the workers
(see :mod:`testbed.sweep.worker`), they die with their parent (a worker would
otherwise finish the run it holds after a kill -9 of the sweep), and they do not
keep the output directory's lock. Elsewhere (macOS, Windows), the runner uses
joblib's loky backend instead (:func:`can_fork`).

Each worker has its own pipe and the parent knows which runs it gave to which
worker, so a worker that dies (killed, out of memory, a crash in native code)
costs only its own runs and names the one it was running: that run is retried
once, and recorded as an error (:func:`testbed.sweep.worker.record_worker_death`)
if it kills a worker again -- a run that reliably crashes its worker must not
loop forever. The runs queued behind it go back to the queue, the other workers
go on, and a new worker is forked in its place.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_WORKER_DEATHS", "PRELOAD", "can_fork", "run_forked"]

#: A run whose worker process dies this many times while running it is recorded as an error, not run again.
MAX_WORKER_DEATHS = 2

#: Runs given to a worker at a time: the one it runs and the next one, waiting in its pipe, so that a worker
#: never idles while the parent (busy with the results, or not scheduled on a full machine) picks its next run.
_DEPTH = 2


def can_fork() -> bool:
    """Whether local workers are forked from this process (Linux) rather than started by loky."""
    import multiprocessing

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


#: Modules a run uses, imported before forking (pandas -> Arrow conversion, Parquet, scipy's BLAS, the loop,
#: the spec builders, monitors and the worker).
PRELOAD = (
    "pyarrow.pandas_compat",
    "pyarrow.parquet",
    "scipy.linalg",
    "threadpoolctl",
    "testbed.run",
    "testbed.sweep.build",
    "testbed.sweep.monitors",
    "testbed.sweep.worker",
    "testbed.theory",
)


def _preload() -> None:
    """Import everything a run needs, so that forked workers inherit it instead of importing it each
    (and so that the BLAS libraries are loaded, and pinned, before forking; a worker re-checks its
    thread pools, at ~10 ms, only after an import)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    from testbed import theory

    theory.bounds()  # imports every module of the bound catalogue


def _forked_worker_init(lock_fd: int | None, parent: int) -> None:
    """In a forked worker: keep the one-thread BLAS pools it was forked with (see :mod:`testbed.sweep.worker`),
    die with the parent, and drop the inherited descriptor of the sweep's lock file.

    A worker notices that the parent went away (kill -9) only when it next uses its pipe, after the
    run it holds: the kernel is asked to send it SIGTERM when the parent dies. The lock belongs to the
    open file, so closing the worker's copy leaves the parent holding it; without that, a parent killed
    with -9 would leave the directory locked until every worker had exited.
    """
    import signal

    from testbed.sweep.worker import pin_forked_process

    pin_forked_process()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG = 1 (Linux)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
    if lock_fd is not None:
        with contextlib.suppress(OSError):
            os.close(lock_fd)


def _fresh_std_streams() -> None:
    """Give a worker forked in the middle of a sweep its own ``sys.stdout``/``sys.stderr`` on the same descriptors.

    By then the parent may run threads (the progress bar's refresh), and a thread writing to stderr at the
    moment of the fork leaves the inherited stream's lock taken for good in the child: its first warning,
    or the flush at its exit, would hang it.
    """
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        if old is None:
            continue
        with contextlib.suppress(OSError, ValueError, LookupError):
            setattr(sys, name, open(fd, "w", buffering=1, encoding=getattr(old, "encoding", None) or "utf-8",
                                    errors=getattr(old, "errors", None) or "backslashreplace", closefd=False))


def _worker_main(
    conn: Any, task: Callable[[dict, str], dict], out: str, lock_fd: int | None, parent: int,
    inherited: list[Any], mid_sweep: bool,
) -> None:
    """A forked worker: receive configs on ``conn``, send back ``task(config, out)``, until the pipe closes.

    Ctrl-C is the parent's to handle (it stops the workers); ``inherited`` are the parent's ends of
    the pipes (other workers' and this one's), closed here so that only the parent holds them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for other in inherited:
        with contextlib.suppress(OSError):
            other.close()
    if mid_sweep:
        _fresh_std_streams()
    _forked_worker_init(lock_fd, parent)
    while True:
        try:
            config = conn.recv()
        except (EOFError, OSError):  # the sweep is over (or the parent is gone)
            return
        try:
            summary = task(config, out)
        except BaseException as exc:  # e.g. SystemExit from user code: an error, not a dead worker
            summary = {"run_id": config["run_id"], "status": "error", "message": f"worker: {type(exc).__name__}: {exc}"}
        try:
            conn.send(summary)
        except OSError:
            return


@dataclass
class _Worker:
    """A forked worker process, the parent's end of its pipe, and the configs sent to it (the first one runs)."""

    process: Any
    conn: Any
    assigned: deque = field(default_factory=deque)


class _Pool:
    """Forked workers fed from a queue of configs; see :func:`run_forked`."""

    def __init__(self, task: Callable[[dict, str], dict], todo: list[dict], out: str, n_jobs: int,
                 lock_fd: int | None) -> None:
        self.task, self.out, self.n_jobs, self.lock_fd = task, out, n_jobs, lock_fd
        self.queue: deque = deque(todo)
        self.workers: list[_Worker] = []
        self.deaths: dict[str, int] = {}  # run_id -> deaths of a worker while it ran that run
        self.forked = 0

    # ---------------------------------------------------------- workers
    def _fork(self) -> None:
        import multiprocessing
        import warnings

        ctx = multiprocessing.get_context("fork")
        conn, child_conn = ctx.Pipe(duplex=True)
        inherited = [w.conn for w in self.workers] + [conn]
        process = ctx.Process(
            target=_worker_main, name=f"testbed-sweep-worker-{self.forked + 1}",
            args=(child_conn, self.task, self.out, self.lock_fd, os.getpid(), inherited, self.forked >= self.n_jobs),
        )
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns about forking a process that has threads: OpenBLAS's pool re-initialises
                # itself in the child (pthread_atfork); for other threads see _fresh_std_streams.
                warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
                process.start()
        except BaseException:
            conn.close()
            raise
        finally:
            child_conn.close()
        self.forked += 1
        self.workers.append(_Worker(process, conn))

    def _send(self, worker: _Worker, config: dict) -> None:
        worker.assigned.append(config)
        with contextlib.suppress(OSError):  # the worker is dead: collect() finds out, and requeues the config
            worker.conn.send(config)

    def fill(self) -> None:
        """Fork workers up to ``n_jobs`` while there is work for them, and keep each one fed."""
        while self.queue and len(self.workers) < self.n_jobs:
            try:
                self._fork()
            except OSError:  # cannot fork (out of memory?): go on with the workers there are, if any
                if not self.workers:
                    raise
                break
            self._send(self.workers[-1], self.queue.popleft())
        for worker in self.workers:
            if not worker.assigned and self.queue:
                self._send(worker, self.queue.popleft())
        # queue a next run behind the running one only while there is one for everybody: a run waiting behind a
        # long one would otherwise be late at the end while another worker sits idle
        for worker in self.workers:
            if len(self.queue) < len(self.workers):
                break
            if len(worker.assigned) < _DEPTH:
                self._send(worker, self.queue.popleft())

    def _bury(self, worker: _Worker) -> list[dict]:
        """Remove a dead worker; requeue its runs; return the summaries of runs given up (killed a worker twice)."""
        from testbed.sweep.worker import record_worker_death

        self.workers.remove(worker)
        worker.conn.close()
        worker.process.join(timeout=10)
        if worker.process.exitcode is None:  # its pipe broke but it lives on: make sure
            worker.process.kill()
            worker.process.join()
        exitcode = worker.process.exitcode
        worker.process.close()
        if not worker.assigned:
            return []
        running, *waiting = worker.assigned
        self.queue.extendleft(reversed(waiting))  # not started: next in line, as they were
        run_id = running["run_id"]
        self.deaths[run_id] = self.deaths.get(run_id, 0) + 1
        if self.deaths[run_id] >= MAX_WORKER_DEATHS:
            return [{**record_worker_death(running, self.out, exitcode), "worker_deaths": self.deaths[run_id]}]
        self.queue.append(running)  # retried once, after the others (a memory peak may have passed by then)
        return []

    def collect(self) -> list[dict]:
        """Wait until a worker has results or has died; return the summaries that are in."""
        from multiprocessing.connection import wait

        ready = set(wait([w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]))
        summaries = []
        for worker in list(self.workers):
            dead = worker.process.sentinel in ready
            if not dead and worker.conn not in ready:
                continue
            try:
                while worker.conn.poll():
                    summary = worker.conn.recv()
                    config = worker.assigned.popleft()
                    deaths = self.deaths.get(config["run_id"])
                    summaries.append(summary if deaths is None else {**summary, "worker_deaths": deaths})
            except (EOFError, OSError):
                dead = True
            if dead:
                summaries.extend(self._bury(worker))
        return summaries

    def busy(self) -> bool:
        return any(w.assigned for w in self.workers) or bool(self.queue)

    # ---------------------------------------------------------- stopping
    def close(self) -> None:
        """Let idle workers exit (their pipes close) and wait for them."""
        for worker in self.workers:
            worker.conn.close()
        self._join()

    def kill(self) -> None:
        """Stop the workers now: runs in flight are lost (their temporary files are removed by the next sweep)."""
        for worker in self.workers:
            with contextlib.suppress(OSError, ValueError):
                worker.process.terminate()
            worker.conn.close()
        self._join()

    def _join(self) -> None:
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.exitcode is None:  # hung at exit, or ignoring SIGTERM
                worker.process.kill()
                worker.process.join()
        self.workers.clear()


def run_forked(
    task: Callable[[dict, str], dict], todo: list[dict], out: str, n_jobs: int, lock_fd: int | None
) -> Iterator[dict]:
    """Run ``task(config, out)`` for each config of ``todo`` on ``n_jobs`` workers forked from this process;
    the summaries in completion order.

    ``task`` returns a summary dict with ``run_id``, ``status`` and ``message``. A summary gets
    ``worker_deaths`` (1) when its run was run again because its worker died; a run whose worker died
    :data:`MAX_WORKER_DEATHS` times yields an error summary instead (see the module docstring).

    The workers are forked here, eagerly, before the caller starts its progress display (a thread
    must not be running when the process forks; a worker replacing a dead one is forked later, see
    :func:`_fresh_std_streams`). Each worker holds at most two runs, so an interrupted sweep stops its
    workers at once and loses at most ``2 n_jobs`` runs. A run's round trip costs ~0.1 ms, against
    10-50 ms for even the quickstart's small runs.
    """
    from threadpoolctl import threadpool_limits

    _preload()
    # Workers inherit one-thread BLAS/OpenMP pools: pinned here, not in the child (see sweep.worker). The
    # pin holds until the workers are done: restoring it re-creates OpenBLAS's pool here (fork shut it
    # down), and its threads would spin for ~0.1 s on the cores the workers need.
    limits = threadpool_limits(limits=1)
    pool = _Pool(task, todo, out, n_jobs, lock_fd)
    try:
        pool.fill()  # forks all the workers now
    except BaseException:
        pool.kill()
        limits.restore_original_limits()
        raise
    results = _drain(pool, limits)
    next(results)  # into its try block: from now on closing it stops the workers, even before a result
    return results


def _drain(pool: _Pool, limits: Any) -> Iterator[dict]:
    """Yield results as they come, keeping the workers fed (before yielding: they work while the caller
    does); then stop the workers and unpin.

    The first ``next`` (by :func:`run_forked`) yields nothing: it only enters the ``try`` block."""
    try:
        yield None  # type: ignore[misc]
        while pool.busy():
            summaries = pool.collect()
            pool.fill()
            yield from summaries
        pool.close()
    except BaseException:  # interrupted: the caller closed us, Ctrl-C
        pool.kill()
        raise
    finally:
        limits.restore_original_limits()
