"""``time_s`` semantics of the run loop, checked with a fake clock (no real timing).

The clock advances only when the problem is evaluated (1.0 per full-batch evaluation, 0.001 per
minibatch gradient) or a monitor runs (5.0), so every ``time_s`` value is known exactly: the
recording evaluation counts as optimizer time only when the optimizer consumes it (gradient
descent), never for minibatch runs; monitors never count.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest

import problems
import testbed

run_module = importlib.import_module("testbed.run")  # the module (``testbed.run`` is also the function)


class Clock:
    """A perf_counter that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clocked(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(run_module, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    p = problems.make("least_squares", n=40, d=5, seed=0)
    p.f_star  # noqa: B018 - the reference is computed before the clock matters
    vg = p._value_and_grad

    def value_and_grad(x, idx):
        clock.now += 1.0 if idx is None else 0.001
        return vg(x, idx)

    # the Oracle and the loop bind it per run; the problem's _value and _grad go through it
    p._value_and_grad = value_and_grad

    def monitor(x):
        clock.now += 5.0
        return 0.0

    return p, monitor


def test_gd_time_counts_the_consumed_recording_evaluation_but_not_monitors(clocked):
    p, monitor = clocked
    r = testbed.run(p, testbed.optimizers.make("gd"), iters=6, monitors={"m": monitor})
    # GD's one gradient per step is the recording evaluation it consumed: 1.0 per step; the monitor never counts
    np.testing.assert_allclose(r.history["time_s"], np.arange(7) * 1.0)


def test_minibatch_time_excludes_the_full_batch_recording(clocked):
    p, monitor = clocked
    r = testbed.run(p, testbed.optimizers.make("sgd", lr=0.01), iters=6, batch_size=8, monitors={"m": monitor})
    # only the minibatch gradients (0.001 each) are optimizer time; the full-batch recording is excluded
    np.testing.assert_allclose(r.history["time_s"], np.arange(7) * 0.001, rtol=1e-9)
    assert r.history["time_s"].iloc[-1] < 0.01  # including the recordings would give >= 6.0


def test_record_every_keeps_unrecorded_steps_as_optimizer_time(clocked):
    p, _ = clocked
    r = testbed.run(p, testbed.optimizers.make("gd"), iters=6, record_every=3)
    # unrecorded GD steps evaluate the gradient themselves (1.0 each); recorded ones consume the recording
    np.testing.assert_allclose(r.history["time_s"], [0.0, 3.0, 6.0])
    assert list(r.history["iter"]) == [0, 3, 6]
