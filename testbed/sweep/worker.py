"""Execute one run configuration and write its files; the function every backend calls.

:func:`execute` builds the problem and the optimizer, calls
:func:`testbed.run`, certifies the run with :func:`testbed.theory.certify`,
writes ``runs/<id>.parquet``, ``.certificate.parquet``, ``.curves.parquet``
and finally the ``.json`` record (the commit marker, see
:mod:`testbed.storage`), and returns a small summary. It never raises for a
failing run: any exception becomes status ``"error"`` with the message (and
the traceback in the record); ``"diverged"`` is an ordinary result. BLAS
thread pools are limited to one thread while it runs, so that results do not
depend on how many workers share the machine.

A worker forked by the sweep runner (:func:`testbed.sweep.forked.run_forked`) is
pinned once, for its whole life, instead of per run: the parent forks it while
every loaded BLAS/OpenMP pool is limited to one thread, and the worker only
pins pools loaded after that (:func:`pin_forked_process`). Asking OpenBLAS to
set its thread count in a forked child makes it re-create its thread pool,
whose threads then spin for about 0.1 s -- on two cores that doubled the first
run of every worker.

A worker process that dies (killed, out of memory, a crash in native code)
writes nothing; when the sweep gives up on such a run it records the error
itself with :func:`record_worker_death`, so that the run shows up in the
results with its message (and, like every error, is retried by the next sweep).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from testbed.storage import HISTORY_KIND, safe_child, write_run

__all__ = ["execute", "pin_forked_process", "record_worker_death", "summary_of", "worker_death_message"]

#: ``len(sys.modules)`` when a forked worker last made sure its thread pools are pinned (-1: not a forked worker).
_pinned_at = -1


def _float_or_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _identity(
    config: dict[str, Any], status: str, base_lr: float | None, L: Any, f_star: Any, dim: int | None
) -> dict[str, Any]:
    from testbed.sweep.plan import hp_columns

    opt = config["optimizer"]
    batch = opt["batch_size"]
    return {
        "run_id": config["run_id"],
        "experiment": config["experiment"],
        "problem": config["problem"]["label"],
        "family": config["problem"]["family"],
        "optimizer": opt["label"],
        "config": opt["config"],
        "method": opt["method"],
        "seed": int(config["seed"]),
        "status": status,
        "base_lr": _float_or_nan(base_lr),
        "batch_size": math.nan if batch is None else float(batch),
        "L": _float_or_nan(L),
        "f_star": _float_or_nan(f_star),
        "dim": math.nan if dim is None else float(dim),
        **hp_columns(opt["hparams"]),
    }


def _identity_array(value: Any, n: int) -> Any:
    import pyarrow as pa

    if isinstance(value, bool):
        return pa.array([value] * n, pa.bool_())
    if isinstance(value, int):
        return pa.array([value] * n, pa.int64())
    if isinstance(value, float):
        return pa.array([value] * n, pa.float64())
    return pa.array([str(value)] * n, pa.string())


def _history_table(identity: dict[str, Any], history: Any) -> Any:
    """Identity columns (constant) then the history columns, as a pyarrow Table (built column by column:
    several times faster than converting a DataFrame, which matters for sweeps of many tiny runs)."""
    import pyarrow as pa

    n = len(history)
    columns = {k: _identity_array(v, n) for k, v in identity.items()}
    for col in history.columns:
        columns[col] = pa.array(history[col].to_numpy())
    return pa.table(columns)


def _with_run_id(run_id: str, table: Any) -> Any:
    """``table`` (a DataFrame from the theory package, or a pyarrow Table) with ``run_id`` as first column."""
    import pyarrow as pa

    if not isinstance(table, pa.Table):
        df = table.reset_index(drop=True)
        df.attrs = {}
        table = pa.Table.from_pandas(df, preserve_index=False)
    return table.add_column(0, "run_id", pa.array([run_id] * table.num_rows, pa.string()))


@functools.lru_cache(maxsize=1)
def _empty_certificate() -> Any:
    """The certificate table with no rows (bounds = []), as a pyarrow Table with the contract's dtypes."""
    import pandas as pd
    import pyarrow as pa

    df = pd.DataFrame(
        {
            "bound": pd.Series([], dtype=object),
            "applicable": pd.Series([], dtype=bool),
            "reason": pd.Series([], dtype=object),
            "held": pd.Series([], dtype="boolean"),
            "n_checked": pd.Series([], dtype="int64"),
            "worst_slack": pd.Series([], dtype="float64"),
            "worst_rel_slack": pd.Series([], dtype="float64"),
            "worst_iter": pd.Series([], dtype="int64"),
            "first_violation": pd.Series([], dtype="int64"),
            "roundoff": pd.Series([], dtype=bool),
            "statement": pd.Series([], dtype=object),
        }
    )
    return pa.Table.from_pandas(df, preserve_index=False)


