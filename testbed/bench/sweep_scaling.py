"""Benchmark 4: sweep throughput -- the quickstart sweep with ``-j 1`` against ``-j 2``.

Every sweep writes into a fresh temporary directory with ``force=True``, no
progress bar and no report, and is timed from the call to its return.

* **API** (the target): :func:`testbed.sweep.run_sweep` in this process,
  ``n_jobs=1`` and ``n_jobs=2`` interleaved, medians. Worker start-up is counted
  once per sweep, as a user pays it: ``-j 2`` starts its workers inside each
  timed sweep and stops them at its end (no pool survives between sweeps). This
  process has imported the worker modules already; so has the process of a
  ``-j 1`` sweep by the time it runs anything, and forked workers inherit them.
  Reported beside it: the same sweep with three times the seeds, where the
  start-up weighs a third as much.
* **Command line**: ``python -m testbed run quickstart.toml -j N --force --quiet
  --no-report`` in a subprocess: interpreter start, imports and sweep, all a user
  waits for. The start and imports (~0.6 s) are serial for both, so this ratio
  is lower.
* **Machine ceiling**: a pure-Python CPU burn in one process twice against two
  processes at once, timed between the sweeps: the parallel speed-up the machine
  gave two processes at that moment (other users' load lowers it below 2).

All of it runs in a fresh interpreter (``python -m testbed.bench.sweep_scaling``),
as a sweep started by ``testbed run`` would: the benchmarks before this one
import torch, whose libraries and thread pools make each fork slower (the
48-run speed-up measured in such a process is ~0.05 lower).

Every timed sweep is followed by a 0.3 s pause: a ``-j 2`` sweep restores this
process's BLAS thread count at its end, and OpenBLAS then re-creates its
threads, which spin for a moment -- they would slow whatever is timed next.

Derived rows: runs per second, and the overhead per run = wall time per run
(worker-seconds per run for ``-j 2``: 2 x wall / runs) minus the mean time
inside :func:`testbed.run`, split into building the problem and optimizer,
certifying, writing the run's files, the rest of the worker (identity, tables)
and the sweep's own bookkeeping (plan, manifest, dispatch; for ``-j 2`` also
forking, and workers idle at the end).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.bench.types import BenchRow

__all__ = ["SweepTiming", "api_sweep", "cli_sweep", "machine_ceiling", "measure", "quickstart_path", "run", "scaled"]

#: The sweep of the benchmark, relative to the repository root (or the working directory).
QUICKSTART = Path("experiments") / "quickstart.toml"

#: Target speed-up of ``-j 2`` over ``-j 1`` (issue 7).
TARGET = 1.8

#: Seconds of rest after each timed sweep (see the module docstring).
SETTLE = 0.3


def quickstart_path() -> Path:
    """``experiments/quickstart.toml`` of the source tree this package runs from, else of the working directory."""
    import testbed

    candidates = [Path(testbed.__file__).resolve().parents[1] / QUICKSTART, Path.cwd() / QUICKSTART]
    for path in candidates:
        if path.is_file():
            return path
    from problems.errors import UserInputError

    raise UserInputError(
        "sweep benchmark: experiments/quickstart.toml not found (looked in "
        + ", ".join(str(c.parent.parent) for c in candidates)
        + "); run it from the repository"
    )


@dataclass(frozen=True)
class SweepTiming:
    """One timed sweep: wall seconds and the per-stage sums over its runs (seconds)."""

    wall: float
    runs: int
    run: float  # inside testbed.run
    build: float
    certify: float
    write: float
    worker: float  # whole worker call per run (build + run + certify + tables + write)


def api_sweep(spec: Any, jobs: int) -> SweepTiming:
    """Time ``run_sweep(spec, <fresh tmp>, n_jobs=jobs, force=True, quiet=True)`` and read the run records."""
    from testbed.sweep import run_sweep

    summaries: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        t0 = time.perf_counter()
        outcome = run_sweep(spec, tmp, n_jobs=jobs, force=True, quiet=True,
                            on_result=lambda summary, k: summaries.append(summary))
        wall = time.perf_counter() - t0
        time.sleep(SETTLE)
        if not outcome.ok:
            raise RuntimeError(f"sweep benchmark: runs failed: {outcome.failures[:3]}")
        timings = [json.loads(p.read_text())["timings"] for p in Path(tmp, "runs").glob("*.json")]
    return SweepTiming(
        wall=wall,
        runs=len(summaries),
        run=sum(t["run_s"] for t in timings),
        build=sum(t["build_s"] for t in timings),
        certify=sum(t["certify_s"] for t in timings),
        write=sum(s["write_s"] for s in summaries),
        worker=sum(s["seconds"] for s in summaries),
    )


def cli_sweep(path: Path, jobs: int) -> float:
    """Wall seconds of ``python -m testbed run PATH --out <tmp> -j JOBS --force --quiet --no-report``."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-cli-") as tmp:
        cmd = [sys.executable, "-m", "testbed", "run", str(path), "--out", tmp, "-j", str(jobs),
               "--force", "--quiet", "--no-report"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sweep benchmark: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return wall


def _burn(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def machine_ceiling(pool: Any, n: int) -> tuple[float, float]:
    """(seconds of two burns one after the other here, seconds of two burns at once in the 2-process ``pool``).

    Their ratio is the parallel speed-up the machine gives two processes at the moment."""
    t0 = time.perf_counter()
    _burn(n)
    _burn(n)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    list(pool.map(_burn, [n, n]))
    return serial, time.perf_counter() - t0


def _pool() -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from testbed.sweep.runner import can_fork

    ctx = multiprocessing.get_context("fork" if can_fork() else "spawn")
    pool = ProcessPoolExecutor(2, mp_context=ctx)
    list(pool.map(_burn, [1, 1]))  # started before anything is timed
    return pool


def _overhead_note(s: SweepTiming, workers: int) -> str:
    n = s.runs
    ms = lambda v: f"{1e3 * v / n:.1f}"  # noqa: E731 - milliseconds per run
    rest = s.worker - s.run - s.build - s.certify - s.write
    bookkeeping = workers * s.wall - s.worker
    return (f"per run (ms): build {ms(s.build)}, certify {ms(s.certify)}, write {ms(s.write)}, "
            f"rest of worker {ms(rest)}, sweep bookkeeping{' + fork + idle' if workers > 1 else ''} "
            f"{ms(bookkeeping)}")


def _median_timing(ts: list[SweepTiming]) -> SweepTiming:
    """The timing whose wall time is the median (lower median for an even count)."""
    ordered = sorted(ts, key=lambda s: s.wall)
    return ordered[(len(ordered) - 1) // 2]


def _pairs(spec: Any, repeats: int, pool: Any, burn: int) -> tuple[list[SweepTiming], list[SweepTiming], list]:
    """``repeats`` interleaved (-j 1, -j 2) pairs, alternating which goes first, and a ceiling after each pair."""
    j1: list[SweepTiming] = []
    j2: list[SweepTiming] = []
    ceilings: list[tuple[float, float]] = []
    for i in range(repeats):
        for jobs in ((1, 2) if i % 2 == 0 else (2, 1)):
            (j1 if jobs == 1 else j2).append(api_sweep(spec, jobs))
        ceilings.append(machine_ceiling(pool, burn))
    return j1, j2, ceilings


def scaled(spec_text: str, seeds: int) -> Any:
    """The spec of ``spec_text`` with ``seeds`` seeds (the quickstart has ``seeds = 2``)."""
    import re

    from testbed.sweep import parse_spec

    text, count = re.subn(r"^seeds\s*=\s*\d+", f"seeds = {seeds}", spec_text, count=1, flags=re.M)
    if count != 1:
        raise RuntimeError("sweep benchmark: the quickstart spec has no top-level `seeds = N` line to scale")
    return parse_spec(text)


def run(quick: bool = False) -> list[BenchRow]:
    """Rows: API speed-ups (the quickstart, and at three times its seeds), the command-line speed-up, runs per
    second, overhead per run at -j 1 and -j 2, machine ceiling -- measured in a fresh interpreter."""
    cmd = [sys.executable, "-m", "testbed.bench.sweep_scaling", *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"sweep benchmark: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return [BenchRow(**row) for row in json.loads(proc.stdout.strip().splitlines()[-1])]


def measure(quick: bool = False) -> list[BenchRow]:
    """The rows of :func:`run`, measured in this process."""
    from testbed.sweep import load_spec

    path = quickstart_path()
    spec = load_spec(path)
    big = scaled(spec.text, 3 * 2)
    repeats = 1 if quick else 5
    big_repeats = 1 if quick else 3
    cli_repeats = 1 if quick else 3
    burn = 1_000_000 if quick else 3_000_000
    api_sweep(spec, 1)  # warm-up: imports, reference cache, memoised problem constants
    api_sweep(spec, 2)
    pool = _pool()
    try:
        j1, j2, ceilings = _pairs(spec, repeats, pool, burn)
        b1, b2, more = _pairs(big, big_repeats, pool, burn)
    finally:
        pool.shutdown()
    ceilings += more
    c1: list[float] = []
    c2: list[float] = []
    for i in range(cli_repeats):
        for jobs in ((1, 2) if i % 2 == 0 else (2, 1)):
            (c1 if jobs == 1 else c2).append(cli_sweep(path, jobs))

    a1, a2 = _median_timing(j1), _median_timing(j2)
    t1, t2 = a1.wall, a2.wall
    n = a1.runs
    speedup = t1 / t2
    bt1, bt2 = _median_timing(b1).wall, _median_timing(b2).wall
    ceiling = statistics.median(serial / parallel for serial, parallel in ceilings)
    ct1, ct2 = statistics.median(c1), statistics.median(c2)
    label = f"quickstart ({n} runs)"
    start = 2 * t2 - a2.worker  # worker-seconds not spent in runs: fork, dispatch, idle ends (both workers)
    rows = [
        BenchRow("sweep throughput", f"{label} -j 1 vs -j 2, API", t2, t1, speedup, f">= {TARGET} (speed-up)",
                 None if quick else speedup >= TARGET,
                 f"ratio = t(-j 1) / t(-j 2); workers forked inside each timed sweep; median of {repeats}; "
                 f"worker-seconds outside runs {1e3 * start:.0f} ms; machine ceiling at the time {ceiling:.2f}"),
        BenchRow("sweep throughput", f"quickstart x 3 seeds ({_median_timing(b1).runs} runs) -j 1 vs -j 2, API",
                 bt2, bt1, bt1 / bt2, "report", None,
                 f"the same sweep three times as long: start-up amortised; median of {big_repeats}"),
        BenchRow("sweep throughput", f"{label} -j 1 vs -j 2, command line", ct2, ct1, ct1 / ct2, "report", None,
                 f"ratio = t(-j 1) / t(-j 2) of `python -m testbed run ... --quiet --no-report`, interpreter start "
                 f"and imports included; median of {cli_repeats}"),
        BenchRow("sweep throughput", f"{label} runs per second", t2 / n, t1 / n, n / t2, "report", None,
                 f"ratio = runs/s at -j 2; -j 1: {n / t1:.1f} runs/s; ours_s/reference_s = s per run at -j 2 / -j 1"),
        BenchRow("sweep throughput", f"{label} overhead per run, -j 1", t1 / n - a1.run / n, a1.run / n,
                 (t1 - a1.run) / a1.run, "report", None,
                 "ours_s = wall per run - time in testbed.run (reference_s); " + _overhead_note(a1, 1)),
        BenchRow("sweep throughput", f"{label} overhead per run, -j 2", 2 * t2 / n - a2.run / n, a2.run / n,
                 (2 * t2 - a2.run) / a2.run, "report", None,
                 "ours_s = worker-seconds per run (2 x wall / runs) - time in testbed.run (reference_s); "
                 + _overhead_note(a2, 2)),
        BenchRow("sweep throughput", "machine ceiling: 2 processes, CPU burn",
                 statistics.median(p for _, p in ceilings), statistics.median(s for s, _ in ceilings), ceiling,
                 "report", None, "ratio = speed-up of a pure-Python burn in 2 processes over 1, measured between "
                 "the sweeps: what the machine gave 2 processes (below 2 when other work runs)"),
    ]
    return rows


if __name__ == "__main__":
    from dataclasses import asdict

    print(json.dumps([asdict(row) for row in measure(quick="--quick" in sys.argv[1:])]))
