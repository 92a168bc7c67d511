"""Every check must FAIL where theory says it should: wrong steps, a lying optimizer, momentum held to a GD bound,
a planted gradient error, an understated L. Each is caught by certify (held False, first_violation reported) and
by the assert_* helpers (AssertionError reading like a broken proof step)."""

from __future__ import annotations

import re

import pytest
from theory_helpers import LyingGD, diag_quadratic, gd

import problems
import testbed
from testbed.testing import assert_certified, assert_descent_lemma, assert_rate
from testbed.theory import certify

NUM = r"-?[0-9.e+-]+"


def _row(df, name):
    return df.set_index("bound").loc[name]


def test_gd_at_step_2_1_over_L():
    p = diag_quadratic([1.0, 0.1], x0=[1.0, 1.0])
    run = testbed.run(p, gd(lr="2.1/L"), iters=20)
    plain = certify(run, p, bounds=["descent_lemma", "gd_convex_rate"])
    assert not plain["applicable"].any()
    assert "step 2.1 (= 2.1/L) is not 1/L = 1" in _row(plain, "descent_lemma")["reason"]
    assert "outside (0, 2/L)" in certify(run, p, bounds=["descent_lemma_step"]).iloc[0]["reason"]
    df = certify(run, p, bounds=["descent_lemma", "gd_convex_rate"], assume_applicable=True)
    assert not df["held"].any()
    assert _row(df, "descent_lemma")["first_violation"] == 1 and _row(df, "gd_convex_rate")["first_violation"] > 0
    assert _row(df, "descent_lemma")["reason"].startswith("assumed by the caller")
    with pytest.raises(AssertionError, match=re.escape("descent_lemma: iteration 1: f(x_{t+1}) = ") + NUM
                       + re.escape(" > bound ") + NUM + re.escape(" (f(x_t) - ||grad f(x_t)||^2/(2L), L = 1)")):
        assert_descent_lemma(run, p.L)
    with pytest.raises(AssertionError, match=r"gd_convex_rate: iteration \d+: f\(x_t\) - f\* = "):
        assert_rate(run, "gd_convex_rate")
    with pytest.raises(AssertionError, match=r"cannot be checked on this run: step 2\.1"):
        assert_rate(run, "gd_convex_rate", p)


def test_gd_whose_step_is_silently_ten_percent_larger():
    # grad f(x0) lies along the eigenvector of eigenvalue L: a step 1.1/L undershoots the guaranteed decrease.
    p = diag_quadratic([4.0, 1.0], x0=[1.0, 0.0])
    run = testbed.run(p, LyingGD(factor=1.1), iters=10)
    assert run.optimizer == "gd" and run.history["lr"].iloc[0] == pytest.approx(0.25)
    df = certify(run, p)
    row = _row(df, "descent_lemma")
    assert row["applicable"] and not row["held"] and row["first_violation"] == 1
    honest = certify(testbed.run(p, gd(), iters=10), p)
    assert honest.loc[honest["applicable"], "held"].all()
    with pytest.raises(AssertionError, match=r"descent_lemma: iteration 1: f\(x_\{t\+1\}\) = 0\.0\d+ > bound 0 "):
        assert_descent_lemma(run, p.L)
    with pytest.raises(AssertionError, match=r"^descent_lemma: iteration 1"):
        assert_certified(run, p)


def test_heavy_ball_held_to_the_gd_bound_breaks_it():
    p = problems.make("quadratic", dim=2, kappa=2.0, basis="diagonal", seed=0)
    run = testbed.run(p, testbed.optimizers.make("heavy_ball", lr="1/L", momentum=0.9), iters=30)
    plain = certify(run, p, bounds=["gd_convex_tight"])
    assert plain.iloc[0]["reason"] == "the bound is for gradient descent (gd), and this run used heavy_ball"
    df = certify(run, p, bounds=["gd_convex_tight", "descent_lemma"], assume_applicable=True)
    assert _row(df, "gd_convex_tight")["first_violation"] == 3 and not _row(df, "gd_convex_tight")["held"]
    assert _row(df, "descent_lemma")["first_violation"] == 2
    with pytest.raises(AssertionError, match=r"gd_convex_tight: iteration 3: f\(x_t\) - f\* = " + NUM
                       + re.escape(" > bound ") + NUM + re.escape(" (L||x0-x*||^2/(4t+2), L = 1)")):
        assert_rate(run, "gd_convex_tight")
    with pytest.raises(AssertionError, match="descent_lemma: iteration 2"):
        assert_descent_lemma(run, p.L)
    # the same check passes for gradient descent on the same quadratic
    assert_rate(testbed.run(p, gd(), iters=30), "gd_convex_tight", p)


def test_planted_gradient_error_is_detected():
    p = diag_quadratic([1.0, 0.5], x0=[1.0, 1.0], bias=0.3, name="planted")
    run = testbed.run(p, gd(), iters=200)
    df = certify(run, p)
    violated = df[df["applicable"] & ~df["held"].fillna(True).astype(bool)]
    assert {"gd_convex_rate", "gd_strongly_convex_dist", "gd_strongly_convex_ck"} <= set(violated["bound"])
    assert (violated["first_violation"] > 0).all()
    with pytest.raises(AssertionError, match=r"gd_convex_rate: iteration \d+: f\(x_t\) - f\* = "):
        assert_rate(run, "gd_convex_rate", p)
    with pytest.raises(AssertionError, match="gd_strongly_convex_dist: iteration"):
        assert_certified(run, p)


def test_stated_L_half_the_true_one_is_detected():
    p = diag_quadratic([2.0, 0.5], x0=[1.0, 1.0], L=1.0, name="half_L")
    run = testbed.run(p, gd(), iters=20)
    df = certify(run, p)
    row = _row(df, "descent_lemma")
    assert row["applicable"] and not row["held"] and row["first_violation"] == 1
    with pytest.raises(AssertionError, match=r"descent_lemma: iteration 1: .* \(f\(x_t\) - .*, L = 1\)"):
        assert_descent_lemma(run, p.L)
    with pytest.raises(AssertionError, match="descent_lemma: iteration 1"):
        assert_certified(run, p)
    honest = diag_quadratic([2.0, 0.5], x0=[1.0, 1.0])
    assert_certified(testbed.run(honest, gd(), iters=20), honest)  # with the true L every bound holds
