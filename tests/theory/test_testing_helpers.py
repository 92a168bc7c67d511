"""testbed.testing: the helpers pass on runs that obey theory and explain the ones that do not."""

from __future__ import annotations

import dataclasses

import pytest
from theory_helpers import gd

import problems
import testbed
from problems.errors import UnknownNameError, UserInputError
from testbed.testing import assert_certified, assert_descent_lemma, assert_rate


@pytest.fixture(scope="module")
def setting():
    p = problems.make("least_squares", n=20, d=4, seed=3)
    return p, testbed.run(p, gd(), iters=40)


def test_helpers_pass_on_gradient_descent(setting):
    p, run = setting
    assert_descent_lemma(run, p.L)
    assert_rate(run, "gd_convex_rate", p)
    assert_rate(run, testbed.theory.get_bound("gd_strongly_convex_dist"), p)
    assert_rate(run, "gd_convex_tight")
    assert_certified(run, p)


def test_assert_rate_accepts_a_custom_bound_and_reports_it(setting):
    p, run = setting
    base = testbed.theory.get_bound("gd_convex_rate")
    too_strong = dataclasses.replace(
        base, name="my_claim", formula="L||x0-x*||^2/(100(t+1))",
        evaluate=lambda facts: dataclasses.replace(
            base.evaluate(facts), bound=facts.L * facts.R2 / (100 * (facts.it + 1))
        ),
    )
    with pytest.raises(AssertionError, match=r"my_claim: iteration 0: f\(x_t\) - f\* = .* > bound .* "
                       r"\(L\|\|x0-x\*\|\|\^2/\(100\(t\+1\)\), L = "):
        assert_rate(run, too_strong, p)


def test_assert_rate_refuses_an_inapplicable_bound_with_its_reason(setting):
    p, run = setting
    with pytest.raises(AssertionError, match="nesterov_convex cannot be checked on this run: the bound is for nes"):
        assert_rate(run, "nesterov_convex", p)
    with pytest.raises(UnknownNameError, match="did you mean"):
        assert_rate(run, "gd_convex_rat", p)


def test_assert_certified_lists_every_broken_bound(setting):
    p, run = setting
    broken = testbed.Run(**{**run.__dict__, "history": run.history.copy()})
    broken.history.loc[5:, "f"] += 1.0
    broken.history.loc[5:, "f_gap"] += 1.0
    with pytest.raises(AssertionError) as info:
        assert_certified(broken, p)
    text = str(info.value)
    assert text.startswith("descent_lemma: iteration 5: f(x_{t+1}) = ")
    assert "; gd_strongly_convex_ck: iteration " in text


def test_input_validation(setting):
    p, run = setting
    with pytest.raises(UserInputError, match="L: must be > 0"):
        assert_descent_lemma(run, -1.0)
    with pytest.raises(UserInputError, match=r"run: must be a testbed\.Run"):
        assert_descent_lemma("run", 1.0)
    short = testbed.run(p, gd(), iters=0)
    with pytest.raises(AssertionError, match="nothing to check"):
        assert_descent_lemma(short, p.L)
