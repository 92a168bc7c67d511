"""SGD in expectation: the mean over seeds against the bound, with the documented one-sided t rule."""

from __future__ import annotations

import numpy as np
import pytest
from theory_helpers import least_squares_with_L_max, with_planted_gradient

import problems
import testbed
from testbed.theory import certify, certify_expectation, sgd_bound
from testbed.theory.expectation import sgd_constants


def _runs(p, lr, seeds=range(6), iters=150, sampling="independent", schedule=None, batch_size=2):
    opt = testbed.optimizers.make("sgd", lr=lr, schedule=schedule)
    return [testbed.run(p, opt, iters=iters, seed=s, batch_size=batch_size, sampling=sampling) for s in seeds]


@pytest.fixture(scope="module")
def lsq():
    return least_squares_with_L_max(n=20, d=3, scale="mean", seed=1)


def test_sgd_with_decreasing_steps_holds_in_expectation(lsq):
    L_b, sigma2 = sgd_constants(lsq, 2)
    assert lsq.L <= L_b <= lsq.L_max and sigma2 > 0
    lr = 0.9 / (2.0 * L_b)
    runs = _runs(lsq, lr, schedule=testbed.schedules.make("inv_sqrt"))
    df = certify_expectation(runs, lsq)
    row = df.iloc[0]
    assert row["applicable"] and bool(row["held"]) and row["n_checked"] == 150, row["reason"]
    curves = df.attrs["curves"]
    assert list(curves.columns) == ["bound", "iter", "bound_value", "observed"]
    np.testing.assert_allclose(curves["bound_value"], sgd_bound(lsq, runs[0].history["lr"].to_numpy()[:-1], 2))
    assert (df.attrs["lower_confidence"] <= curves["observed"].to_numpy()).all()


def test_a_single_run_is_never_enough(lsq):
    runs = _runs(lsq, 0.01, seeds=[0])
    assert "at least 3 runs" in certify_expectation(runs, lsq).iloc[0]["reason"]
    row = certify(runs[0], lsq, bounds=["sgd_convex_expectation"]).iloc[0]
    assert not row["applicable"] and "certify_expectation" in row["reason"]


def test_inapplicable_runs_say_why(lsq):
    reshuffled = _runs(lsq, 0.01, seeds=range(3), iters=10, sampling="reshuffle")
    assert "reshuffling" in certify_expectation(reshuffled, lsq).iloc[0]["reason"]
    plain = problems.make("least_squares", n=20, d=3, scale="mean", seed=1)
    runs = _runs(plain, 0.01, seeds=range(3), iters=10)
    assert "states no L_max" in certify_expectation(runs, plain).iloc[0]["reason"]
    big = _runs(lsq, 1.0 / sgd_constants(lsq, 2)[0], seeds=range(3), iters=10)
    assert "exceeds 1/(2 L_b)" in certify_expectation(big, lsq).iloc[0]["reason"]
    same_seed = _runs(lsq, 0.01, seeds=[0, 0, 1], iters=10)
    assert "different seeds" in certify_expectation(same_seed, lsq).iloc[0]["reason"]


def test_a_planted_gradient_error_fails_the_expectation_check(lsq):
    planted = with_planted_gradient(lsq, np.array([0.5, -0.5, 0.5]))
    lr = 0.9 / (2.0 * sgd_constants(planted, 10)[0])
    runs = _runs(planted, lr, iters=300, batch_size=10)
    row = certify_expectation(runs, planted).iloc[0]
    assert row["applicable"] and not bool(row["held"]) and row["first_violation"] > 0
    assert row["worst_slack"] < 0
