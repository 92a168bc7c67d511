"""The run loop: one optimizer on one problem, recording what theory and reports need.

Each recorded iteration t evaluates f(x_t) and grad f(x_t) on the *full*
objective (not counted in the oracle budget, and excluded from ``time_s``
unless the optimizer itself uses that evaluation, as gradient descent does),
writes one row into preallocated buffers, and checks for divergence: a run
whose f(x_t) or ||grad f(x_t)|| is not finite, or whose
|f(x_t)| > ``divergence_factor`` * max(1, |f(x_0)|) (default 1e10), ends with
status ``"diverged"`` at that iteration, quietly (numpy's overflow warnings
are silenced inside the loop).
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Any

import numpy as np

from problems import Problem
from problems._validate import check_choice, check_float, check_int, check_vector
from problems.errors import UserInputError
from testbed.optimizers.base import Converged, DriverOptimizer, OptimizerProtocol, parse_lr, resolve_lr
from testbed.oracle import Oracle
from testbed.recorder import Recorder
from testbed.region import RegionChecker
from testbed.result import HISTORY_COLUMNS, Run

__all__ = ["minibatches", "run"]


def minibatches(n: int, batch_size: int, rng: np.random.Generator, sampling: str = "reshuffle"):
    """Yield minibatches of sample indices forever: each epoch a fresh seeded permutation, cut into
    consecutive batches of ``batch_size`` (the last batch of an epoch is smaller when n is not a multiple).

    ``sampling="independent"`` instead draws every minibatch afresh: ``batch_size`` distinct indices uniformly
    at random, independently of all previous batches (i.i.d. "b-nice" sampling, what SGD theorems in
    expectation assume; see :mod:`testbed.theory.expectation`)."""
    if sampling == "independent":
        while True:
            yield rng.choice(n, size=batch_size, replace=False)
    while True:
        perm = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield perm[start : start + batch_size]


def _optimizer_identity(optimizer: Any) -> tuple[str, dict[str, Any]]:
    name = getattr(optimizer, "name", None) or type(optimizer).__name__
    config = optimizer.config() if hasattr(optimizer, "config") else dict(getattr(optimizer, "hparams", {}) or {})
    return str(name), config


def run(
    problem: Problem,
    optimizer: Any,
    iters: int | None = None,
    max_grad_evals: int | None = None,
    max_time: float | None = None,
    tol: float | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    record_every: int = 1,
    keep_iterates: bool = False,
    x0: np.ndarray | None = None,
    divergence_factor: float = 1e10,
    monitors: dict[str, Any] | None = None,
    sampling: str = "reshuffle",
) -> Run:
    """Run ``optimizer`` on ``problem`` and return a :class:`~testbed.result.Run`.

    Budgets (at least one is required): ``iters`` optimizer steps,
    ``max_grad_evals`` gradient-oracle calls, ``max_time`` seconds. ``tol``
    stops with status ``"converged"`` once ||grad f(x_t)|| <= tol at a recorded
    iteration. ``batch_size`` makes the oracle stochastic: minibatches drawn
    without replacement per epoch from ``numpy.random.default_rng(seed)``
    (``sampling="reshuffle"``), or independently at each step (``sampling="independent"``,
    recorded in ``Run.extras["sampling"]``; see :func:`minibatches`).
    ``x0`` overrides the problem's standard start. ``monitors`` maps extra
    column names to callables ``fn(x) -> float`` evaluated at each recorded
    iterate (uncounted, excluded from ``time_s``), e.g.
    ``{"test_acc": lambda x: p.accuracy(x, split="test")}``. For a problem whose ``L``
    holds on a region only, an ``in_region`` column (1.0 or 0.0) is recorded last. An optimizer with a
    ``finalize(state) -> dict`` method (see :class:`~testbed.optimizers.base.Optimizer`)
    is called once at the end with its last state; the dict becomes ``Run.extras``
    (e.g. the barrier method's central path).
    """
    if not isinstance(problem, Problem):
        raise UserInputError(f"problem: must be a problems.Problem, got {type(problem).__name__}")
    if not isinstance(optimizer, OptimizerProtocol):
        raise UserInputError(
            f"optimizer: must have init(x0, problem) and step(x, state, oracle, lr), got {type(optimizer).__name__}"
        )
    iters = None if iters is None else check_int("iters", iters, low=0)
    max_grad_evals = None if max_grad_evals is None else check_int("max_grad_evals", max_grad_evals, low=0)
    max_time = check_float("max_time", max_time, low=0.0, low_open=True, allow_none=True)
    tol = check_float("tol", tol, low=0.0, allow_none=True)
    seed = check_int("seed", seed, low=0)
    record_every = check_int("record_every", record_every, low=1)
    divergence_factor = check_float("divergence_factor", divergence_factor, low=1.0)
    if iters is None and max_grad_evals is None and max_time is None:
        raise UserInputError("budget: give at least one of iters, max_grad_evals or max_time")
    sampling = check_choice("sampling", sampling, ("reshuffle", "independent"))
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
        if problem.n_samples is None:
            raise UserInputError(f"batch_size: {problem.name} is not a finite sum, so it has no minibatches")
        if batch_size > problem.n_samples:
            raise UserInputError(f"batch_size: must be <= n_samples = {problem.n_samples}, got {batch_size}")
        if isinstance(optimizer, DriverOptimizer):
            raise UserInputError(
                f"batch_size: {getattr(optimizer, 'name', 'this optimizer')} runs its own full-batch loop "
                "(scipy.optimize.minimize) and cannot use minibatches"
            )
    x = problem.x0 if x0 is None else check_vector("x0", np.asarray(x0), problem.dim).copy()

    rng = np.random.default_rng(seed)
    name, config = _optimizer_identity(optimizer)
    if hasattr(optimizer, "resolve_lr"):
        base_lr = optimizer.resolve_lr(problem)
    else:
        base_lr = resolve_lr(parse_lr("lr", getattr(optimizer, "lr", None), allow_none=True), problem)
    schedule = getattr(optimizer, "schedule", None)
    lr_iter = schedule.lrs(base_lr) if schedule is not None and base_lr is not None else None

    f_star = problem.f_star
    x_star = problem.x_star
    x_start = x.copy()
    extra_cols = tuple(getattr(optimizer, "extra_columns", ()))
    monitors = dict(monitors or {})
    for key, fn in monitors.items():
        if not isinstance(key, str) or not callable(fn):
            raise UserInputError(f"monitors: must map column names to callables fn(x) -> float, got {key!r}")
        if key in HISTORY_COLUMNS or key in extra_cols:
            raise UserInputError(f"monitors: column {key!r} already exists in the history")
    # L holds on a region only (Rosenbrock's box, the tanh MLP's ball): record whether each recorded iterate
    # is inside it (testbed.region), so that bounds needing L can be certified without keeping the iterates.
    region_cols = ("in_region",) if problem.L is not None and problem.L_region != "global" else ()
    if region_cols and "in_region" in monitors:
        raise UserInputError("monitors: column 'in_region' is recorded by the run loop for this problem")
    capacity = (iters // record_every + 2) if iters is not None else 1024
    rec = Recorder(
        min(capacity, 1_000_000), extra_cols + tuple(monitors) + region_cols, problem.dim if keep_iterates else None
    )
    oracle = Oracle(problem)
    batches = minibatches(problem.n_samples, batch_size, rng, sampling) if batch_size is not None else None
    n_samples = problem.n_samples

    state = optimizer.init(x, problem)
    loop = _Loop(problem, optimizer, oracle, rec, f_star, x_star, divergence_factor, tol, n_samples, extra_cols)
    loop.monitors = tuple(monitors.values())
    if region_cols:
        loop.region = RegionChecker(problem, rec, len(rec.columns) - 1)
    loop.state = state
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if isinstance(optimizer, DriverOptimizer):
            x, t, status, message, tb = loop.drive(x, iters, max_grad_evals, max_time, record_every)
        else:
            x, t, status, message, tb = loop.steps(
                x, state, iters, max_grad_evals, max_time, record_every, base_lr, lr_iter, batches
            )
    if loop.region is not None:
        loop.region.flush()
    finalize = getattr(optimizer, "finalize", None)
    extras = dict(finalize(loop.state) or {}) if callable(finalize) else {}
    if batch_size is not None:
        extras.setdefault("sampling", sampling)
    return Run(
        problem=problem.name,
        problem_params=dict(problem.params),
        optimizer=name,
        hparams=config,
        status=status,
        message=message,
        history=rec.frame(),
        x0=x_start,
        x_final=np.array(x, dtype=np.float64, copy=True),
        iterations=t,
        seed=seed,
        L=problem.L,
        mu=problem.mu,
        f_star=f_star,
        x_star=x_star,
        base_lr=base_lr,
        batch_size=batch_size,
        iterates=rec.kept_iterates(),
        diverged_at=t if status == "diverged" else None,
        traceback=tb,
        extras=extras,
    )


class _Loop:
    """The two loops (stepped optimizers, and drivers with a callback) sharing the recording code.

    Timing (``time_s``): row t holds the wall time from the start of the run to
    the start of iteration t's recording, minus everything excluded so far:
    recording evaluations that the optimizer did not consume (all of them for
    minibatch runs and drivers), optimizer extras and monitors. The loop calls
    ``perf_counter`` twice per recorded iteration (around the evaluation) and,
    with extras or monitors, once more; unrecorded iterations call it only
    when ``max_time`` is set.
    """

    def __init__(
        self,
        problem: Problem,
        optimizer: Any,
        oracle: Oracle,
        rec: Recorder,
        f_star: float | None,
        x_star: np.ndarray | None,
        divergence_factor: float,
        tol: float | None,
        n_samples: int | None,
        extra_cols: tuple[str, ...],
    ) -> None:
        self.problem = problem
        self.optimizer = optimizer
        self.oracle = oracle
        self.rec = rec
        self.f_star = math.nan if f_star is None else f_star
        self.x_star = x_star
        self.factor = divergence_factor
        self.tol = tol
        self.n = n_samples
        self.extra_cols = extra_cols
        self.blowup = math.inf
        self.excluded = 0.0
        self.start = 0.0
        self.monitors: tuple[Any, ...] = ()
        self.region: RegionChecker | None = None
        #: The optimizer's latest state (handed to ``optimizer.finalize`` at the end of the run).
        self.state: Any = None
        self._vg = problem._value_and_grad
        self._diff = None if x_star is None else np.empty_like(x_star, dtype=np.float64)  # x_t - x*, reused
        self._keep = rec.iterates is not None

    def record(self, t: int, x: np.ndarray, state: Any) -> tuple[float, np.ndarray, float, str | None]:
        """Evaluate and record iteration t; return (f, g, evaluation seconds, stop status or None).

        The evaluation seconds are those of f and grad f only; the caller excludes them from
        ``time_s`` unless the optimizer consumed the evaluation. Extras and monitors are excluded here.
        """
        perf_counter = time.perf_counter
        t0 = perf_counter()
        f, g = self._vg(x, None)
        f = float(f)
        gn = math.sqrt(np.dot(g, g))
        d = perf_counter() - t0
        diff = self._diff
        if diff is None:
            dist = math.nan
        else:
            np.subtract(x, self.x_star, out=diff)
            dist = math.sqrt(np.dot(diff, diff))
        o = self.oracle
        n = self.n
        self.rec.push(
            t, f, f - self.f_star, gn, dist, o.grad_evals, o.f_evals, o.hvp_evals, o.hess_evals,
            o.samples / n if n else o.grad_evals, t0 - self.start - self.excluded,
        )
        if self.extra_cols or self.monitors:
            t1 = perf_counter()
            r = self.rec.last_row()
            if self.extra_cols:
                r[12 : 12 + len(self.extra_cols)] = self.optimizer.extras(state) if state is not None else math.nan
            base = 12 + len(self.extra_cols)
            for i, fn in enumerate(self.monitors):
                r[base + i] = float(fn(x))
            self.excluded += perf_counter() - t1
        if self._keep:
            self.rec.keep(x)
        if self.region is not None:
            self.region.add(x, self.rec.n - 1)
        if t == 0:
            self.blowup = self.factor * max(1.0, abs(f)) if math.isfinite(f) else math.inf
        if not (math.isfinite(f) and math.isfinite(gn)) or abs(f) > self.blowup:
            return f, g, d, "diverged"
        if self.tol is not None and gn <= self.tol:
            return f, g, d, "converged"
        return f, g, d, None

    def steps(
        self,
        x: np.ndarray,
        state: Any,
        iters: int | None,
        max_grad_evals: int | None,
        max_time: float | None,
        record_every: int,
        base_lr: float | None,
        lr_iter: Any,
        batches: Any,
    ) -> tuple[np.ndarray, int, str, str, str | None]:
        oracle = self.oracle
        # bound once: this loop runs per iteration, and on a 2-D problem an iteration is ~5 us of numpy work
        step, record, offer, settle, set_lr = (
            self.optimizer.step, self.record, oracle.offer, oracle.settle, self.rec.set_last_lr
        )
        full_batch = batches is None
        t = 0
        self.start = time.perf_counter()
        while True:
            stop = None
            if iters is not None and t >= iters:
                stop = "max_iters"
            elif max_grad_evals is not None and oracle.grad_evals >= max_grad_evals:
                stop = "max_grad_evals"
            elif max_time is not None and time.perf_counter() - self.start - self.excluded >= max_time:
                stop = "time_limit"
            recorded = t % record_every == 0 or stop is not None
            if recorded:
                f, g, d, bad = record(t, x, state)
                if bad is not None:
                    return x, t, bad, _message(bad, t, f), None
                if stop is not None:
                    return x, t, stop, _message(stop, t, f), None
                if full_batch:
                    offer(x, f, g)
            if not full_batch:
                oracle.batch = next(batches)
            lr = next(lr_iter) if lr_iter is not None else base_lr
            try:
                x, state, lr_used = step(x, state, oracle, lr)
                self.state = state
            except Converged as exc:
                if not recorded:
                    record(t, x, state)
                return x, t, "converged", str(exc) or f"converged at iteration {t}", None
            except Exception as exc:  # a crashing optimizer is a recorded outcome
                if not recorded:
                    record(t, x, state)
                return x, t, "error", f"{type(exc).__name__}: {exc}", traceback.format_exc()
            if recorded:
                set_lr(math.nan if lr_used is None else lr_used)
                # the recording evaluation is optimizer time only if the optimizer used it
                if not (settle() and full_batch):
                    self.excluded += d
            t += 1

    def drive(
        self,
        x: np.ndarray,
        iters: int | None,
        max_grad_evals: int | None,
        max_time: float | None,
        record_every: int,
    ) -> tuple[np.ndarray, int, str, str, str | None]:
        oracle = self.oracle
        box: dict[str, Any] = {"t": 0, "status": None, "x": x, "f": math.nan}
        self.start = time.perf_counter()
        f0, _, d, bad = self.record(0, x, None)
        self.excluded += d
        if bad is not None:
            return x, 0, bad, _message(bad, 0, math.nan), None
        if iters == 0:
            return x, 0, "max_iters", _message("max_iters", 0, f0), None

        def callback(xk: np.ndarray) -> bool:
            box["t"] += 1
            t = box["t"]
            box["x"] = np.array(xk, dtype=np.float64, copy=True)
            stop = None
            if iters is not None and t >= iters:
                stop = "max_iters"
            elif max_grad_evals is not None and oracle.grad_evals >= max_grad_evals:
                stop = "max_grad_evals"
            elif max_time is not None and time.perf_counter() - self.start - self.excluded >= max_time:
                stop = "time_limit"
            if t % record_every == 0 or stop is not None:
                f, _, d, bad = self.record(t, box["x"], None)
                self.excluded += d
                box["f"] = f
                if bad is not None:
                    stop = bad
                box["recorded"] = t
            box["status"] = stop
            return stop is not None

        try:
            x_final, message = self.optimizer.drive(x.copy(), oracle, callback, iters)
        except Exception as exc:
            return box["x"], box["t"], "error", f"{type(exc).__name__}: {exc}", traceback.format_exc()
        status = box["status"]
        stopped_by_loop = status is not None  # budget, divergence or tol: our message, not the driver's
        if status is None:
            status = "converged"
            x_final = np.asarray(x_final, dtype=np.float64)
            if not np.array_equal(x_final, box["x"]):
                box["t"] += 1
                box["x"] = x_final.copy()
            if box.get("recorded") != box["t"]:
                box["f"], _, _, bad = self.record(box["t"], box["x"], None)
                if bad is not None:
                    status = bad
        t = box["t"]
        if stopped_by_loop or status != "converged":
            message = _message(status, t, box["f"])
        return box["x"], t, status, message, None


def _message(status: str, t: int, f: float) -> str:
    return {
        "max_iters": f"reached the iteration budget ({t})",
        "max_grad_evals": f"reached the gradient-evaluation budget after {t} iterations",
        "time_limit": f"reached the time budget after {t} iterations",
        "diverged": f"diverged at iteration {t} (f = {f:.3g})",
        "converged": f"gradient norm below tol at iteration {t}",
    }[status]
