r"""Benchmark 3: the MLP oracle -- ``value_and_grad`` against torch autograd on the CPU, float64.

Ours: the registry's ``mlp`` problem (``problems.make("mlp", data="digits",
hidden=64)``, 64-64-10 on the 1347 digits training images, and the 2-32-2
toy ``data="moons", hidden=32``), public ``value_and_grad(theta)`` on the full
training set: one forward and one hand-written backward pass
(:mod:`problems.families.mlp`).

Reference: torch computing the same loss with autograd. The parameter vector
is one float64 leaf tensor theta laid out as the problem lays it out (W^h
row-major, b^h, W^y row-major, b^y; :meth:`problems.families.mlp.MLP.unflatten`),
the four blocks are views of it, and

.. math::

    f(\theta) = \mathrm{cross\_entropy}(W^y \tanh(W^h x + b^h) + b^y, y)
                + \tfrac{l_2}{2}(\|W^h\|_F^2 + \|W^y\|_F^2),

so ``loss.backward()`` leaves grad f(theta) in ``theta.grad`` as one flat
vector, exactly what ours returns. Each call starts from a fresh leaf (no
gradient accumulation). Before timing, the two results are checked equal
(relative 1e-10 in value and in the max-norm of the gradient).

Both sides are timed on one thread (threadpoolctl for numpy's BLAS,
``torch.set_num_threads(1)``; sweep workers run that way), and again with each
library's default thread count, reported only: on a loaded 2-core machine two
BLAS threads wait for each other and the timings mostly measure the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import problems
from testbed.bench.timing import interleaved
from testbed.bench.types import BenchRow

__all__ = ["CASES", "run", "torch_value_and_grad"]

#: (case label, ``problems.make("mlp", ...)`` parameters).
CASES: list[tuple[str, dict[str, Any]]] = [
    ("digits 64-64-10", {"data": "digits", "hidden": 64}),
    ("moons 2-32-2", {"data": "moons", "hidden": 32}),
]

#: Relative agreement required between ours and torch before timing.
RTOL = 1e-10


def torch_value_and_grad(problem: Any) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """theta -> (f(theta), grad f(theta)) of ``problem`` (an ``mlp`` problem) by torch autograd, float64 CPU."""
    import torch
    from torch.nn import functional as F  # noqa: N812 - the usual torch spelling

    X = torch.from_numpy(np.array(problem.X_train, dtype=np.float64))
    y = torch.from_numpy(np.array(problem.y_train, dtype=np.int64))  # a writable copy, as torch wants
    H, n_in, K = problem.hidden, problem.n_in, problem.n_out
    a, b, c = (int(v) for v in np.cumsum([H * n_in, H, K * H]))
    act = torch.tanh if problem.activation == "tanh" else torch.relu
    l2 = float(problem.l2)

    def value_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        th = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        Wh, bh, Wy, by = th[:a].view(H, n_in), th[a:b], th[b:c].view(K, H), th[c:]
        loss = F.cross_entropy(F.linear(act(F.linear(X, Wh, bh)), Wy, by), y)
        if l2 != 0.0:
            loss = loss + 0.5 * l2 * (Wh.square().sum() + Wy.square().sum())
        loss.backward()
        return loss.item(), th.grad.numpy()

    return value_and_grad


def _check_equal(label: str, ours: tuple[float, np.ndarray], ref: tuple[float, np.ndarray]) -> None:
    (f1, g1), (f2, g2) = ours, ref
    scale = max(1.0, float(np.max(np.abs(g2))))
    if abs(f1 - f2) > RTOL * max(1.0, abs(f2)) or float(np.max(np.abs(g1 - g2))) > RTOL * scale:
        raise RuntimeError(
            f"mlp benchmark {label}: ours and torch disagree (|df| = {abs(f1 - f2):.3g}, "
            f"max |dg| = {float(np.max(np.abs(g1 - g2))):.3g}); timings would compare different computations"
        )


def _case(label: str, params: dict[str, Any], threads: int | None, repeats: int, quick: bool) -> BenchRow:
    """One row; ``threads=None`` leaves both libraries at their default thread counts (reported only)."""
    import contextlib

    import torch
    from threadpoolctl import threadpool_limits

    problem = problems.make("mlp", **params)
    theta = problem.x0
    ours = problem.value_and_grad
    ref = torch_value_and_grad(problem)
    old = torch.get_num_threads()
    limit = threadpool_limits(limits=threads) if threads is not None else contextlib.nullcontext()
    with limit:
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            _check_equal(label, ours(theta), ref(theta))
            t = interleaved(lambda: ours(theta), lambda: ref(theta), repeats, warmup=3)
        finally:
            torch.set_num_threads(old)
    shown = f"{threads} thread" if threads is not None else f"default threads (torch {old})"
    return BenchRow(
        "MLP oracle",
        f"{label} value_and_grad, {shown}",
        t.ours,
        t.reference,
        t.ratio,
        "<= 1.0" if threads is not None else "report",
        None if (quick or threads is None) else t.ratio <= 1.0,
        f"n = {problem.n_samples}, dim = {problem.dim}; torch autograd float64 CPU; results equal to {RTOL:g} "
        f"relative; median of {repeats}",
    )


def run(quick: bool = False) -> list[BenchRow]:
    """One-thread rows (target ratio <= 1.0) and default-thread rows (reported) for digits and moons."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("the MLP benchmark compares with torch: pip install torch") from exc
    rows = []
    for threads in (1, None):
        for label, params in CASES:
            small = params["data"] == "moons"
            if threads is None:
                repeats = 5 if quick else (200 if small else 25)
            else:
                repeats = 20 if quick else (400 if small else 60)
            rows.append(_case(label, params, threads, repeats, quick))
    return rows
