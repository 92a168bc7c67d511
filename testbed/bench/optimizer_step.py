"""Benchmark 2: the cost of an ``adam`` step on a 10^6-dimensional separable quadratic.

Ours is ``testbed.run`` with ``adam`` recording only the first and last
iterate; the reference is a hand-written in-place numpy Adam (Kingma & Ba,
torch's eps placement) evaluating the same gradient and recording the same two
rows. ``torch.optim.Adam`` (float64, CPU, single-tensor path) is reported for
information when torch is installed.

All sides run on one thread (BLAS pinned with threadpoolctl, ``torch.set_num_threads(1)``):
the update is elementwise numpy on our side, which never uses more than one.
Quick mode uses dim 100,000: above :data:`testbed.optimizers.torch_kernels.FUSED_MAX_SIZE`
(65,536), so ``adam`` takes the same plain-rounding kernels as at 10^6 rather than
the torch-rounding-exact emulation used for small vectors.
"""

from __future__ import annotations

import math

import numpy as np

import problems
from testbed.bench.timing import interleaved
from testbed.bench.types import BenchRow

__all__ = ["numpy_adam", "run", "separable_quadratic"]


def separable_quadratic(dim: int, seed: int = 0) -> problems.Problem:
    """f(x) = 1/2 sum_i d_i x_i^2 - b'x with d_i in [1, 100]; gradient written in place-friendly numpy."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(1.0, 100.0, dim)
    b = rng.standard_normal(dim)
    x_star = b / d

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        g = d * x
        f = 0.5 * float(np.dot(g, x)) - float(np.dot(b, x))
        g -= b
        return f, g

    return problems.custom(
        value=lambda x: value_and_grad(x)[0],
        grad=lambda x: value_and_grad(x)[1],
        value_and_grad=value_and_grad,
        x0=np.zeros(dim),
        L=float(d.max()),
        mu=float(d.min()),
        x_star=x_star,
        name=f"separable_quadratic_{dim}",
    )


def numpy_adam(problem: problems.Problem, iters: int, lr: float = 1e-3) -> np.ndarray:
    """Adam with in-place numpy ops and preallocated buffers; records f and ||g|| at the start and the end."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    x = problem.x0
    vg = problem._value_and_grad
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    tmp = np.empty_like(x)
    out = np.empty((2, 2))
    f, g = vg(x, None)
    out[0] = f, math.sqrt(float(np.dot(g, g)))
    for t in range(1, iters + 1):
        g = vg(x, None)[1]
        m *= b1
        np.multiply(g, 1 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        bc1 = 1 - b1**t
        bc2 = 1 - b2**t
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(bc2)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / bc1
        x -= tmp
    f, g = vg(x, None)
    out[1] = f, math.sqrt(float(np.dot(g, g)))
    return out


def _torch_adam(problem: problems.Problem, iters: int, lr: float = 1e-3) -> None:
    import torch

    p = torch.nn.Parameter(torch.from_numpy(problem.x0))
    opt = torch.optim.Adam([p], lr=lr, foreach=False)
    vg = problem._value_and_grad
    for _ in range(iters):
        g = vg(p.detach().numpy(), None)[1]
        p.grad = torch.from_numpy(g)
        opt.step()


def run(quick: bool = False) -> list[BenchRow]:
    """Adam vs in-place numpy Adam (target <= 1.10) and vs torch.optim.Adam (reported)."""
    from threadpoolctl import threadpool_limits

    import testbed
    from testbed.optimizers.torch_kernels import FUSED_MAX_SIZE

    dim = 100_000 if quick else 1_000_000
    assert dim > FUSED_MAX_SIZE  # the plain kernels, as for large vectors
    iters = 5 if quick else 30
    repeats = 3 if quick else 9
    problem = separable_quadratic(dim)
    opt = testbed.optimizers.make("adam", lr=1e-3)
    ours = lambda: testbed.run(problem, opt, iters=iters, record_every=iters)  # noqa: E731
    with threadpool_limits(limits=1):
        t = interleaved(ours, lambda: numpy_adam(problem, iters), repeats)
        rows = [
            BenchRow("optimizer step", f"adam dim={dim} vs in-place numpy", t.ours, t.reference, t.ratio, "<= 1.1",
                     None if quick else t.ratio <= 1.10,
                     f"{iters} steps, two recorded rows; {1e3 * t.ours / iters:.2f} ms/step; median of {repeats}"),
        ]
        try:
            import torch
        except ImportError:
            return rows
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            tt = interleaved(ours, lambda: _torch_adam(problem, iters), repeats)
        finally:
            torch.set_num_threads(threads)
    rows.append(BenchRow("optimizer step", f"adam dim={dim} vs torch.optim.Adam", tt.ours, tt.reference, tt.ratio,
                         "report", None, "torch float64 CPU, 1 thread, foreach=False, same numpy gradient"))
    return rows
