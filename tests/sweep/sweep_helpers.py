"""Helpers for the sweep tests: tiny specs, table comparison, the repository root for subprocesses."""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

import testbed.sweep

#: The repository root (for subprocesses run from another directory).
REPO = Path(testbed.sweep.__file__).resolve().parents[2]

#: Columns that measure time and may differ between two executions of one run.
TIME_COLUMNS = ("time_s",)


def subprocess_env() -> dict[str, str]:
    """Environment for `python -m testbed` subprocesses: the repository on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def python() -> str:
    """The interpreter running the tests."""
    return sys.executable


def tiny_spec(name: str = "tiny", *, seeds: int = 2, iters: int = 30, bounds: str = "\"all\"", extra: str = "") -> str:
    """A small valid spec: 2 problems x 3 optimizer configurations x ``seeds``."""
    return f"""
name = "{name}"
seeds = {seeds}
bounds = {bounds}
{extra}
[budget]
iters = {iters}

[[problems]]
family = "quadratic"
dim = 5
kappa = 10.0

[[problems]]
family = "least_squares"
n = 30
d = 5

[[optimizers]]
name = "gd"
lr = "1/L"

[[optimizers]]
name = "adam"
betas = [0.9, 0.999]
grid = {{ lr = [0.01, 0.1] }}
"""


def without_time(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without time columns."""
    return df.drop(columns=[c for c in TIME_COLUMNS if c in df.columns])


def assert_same_tables(a: Path, b: Path) -> None:
    """Results, run summaries, certificates and curves of two directories are identical (time aside)."""
    from testbed import storage

    pd.testing.assert_frame_equal(without_time(storage.load_results(a)), without_time(storage.load_results(b)))
    pd.testing.assert_frame_equal(without_time(storage.load_runs(a)), without_time(storage.load_runs(b)))
    pd.testing.assert_frame_equal(storage.load_certificates(a), storage.load_certificates(b))
    pd.testing.assert_frame_equal(storage.load_curves(a), storage.load_curves(b))


def forked_children() -> set[int]:
    """Pids of this process's forked children (not loky's workers, which the loky tests leave running)."""
    return {p.pid for p in multiprocessing.active_children() if isinstance(p, multiprocessing.context.ForkProcess)}


def children_of(parent: int) -> list[int]:
    """Pids whose parent is ``parent`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().split(")")[-1].split()[1]) == parent:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _can_fork() -> bool:
    from testbed.sweep import forked

    return forked.can_fork()


#: Marks tests of the forked worker pool (Linux only).
forking = pytest.mark.skipif(not _can_fork(), reason="workers are forked on Linux only")
