"""The run loop (testbed.run): budgets and statuses, recording, oracle accounting, reproducibility, plug-ins."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import problems
import testbed
from problems.base import Problem
from problems.errors import UserInputError
from testbed.optimizers import REGISTRY, Converged
from testbed.optimizers import lecture as _lecture  # noqa: F401  (registers gd, heavy_ball)


def make(name, **hparams):
    """``testbed.optimizers.make`` without loading every other built-in module (the registry checks the keywords)."""
    return REGISTRY.make(name, **hparams)


def halving():
    """f = x^2/2 on R^1 with GD at lr = 1/2: x_t = 2^-t exactly, ||grad f(x_t)|| = 2^-t."""
    return problems.custom(
        value=lambda x: 0.5 * float(x @ x), grad=lambda x: x.copy(), x0=np.array([1.0]), L=1.0, mu=1.0,
        f_star=0.0, x_star=np.zeros(1),
    )


class FiniteSumLS(Problem):
    """f(x) = (1/2n) ||Ax - y||^2 as a finite sum over the n rows (for minibatch runs)."""

    family = "test_least_squares"

    def __init__(self, n: int = 12, d: int = 3, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.A, self.y = rng.standard_normal((n, d)), rng.standard_normal(n)
        L = float(np.linalg.eigvalsh(self.A.T @ self.A / n)[-1])
        super().__init__(params={"n": n, "d": d, "seed": seed}, x0=np.zeros(d), L=L, mu=None, convex=True,
                         n_samples=n)

    def _value_and_grad(self, x, idx):
        A, y = (self.A, self.y) if idx is None else (self.A[idx], self.y[idx])
        r = A @ x - y
        return 0.5 * float(r @ r) / len(y), A.T @ r / len(y)


class TwoGradients:
    """A plug-in (no registration, no base class): a GD step that also asks for the gradient at the new point."""

    def init(self, x0, problem):
        return 0

    def step(self, x, state, oracle, lr):
        x = x - 0.5 * oracle.grad(x)
        oracle.grad(x)
        return x, state + 1, None


# ------------------------------------------------------------------ budgets and statuses
def test_max_iters_records_every_iterate_and_the_step_from_it():
    r = testbed.run(halving(), make("gd", lr=0.5), iters=5, keep_iterates=True)
    h = r.history
    assert r.status == "max_iters" and r.iterations == 5 and "iteration budget (5)" in r.message
    assert h["iter"].tolist() == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(h["f"].to_numpy(), 0.5 * 4.0 ** -np.arange(6))
    assert h["lr"].iloc[:-1].tolist() == [0.5] * 5 and math.isnan(h["lr"].iloc[-1])
    assert np.array_equal(h["grad_norm"].to_numpy(), 2.0 ** -np.arange(6))
    assert np.array_equal(h["dist_to_opt"].to_numpy(), 2.0 ** -np.arange(6))
    assert r.iterates.shape == (6, 1) and np.array_equal(r.iterates[:, 0], 2.0 ** -np.arange(6))
    assert np.array_equal(r.x_final, r.iterates[-1]) and np.array_equal(r.x0, [1.0])
    assert list(h.columns[:12]) == list(testbed.result.HISTORY_COLUMNS)


def test_zero_iterations_records_the_start_only():
    r = testbed.run(halving(), make("gd", lr=0.5), iters=0)
    assert r.status == "max_iters" and len(r.history) == 1 and r.history["grad_evals"].iloc[0] == 0


def test_max_grad_evals_stops_once_the_budget_is_reached():
    r = testbed.run(halving(), make("gd", lr=0.5), max_grad_evals=7)
    assert r.status == "max_grad_evals" and r.iterations == 7 and r.history["grad_evals"].iloc[-1] == 7
    # two gradients per step: 2, 4, 6 >= 5 -- the budget is checked before each step, so it can be overshot
    r = testbed.run(halving(), TwoGradients(), max_grad_evals=5)
    assert r.status == "max_grad_evals" and r.iterations == 3
    assert r.history["grad_evals"].tolist() == [0, 2, 4, 6]


def test_tol_stops_at_the_first_recorded_iterate_with_a_small_gradient():
    # ||grad f(x_t)|| = 2^-t <= 1e-3 first at t = 10
    r = testbed.run(halving(), make("gd", lr=0.5), iters=100, tol=1e-3)
    assert r.status == "converged" and r.iterations == 10 and "below tol" in r.message
    # with record_every = 4 the test runs at t = 0, 4, 8, 12: converged at 12
    r = testbed.run(halving(), make("gd", lr=0.5), iters=100, tol=1e-3, record_every=4)
    assert r.status == "converged" and r.iterations == 12 and r.history["iter"].tolist() == [0, 4, 8, 12]


def test_record_every_keeps_the_final_row_and_the_iterates_of_recorded_rows():
    r = testbed.run(halving(), make("gd", lr=0.5), iters=10, record_every=3, keep_iterates=True)
    h = r.history
    assert h["iter"].tolist() == [0, 3, 6, 9, 10]
    assert h["grad_evals"].tolist() == [0, 3, 6, 9, 10]  # the oracle counts, not the rows
    assert h["lr"].iloc[:-1].tolist() == [0.5] * 4 and math.isnan(h["lr"].iloc[-1])
    assert r.iterates.shape == (5, 1) and np.array_equal(r.iterates[:, 0], 2.0 ** -h["iter"].to_numpy())


def test_lr_column_is_the_step_used_from_each_iterate_under_a_schedule():
    sched = testbed.schedules.make("step", step_size=2, gamma=0.5)
    p = problems.custom(value=lambda x: 0.5 * float(x @ x), grad=lambda x: x.copy(), x0=np.array([1.0, -2.0]))
    r = testbed.run(p, make("gd", lr=0.8, schedule=sched), iters=6, keep_iterates=True)
    lrs = [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    assert r.history["lr"].iloc[:-1].tolist() == lrs
    X = r.iterates
    for t, lr in enumerate(lrs):  # x_{t+1} = x_t - lr_t grad f(x_t), with the lr of row t
        assert np.array_equal(X[t + 1], X[t] - lr * X[t])


def test_divergence_on_non_finite_values():
    class NaNAtTwo:
        def init(self, x0, problem):
            return 0

        def step(self, x, state, oracle, lr):
            return (2 * x if state == 0 else x * np.nan), state + 1, 1.0

    r = testbed.run(halving(), NaNAtTwo(), iters=10)
    assert r.status == "diverged" and r.diverged_at == 2 and r.iterations == 2  # f(x_1) = 2 is fine, f(x_2) is NaN
    assert r.history["f"].iloc[1] == 2.0 and math.isnan(r.history["f"].iloc[-1])

    class Overflow:
        def init(self, x0, problem):
            return None

        def step(self, x, state, oracle, lr):
            return x * 1e300, state, 1.0

    r = testbed.run(halving(), Overflow(), iters=10)
    assert r.status == "diverged" and r.diverged_at == 1 and math.isinf(r.history["f"].iloc[-1])


def test_converged_and_error_raised_by_the_optimizer_are_outcomes():
    class StopAt3:
        def init(self, x0, problem):
            return 0

        def step(self, x, state, oracle, lr):
            if state == 3:
                raise Converged("my rule holds")
            return x - 0.5 * oracle.grad(x), state + 1, 0.5

    class Crash:
        def init(self, x0, problem):
            return None

        def step(self, x, state, oracle, lr):
            return x, state, {}["missing"]

    r = testbed.run(halving(), StopAt3(), iters=10, record_every=2)
    assert r.status == "converged" and r.message == "my rule holds" and r.iterations == 3
    assert r.history["iter"].tolist() == [0, 2, 3]  # the stopping iterate is recorded even off the grid
    r = testbed.run(halving(), Crash(), iters=10)
    assert r.status == "error" and r.message.startswith("KeyError") and "Traceback" in r.traceback


# ------------------------------------------------------------------ plug-ins and validation
def test_a_user_defined_optimizer_runs_without_registration():
    class MyGD:
        lr = 0.5

        def init(self, x0, problem):
            return {"steps": 0}

        def step(self, x, state, oracle, lr):
            state["steps"] += 1
            return x - lr * oracle.grad(x), state, lr

    r = testbed.run(halving(), MyGD(), iters=4)
    assert r.status == "max_iters" and r.optimizer == "MyGD" and r.hparams == {} and r.base_lr == 0.5
    assert np.array_equal(r.history["f"].to_numpy(), 0.5 * 4.0 ** -np.arange(5))
    r = testbed.run(halving(), TwoGradients(), iters=2)
    assert r.optimizer == "TwoGradients" and r.base_lr is None and r.history["lr"].isna().all()


def test_bad_run_arguments_are_user_errors():
    p = halving()
    with pytest.raises(UserInputError, match="budget"):
        testbed.run(p, make("gd"))
    with pytest.raises(UserInputError, match="optimizer"):
        testbed.run(p, object(), iters=1)
    with pytest.raises(UserInputError, match="record_every"):
        testbed.run(p, make("gd"), iters=1, record_every=0)
    with pytest.raises(UserInputError, match="batch_size"):
        testbed.run(p, make("gd"), iters=1, batch_size=2)
    with pytest.raises(UserInputError, match="x0"):
        testbed.run(p, make("gd"), iters=1, x0=np.zeros(3))


def test_the_loop_does_not_modify_the_callers_start_point():
    x0 = np.array([4.0])
    r = testbed.run(halving(), make("gd", lr=0.5), iters=3, x0=x0)
    assert np.array_equal(x0, [4.0]) and np.array_equal(r.x0, [4.0]) and np.array_equal(r.x_final, [0.5])


# ------------------------------------------------------------------ oracle accounting and reproducibility
def test_the_recording_evaluation_is_reused_and_counted_once():
    # GD asks for grad f(x_t) exactly where the loop just evaluated: one counted gradient per step, recorded or not.
    for every in (1, 3):
        h = testbed.run(halving(), make("gd", lr=0.5), iters=9, record_every=every).history
        assert h["grad_evals"].tolist() == h["iter"].tolist()
        assert h["f_evals"].sum() == 0


def test_minibatch_runs_count_samples_as_epochs():
    p = FiniteSumLS(n=12)
    h = testbed.run(p, make("gd", lr=0.1), iters=6, batch_size=4).history
    np.testing.assert_allclose(h["epochs"].to_numpy(), np.arange(7) * 4 / 12)
    assert h["grad_evals"].tolist() == list(range(7))
    h_full = testbed.run(p, make("gd", lr=0.1), iters=3).history
    assert h_full["epochs"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_the_same_seed_gives_a_bit_identical_history():
    p = FiniteSumLS(n=12)

    def go(seed):
        r = testbed.run(p, make("heavy_ball", lr=0.05, momentum=0.9), iters=40, batch_size=5, seed=seed,
                        keep_iterates=True)
        return r.history.drop(columns="time_s"), r.iterates

    (h1, x1), (h2, x2), (h3, _) = go(3), go(3), go(4)
    pd.testing.assert_frame_equal(h1, h2, check_exact=True)
    assert np.array_equal(x1, x2)
    assert not h1["f"].equals(h3["f"])  # the seed matters: another seed draws other minibatches


def test_driver_optimizer_refuses_minibatches():
    """scipy drivers run full-batch loops; asking for minibatches must be refused, not silently ignored."""
    import pytest

    import problems
    import testbed

    p = problems.make("least_squares", n=40, d=5, seed=0)
    with pytest.raises(ValueError, match="batch_size: lbfgs runs its own full-batch loop"):
        testbed.run(p, testbed.optimizers.make("lbfgs"), iters=5, batch_size=8)


def test_in_place_change_of_x_before_the_first_request_gets_a_fresh_gradient():
    """The oracle must not hand back the recorded gradient of x_t once x_t was changed in place."""
    import numpy as np

    import problems
    import testbed

    p = problems.make("quadratic", dim=5, seed=0)
    seen = []

    class LookAhead:
        name = "look_ahead"

        def init(self, x0, problem):
            return None

        def step(self, x, state, oracle, lr):
            x += 1.0  # look ahead in place, then ask for the gradient there
            seen.append((x.copy(), oracle.grad(x).copy()))
            x -= 1.0
            return x, state, 0.0

    run = testbed.run(p, LookAhead(), iters=3)
    for x_ahead, g in seen:
        assert np.allclose(g, p.grad(x_ahead), rtol=1e-12, atol=1e-12)
    assert run.history["grad_evals"].iloc[-1] == 3  # still counted once per step


def test_a_driver_stopped_by_tol_says_so():
    """scipy's own message ('callback raised StopIteration') must not leak when the loop stopped the driver."""
    import problems
    import testbed

    p = problems.make("quadratic", dim=8, seed=0)
    run = testbed.run(p, testbed.optimizers.make("bfgs"), iters=200, tol=1e-3)
    assert run.status == "converged"
    assert "StopIteration" not in run.message and "tol" in run.message


