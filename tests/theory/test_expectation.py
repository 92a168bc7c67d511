"""SGD in expectation: the mean over seeds against the bound, with the documented one-sided t rule."""

from __future__ import annotations

import numpy as np
import pytest
from theory_helpers import with_planted_gradient

import problems
import testbed
from testbed.theory import certify, certify_expectation, sgd_bound
from testbed.theory.expectation import sgd_constants


def _runs(p, lr, seeds=range(6), iters=150, sampling="independent", schedule=None, batch_size=2):
    opt = testbed.optimizers.make("sgd", lr=lr, schedule=schedule)
    return [testbed.run(p, opt, iters=iters, seed=s, batch_size=batch_size, sampling=sampling) for s in seeds]


@pytest.fixture(scope="module")
def lsq():
    return problems.make("least_squares", n=20, d=3, scale="mean", seed=1)


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
    plain.L_max = None  # as a finite-sum family that states no single-sample smoothness
    runs = _runs(plain, 0.01, seeds=range(3), iters=10)
    assert "states no L_max" in certify_expectation(runs, plain).iloc[0]["reason"]
    mlp = problems.make("mlp", data="blobs", n=24, hidden=3)
    assert mlp.L_max is None
    runs = _runs(mlp, 0.01, seeds=range(3), iters=5)
    assert "not convex" in certify_expectation(runs, mlp).iloc[0]["reason"]
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


@pytest.mark.parametrize(
    ("family", "params", "batch_size"),
    [
        ("least_squares", {"n": 24, "d": 4, "scale": "sum", "seed": 3}, 3),
        ("least_squares", {"n": 30, "d": 3, "scale": "mean", "lam": 0.1, "seed": 4}, 1),
        ("logistic", {"n": 40, "d": 3, "lam": 0.05, "seed": 2}, 4),
    ],
)
def test_registry_finite_sums_state_L_max_and_sgd_holds_in_expectation(family, params, batch_size):
    """The shipped families state L_max, so the expectation bound applies to them as they come from the registry."""
    p = problems.make(family, **params)
    assert p.L_max is not None and p.L <= p.L_max * (1 + 1e-12)
    L_b = sgd_constants(p, batch_size)[0]
    runs = _runs(p, 0.9 / (2.0 * L_b), seeds=range(5), iters=120, schedule=testbed.schedules.make("inv_sqrt"),
                 batch_size=batch_size)
    df = certify_expectation(runs, p)
    row = df.iloc[0]
    assert row["applicable"], row["reason"]
    assert bool(row["held"]) and row["first_violation"] == -1 and row["n_checked"] == 120
    steps = runs[0].history["lr"].to_numpy()[:-1]
    assert steps[-1] < steps[0]  # decreasing steps
