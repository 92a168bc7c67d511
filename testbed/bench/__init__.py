"""``testbed bench``: the speed benchmarks and their targets (issue 7).

Every row compares our time with a reference measured side by side in the
same process (interleaved repeats, medians), so the ratios hold on a noisy
shared machine. ``--quick`` shrinks sizes and repeats so CI can check that
every benchmark runs and prints its table; quick-mode ratios are not the
ones the targets are about.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from pathlib import Path

from testbed.bench.types import BenchRow, rows_to_frame

__all__ = ["BENCHMARKS", "BenchRow", "machine", "main", "run_benchmarks"]

#: Benchmark name -> module (each has ``run(quick: bool) -> list[BenchRow]``), in the issue's order.
BENCHMARKS = {
    "loop": "testbed.bench.loop_overhead",
    "optimizer": "testbed.bench.optimizer_step",
    "mlp": "testbed.bench.mlp_oracle",
    "sweep": "testbed.bench.sweep_scaling",
    "cache": "testbed.bench.reference_cache",
    "pep": "testbed.bench.pep_timing",
}


def run_benchmarks(names: list[str] | None = None, quick: bool = False) -> list[BenchRow]:
    """Run the named benchmarks (all by default) and return their rows."""
    from problems.errors import UnknownNameError

    rows: list[BenchRow] = []
    for name in names or list(BENCHMARKS):
        if name not in BENCHMARKS:
            raise UnknownNameError("benchmark", name, BENCHMARKS)
        module = importlib.import_module(BENCHMARKS[name])
        rows.extend(module.run(quick=quick))
    return rows


def _markdown(frame) -> str:  # type: ignore[no-untyped-def]
    head = (
        "| benchmark | case | ours (s) | reference (s) | ratio | target | met | note |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in frame.itertuples(index=False):
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(
            f"| {r.benchmark} | {r.case} | {r.ours_s:.4g} | {r.reference_s:.4g} | {r.ratio:.3f} | {r.target} "
            f"| {met} | {r.note} |"
        )
    return head + "\n".join(lines) + "\n"


def machine() -> str:
    """One line describing the machine: CPU model, cores, memory, Python, numpy and its BLAS, load average."""
    import os

    import numpy as np

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        mem = "memory unknown"
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(sorted({f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                                 for i in threadpool_info() if i["user_api"] == "blas"}))
    except ImportError:
        blas = "BLAS unknown"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{model}, {os.cpu_count()} CPUs, {mem}; {platform.python_implementation()} {platform.python_version()}, "
            f"numpy {np.__version__} ({blas}); load average {load}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: run, print the table, write ``bench.csv`` and ``bench.md`` to ``--out``."""
    parser = argparse.ArgumentParser(prog="testbed bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (CI smoke run)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--out", default="benchmarks/out", help="directory for bench.csv and bench.md")
    args = parser.parse_args(argv)
    before = machine()
    rows = run_benchmarks(args.only, quick=args.quick)
    frame = rows_to_frame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "bench.csv", index=False)
    note = " (quick mode: small sizes, few repeats; ratios are not the targets' and met is left empty)"
    end = machine().rsplit("; load average ", 1)[-1]
    text = (f"Machine at start: {before}\nLoad average at end: {end}\nQuick mode: {args.quick}"
            f"{note if args.quick else ''}\n\n" + _markdown(frame))
    (out / "bench.md").write_text(text)
    sys.stdout.write(text)
    return 0