def test_in_region_column_across_chunk_boundaries():
    """The region check is vectorised in chunks of CHUNK rows: every row must get its own verdict."""
    import numpy as np

    import problems
    import testbed
    from testbed.region import CHUNK

    rosen = problems.make("rosenbrock")
    run = testbed.run(rosen, testbed.optimizers.make("gd", lr="1/L"), iters=2 * CHUNK + 10, keep_iterates=True)
    expected = [1.0 if rosen.in_region(x) else 0.0 for x in run.iterates]
    assert run.history["in_region"].tolist() == expected and len(expected) == 2 * CHUNK + 11

    class Walk:  # leaves the box at a known iteration
        def init(self, x0, problem):
            return None

        def step(self, x, state, oracle, lr):
            oracle.grad(x)
            return x + np.array([0.5, 0.0]), state, 0.0

    far = testbed.run(rosen, Walk(), iters=CHUNK + 40, keep_iterates=True)
    flags = far.history["in_region"].to_numpy()
    truth = np.array([rosen.in_region(x) for x in far.iterates], dtype=float)
    assert np.array_equal(flags, truth) and 0 < flags.sum() < len(flags)
    quad = testbed.run(problems.make("quadratic", dim=3), testbed.optimizers.make("gd"), iters=2)
    assert "in_region" not in quad.history.columns  # L is global there: nothing to check