@functools.lru_cache(maxsize=1)
def _empty_curves() -> Any:
    """The bound-curve table with no rows, as a pyarrow Table."""
    import pandas as pd
    import pyarrow as pa

    df = pd.DataFrame(
        {
            "bound": pd.Series([], dtype=object),
            "iter": pd.Series([], dtype="int64"),
            "bound_value": pd.Series([], dtype="float64"),
            "observed": pd.Series([], dtype="float64"),
        }
    )
    return pa.Table.from_pandas(df, preserve_index=False)


def _certify(run: Any, problem: Any, bounds: Any) -> tuple[Any, Any]:
    """(certificate, curves) for the requested bounds ("all", or a list; [] certifies nothing)."""
    if isinstance(bounds, list) and not bounds:
        return _empty_certificate(), _empty_curves()
    from testbed import theory

    cert = theory.certify(run, problem, bounds=None if bounds == "all" else list(bounds))
    curves = cert.attrs.get("curves")
    if curves is None:
        curves = _empty_curves()
    cert = cert.copy(deep=False)
    cert.attrs = {}
    return cert, curves


def summary_of(history: Any) -> dict[str, Any]:
    """Final values of a history (last row) for the run record."""
    if history is None or not len(history):
        return {}
    last = history.iloc[-1]
    return {
        "f": float(last["f"]),
        "f_gap": float(last["f_gap"]),
        "grad_norm": float(last["grad_norm"]),
        "grad_evals": int(last["grad_evals"]),
        "time_s": float(last["time_s"]),
    }


