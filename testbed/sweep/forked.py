"""The local parallel backend on Linux: sweep workers forked from the sweeping process.

A freshly started interpreter spends ~1 s importing what a run needs (numpy,
pandas, pyarrow, scipy, the theory package) -- longer than a whole small
sweep, which is why ``-j 2`` used to be slower than ``-j 1`` on the quickstart.
Here the modules are imported once, in this process (:data:`PRELOAD`), and the
workers are forked from it, ready in milliseconds; a new pool is forked for
every sweep, so the workers see this process as it is when the sweep starts
(problems and optimizers registered by the caller included). The workers'
BLAS/OpenMP pools are pinned to one thread before forking, not in the workers
(see :mod:`testbed.sweep.worker`), they die with their parent (a forked worker
would otherwise wait for tasks forever after a kill -9), and they do not keep
the output directory's lock. Elsewhere (macOS, Windows), the runner uses
joblib's loky backend instead (:func:`can_fork`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["PRELOAD", "can_fork", "run_forked"]


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

    A forked worker holds both ends of its task pipe, so it would never see the parent go away (kill -9)
    and would wait for tasks forever: the kernel is asked to send it SIGTERM when the parent dies. The
    lock belongs to the open file, so closing the worker's copy leaves the parent holding it; without
    that, a parent killed with -9 would leave the directory locked until every worker had exited.
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


def run_forked(
    task: Callable[[dict, str], dict], todo: list[dict], out: str, n_jobs: int, lock_fd: int | None
) -> Iterator[dict]:
    """Run ``task(config, out)`` for each config of ``todo`` on ``n_jobs`` workers forked from this process;
    the summaries in completion order.

    The workers are forked here, eagerly, before the caller starts its progress display (a thread
    must not be running when the process forks). At most ``2 n_jobs`` runs are queued at a time; an
    interrupted sweep stops its workers at once and loses the runs in flight. Each run is one task: a
    task's round trip costs ~0.1-0.3 ms, against 10-50 ms for even the quickstart's small runs.
    """
    import multiprocessing
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    from threadpoolctl import threadpool_limits

    _preload()
    executor = ProcessPoolExecutor(
        n_jobs, mp_context=multiprocessing.get_context("fork"),
        initializer=_forked_worker_init, initargs=(lock_fd, os.getpid()),
    )
    queue = iter(todo)
    pending = set()
    # Workers inherit one-thread BLAS/OpenMP pools: pinned here, not in the child (see sweep.worker). The
    # pin holds until the workers are done: restoring it re-creates OpenBLAS's pool here (fork shut it
    # down), and its threads would spin for ~0.1 s on the cores the workers need.
    limits = threadpool_limits(limits=1)
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns about forking a process that has threads: the only ones here are
            # OpenBLAS's pool, which re-initialises itself in the child (pthread_atfork).
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
            for config in _take(queue, 2 * n_jobs):
                pending.add(executor.submit(task, config, out))  # the first submit forks all workers
    except BaseException:
        _stop(executor)
        limits.restore_original_limits()
        raise
    results = _drain(task, executor, pending, queue, out, limits)
    next(results)  # into its try block: from now on closing it stops the workers, even before a result
    return results


def _stop(executor: Any) -> None:
    """Stop a sweep's workers now: queued runs are dropped and runs in flight are killed (an interrupted
    sweep loses at most those; their temporary files are removed by the next sweep).

    Waiting for the pool to wind down instead can hang: CPython's executor (3.11-3.13) loses track of a
    task that fails to pickle while it is being shut down with ``cancel_futures``."""
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=10)
    executor.shutdown(wait=True)


def _take(queue: Iterator[dict], k: int) -> list[dict]:
    out = []
    for config in queue:
        out.append(config)
        if len(out) == k:
            break
    return out


def _drain(
    task: Callable[[dict, str], dict], executor: Any, pending: set, queue: Iterator[dict], out: str, limits: Any
) -> Iterator[dict]:
    """Yield results as they complete, keeping the queue topped up; then stop the workers and unpin.

    The first ``next`` (by :func:`run_forked`) yields nothing: it only enters the ``try`` block."""
    from concurrent.futures import FIRST_COMPLETED, wait

    try:
        yield None  # type: ignore[misc]
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                for config in _take(queue, 1):
                    pending.add(executor.submit(task, config, out))
                yield fut.result()
        executor.shutdown(wait=True)
    except BaseException:  # interrupted (the caller closed us, Ctrl-C) or a worker died
        _stop(executor)
        raise
    finally:
        limits.restore_original_limits()
