"""Benchmark 6: seconds per tight worst-case bound ``pep.worst_case("gd", iters=t)``.

Targets (issue 4): under 0.05 s for each t <= 10 and under 0.3 s for t = 20 on
this 2-core machine; PEPit 0.5.1 takes about 0.13 s and 0.78 s here. The disk
cache is switched off so that every call solves its SDP.
"""

from __future__ import annotations

import os
import statistics
import time

from testbed.bench.types import BenchRow

__all__ = ["run"]


def run(quick: bool = False) -> list[BenchRow]:
    """One row per t in 1..10 and 20 (quick: 1, 5, 10)."""
    from testbed.theory import pep

    ts = [1, 5, 10] if quick else [*range(1, 11), 20]
    repeats = 2 if quick else 5
    old = os.environ.get("OPTIM_TESTBED_CACHE")
    os.environ["OPTIM_TESTBED_CACHE"] = "off"
    rows = []
    try:
        pep.worst_case("gd", iters=1)  # warm up CVXPY's canonicalisation machinery
        for t in ts:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                pep.worst_case("gd", iters=t)
                times.append(time.perf_counter() - t0)
            sec = statistics.median(times)
            limit = 0.05 if t <= 10 else 0.3
            pepit = {10: 0.13, 20: 0.78}.get(t)
            note = f"reference_s = the target; median of {repeats}"
            if pepit:
                note += f"; PEPit 0.5.1: {pepit} s"
            rows.append(BenchRow("PEP", f"gd t={t}", sec, limit, sec / limit, f"< {limit} s",
                                 None if quick else sec < limit, note))
    finally:
        if old is None:
            os.environ.pop("OPTIM_TESTBED_CACHE", None)
        else:
            os.environ["OPTIM_TESTBED_CACHE"] = old
    return rows