def execute(config: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """Run one configuration and write its files under ``out_dir/runs``; return a small summary dict.

    The summary has ``run_id``, ``status``, ``message`` and ``seconds``; the
    history is written and dropped, never returned, so the caller's memory
    does not grow with the number of runs.
    """
    if _pinned_at >= 0:
        _pin_new_pools()
        return _execute(config, out_dir)
    with _controller().limit(limits=1):
        return _execute(config, out_dir)


#: (``len(sys.modules)`` when built, a threadpoolctl controller of the libraries loaded then).
_cached_controller: tuple[int, Any] | None = None


def _controller() -> Any:
    """A ThreadpoolController of the loaded BLAS/OpenMP libraries, rebuilt only when an import has added modules.

    Finding the libraries costs about as much as limiting them ten times (it walks the loaded shared
    objects), and a sweep of small runs limits them once per run."""
    global _cached_controller
    if _cached_controller is None or _cached_controller[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        _cached_controller = (len(sys.modules), controller)
    return _cached_controller[1]


def pin_forked_process() -> None:
    """Declare this process a forked worker whose thread pools were pinned to one thread by its parent.

    From then on :func:`execute` does not limit the pools per run; it pins, for good, only pools of
    libraries imported since (checked when ``sys.modules`` has grown, which is how a library arrives).
    """
    global _pinned_at
    _pinned_at = len(sys.modules)


def _pin_new_pools() -> None:
    global _pinned_at
    if len(sys.modules) == _pinned_at:
        return
    for lib in _controller().lib_controllers:
        if lib.num_threads != 1:  # loaded since the fork: never asked before, so no pool to re-create
            lib.set_num_threads(1)
    _pinned_at = len(sys.modules)


def _execute(config: dict[str, Any], out_dir: str) -> dict[str, Any]:
    from testbed import environment
    from testbed.run import run as run_loop
    from testbed.sweep.build import make_optimizer, make_problem
    from testbed.sweep.monitors import monitor_functions

    t_start = time.perf_counter()
    runs_dir = safe_child(out_dir, "runs")
    run_id = config["run_id"]
    timings: dict[str, float] = {}
    status, message, tb = "error", "", None
    run = problem = None
    tables: dict[str, Any] = {}
    stage = "build"
    try:
        t0 = time.perf_counter()
        problem = make_problem(config["problem"]["family"], config["problem"]["params"])
        optimizer = make_optimizer(config["optimizer"]["method"], config["optimizer"]["hparams"])
        monitors = monitor_functions(config["monitors"], problem)
        timings["build_s"] = time.perf_counter() - t0
        stage = "run"
        t0 = time.perf_counter()
        budget = config["budget"]
        run = run_loop(
            problem,
            optimizer,
            iters=budget.get("iters"),
            max_grad_evals=budget.get("max_grad_evals"),
            max_time=budget.get("max_time"),
            tol=budget.get("tol"),
            seed=config["seed"],
            batch_size=config["optimizer"]["batch_size"],
            record_every=config["record_every"],
            monitors=monitors or None,
        )
        timings["run_s"] = time.perf_counter() - t0
        status, message, tb = run.status, run.message, run.traceback
        stage = "certify"
        t0 = time.perf_counter()
        cert, curves = _certify(run, problem, config["bounds"])
        timings["certify_s"] = time.perf_counter() - t0
        tables["certificate"] = _with_run_id(run_id, cert)
        tables["curves"] = _with_run_id(run_id, curves)
    except Exception as exc:
        status = "error"
        message = f"{stage}: {type(exc).__name__}: {' '.join(str(exc).split())}"
        tb = traceback.format_exc()
    base_lr = run.base_lr if run is not None else None
    L = problem.L if problem is not None else None
    f_star = run.f_star if run is not None else None
    dim = problem.dim if problem is not None else None
    identity = _identity(config, status, base_lr, L, f_star, dim)
    if run is not None:
        tables[HISTORY_KIND] = _history_table(identity, run.history)
    record = {
        "config": config,
        "identity": identity,
        "status": status,
        "message": message,
        "iterations": None if run is None else int(run.iterations),
        "final": summary_of(None if run is None else run.history),
        "traceback": tb,
        "environment": environment.describe(host=True),
    }
    t0 = time.perf_counter()
    ordered = {k: tables[k] for k in (HISTORY_KIND, "certificate", "curves") if k in tables}
    timings["total_s"] = time.perf_counter() - t_start
    write_run(Path(runs_dir), run_id, ordered, {**record, "timings": timings})
    return {
        "run_id": run_id,
        "status": status,
        "message": message,
        "seconds": time.perf_counter() - t_start,
        "write_s": time.perf_counter() - t0,
    }


def worker_death_message(exitcode: int | None) -> str:
    """The error message of a run given up after its worker process died while running it (``exitcode`` as in
    :attr:`multiprocessing.Process.exitcode`: ``-N`` for signal N, None if unknown)."""
    import signal

    if exitcode is None:
        how = "cause unknown"
    elif exitcode < 0:
        try:
            how = f"signal {-exitcode}, {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    return f"worker process died ({how}) while running this run (it was retried once)"


def record_worker_death(config: dict[str, Any], out_dir: str, exitcode: int | None) -> dict[str, Any]:
    """Record a run whose worker process died while running it: status ``"error"`` and
    :func:`worker_death_message`, no tables (as for a run that failed to build); return its summary.

    Called by the sweeping process once it stops retrying the run. The record is best effort: if it cannot be
    written (disk full, ...), the summary still carries the error and the run, having no record, is redone by
    the next sweep all the same.
    """
    from testbed import environment

    message = worker_death_message(exitcode)
    identity = _identity(config, "error", None, None, None, None)
    record = {
        "config": config,
        "identity": identity,
        "status": "error",
        "message": message,
        "iterations": None,
        "final": {},
        "traceback": None,
        "environment": environment.describe(host=True),
        "timings": {},
        "worker_exitcode": exitcode,
    }
    with contextlib.suppress(OSError):
        write_run(safe_child(out_dir, "runs"), config["run_id"], {}, record)
    return {"run_id": config["run_id"], "status": "error", "message": message, "seconds": math.nan}
