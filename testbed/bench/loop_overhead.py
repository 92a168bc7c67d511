"""Benchmark 1: run-loop overhead of :func:`testbed.run` against a bare numpy loop.

Both sides run gradient descent with step 1/L for the same number of
iterations, evaluate f and grad f once per iteration with the problem's own
one-pass ``value_and_grad``, and record the same twelve numbers per iteration
(the history columns of :data:`testbed.result.HISTORY_COLUMNS`: iteration, f,
f - f*, ||grad f||, ||x - x*||, the step, the four oracle counts, epochs and the
time) into a preallocated array, the reference with one numpy row assignment
per iteration. The ratio is the cost of everything ``testbed.run`` adds: input
validation, the counting oracle, the optimizer protocol, the recorder, the
divergence and budget checks and building the history table at the end.

BLAS is pinned to one thread on both sides (as in sweep workers): the dense
matrix-vector product of the dim-2000 case otherwise measures how two BLAS
threads are scheduled on a loaded 2-core machine rather than the loop.
"""

from __future__ import annotations

import math
import time

import numpy as np

import problems
from testbed.bench.timing import interleaved
from testbed.bench.types import BenchRow

__all__ = ["bare_gd", "run"]


def bare_gd(problem: problems.Problem, iters: int) -> np.ndarray:
    """Gradient descent at 1/L as a plain loop recording the 12 history numbers into an (iters+1, 12) array."""
    x = problem.x0
    lr = 1.0 / problem.L
    f_star = problem.f_star if problem.f_star is not None else math.nan
    x_star = problem.x_star
    vg = problem._value_and_grad
    out = np.empty((iters + 1, 12))
    start = time.perf_counter()
    for t in range(iters + 1):
        f, g = vg(x, None)
        gn = math.sqrt(np.dot(g, g))
        d = x - x_star
        out[t] = (t, f, f - f_star, gn, math.sqrt(np.dot(d, d)), lr if t < iters else math.nan,
                  t, 0, 0, 0, t, time.perf_counter() - start)
        if t < iters:
            x -= lr * g
    return out


def region_note(problem: problems.Problem) -> str:
    """Where ``testbed.run`` records more than the bare loop: the ``in_region`` column of region-valid L."""
    return " (ours also checks the region where L holds)" if problem.L_region != "global" else ""


def _case(name: str, problem: problems.Problem, iters: int, repeats: int, target: float, quick: bool) -> BenchRow:
    import testbed

    opt = testbed.optimizers.make("gd", lr="1/L")
    problem.f_star  # noqa: B018 - compute the reference before timing
    ours = testbed.run(problem, opt, iters=iters).history.to_numpy()
    ref = bare_gd(problem, iters)
    same = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]  # every column but lr (NaN-terminated on both) and time
    if not np.allclose(ours[:, same], ref[:, same], rtol=1e-12, atol=0.0):
        raise RuntimeError(f"run-loop benchmark {name}: testbed.run and the bare loop recorded different numbers")
    timing = interleaved(lambda: testbed.run(problem, opt, iters=iters), lambda: bare_gd(problem, iters), repeats)
    per_iter_us = 1e6 * (timing.ours - timing.reference) / (iters + 1)
    return BenchRow(
        benchmark="run-loop overhead",
        case=name,
        ours_s=timing.ours,
        reference_s=timing.reference,
        ratio=timing.ratio,
        target=f"<= {target}",
        met=None if quick else timing.ratio <= target,
        note=f"gd 1/L, {iters} iterations, all recorded{region_note(problem)}; overhead {per_iter_us:.2f} us/iteration "
        f"(reference {1e6 * timing.reference / (iters + 1):.2f} us/iteration); median of {repeats}",
    )


def run(quick: bool = False) -> list[BenchRow]:
    """Rows for the dense dim-2000 quadratic (target 1.05), 2-D Rosenbrock and a dim-2 quadratic (target 1.5)."""
    from threadpoolctl import threadpool_limits

    repeats = 3 if quick else 15
    small_iters = 500 if quick else 5000
    with threadpool_limits(limits=1):
        big = problems.make("quadratic", dim=300 if quick else 2000, kappa=100.0, seed=0)
        rows = [_case(f"quadratic dim={big.dim} (dense)", big, 100 if quick else 200, repeats, 1.05, quick)]
        rows.append(_case("rosenbrock 2-D", problems.make("rosenbrock"), small_iters, repeats, 1.5, quick))
        small = problems.make("quadratic", dim=2, kappa=10.0, seed=0)
        rows.append(_case("quadratic dim=2", small, small_iters, repeats, 1.5, quick))
    return rows
