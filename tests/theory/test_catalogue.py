"""The bound catalogue: contract columns, sources, registry behaviour and the closed forms it uses."""

from __future__ import annotations

import numpy as np
import pytest

from problems.errors import UnknownNameError, UserInputError
from testbed import theory
from testbed.theory.catalogue import Evaluation
from testbed.theory.gd_bounds import contraction_factor, gd_tight_value

CONTRACT = ["name", "statement", "source", "assumptions", "applies_to"]
REQUIRED = {
    "descent_lemma", "descent_lemma_step", "gd_convex_rate", "gd_convex_tight", "gd_convex_tight_step",
    "gd_strongly_convex_dist", "gd_strongly_convex_f", "gd_strongly_convex_ck", "gd_nonconvex_grad",
    "nesterov_convex", "nesterov_strongly_convex", "polyak_distance", "polyak_smooth_rate", "newton_damped_phase",
    "newton_quadratic_phase", "sgd_convex_expectation", "projected_gd_rate", "line_search_linear_rate",
}


def test_bounds_dataframe_has_the_contract_columns_and_every_required_bound():
    df = theory.bounds()
    assert list(df.columns[: len(CONTRACT)]) == CONTRACT
    assert REQUIRED <= set(df["name"])
    assert df["name"].is_unique
    for col in CONTRACT:
        assert (df[col].str.len() > 1).all(), col


def test_every_bound_cites_a_paper_or_book_with_a_locator():
    df = theory.bounds()
    for name, source in zip(df["name"], df["source"], strict=True):
        assert any(ch.isdigit() for ch in source), f"{name}: source without year/theorem: {source}"


def test_get_bound_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'descent_lemma'"):
        theory.get_bound("descent_lema")


def test_register_bound_refuses_a_taken_name_and_non_bounds():
    b = theory.get_bound("descent_lemma")
    with pytest.raises(UserInputError, match="already registered"):
        theory.register_bound(b)
    with pytest.raises(UserInputError, match=r"must be a testbed\.theory\.Bound"):
        theory.register_bound("descent_lemma")


def test_gd_tight_value_closed_forms():
    t = np.arange(0, 12)
    np.testing.assert_allclose(gd_tight_value(t, 1.0, L=2.0, R2=3.0), 2.0 * 3.0 / (4 * t + 2), rtol=1e-15)
    # h in (1, 2): the (1 - h)^{2t} branch wins for h close to 2
    assert gd_tight_value(1, 1.9) == pytest.approx(0.5 * 0.9**2)
    assert gd_tight_value(5, 1.5) == pytest.approx(0.5 / (2 * 5 * 1.5 + 1))


def test_contraction_factor():
    assert contraction_factor(1.0, 1.0, 0.1) == pytest.approx(0.9)
    assert contraction_factor(2.0 / 1.1, 1.0, 0.1) == pytest.approx(0.9 / 1.1)
    assert contraction_factor(1.9, 1.0, 0.5) == pytest.approx(0.9)


def test_evaluation_tolerance_and_slack_rules():
    ev = Evaluation(
        iters=np.array([1, 2, 3]),
        bound=np.array([1.0, 1.0, 1.0]),
        observed=np.array([0.5, 1.0 + 5e-13, np.inf]),
        scale=np.array([0.1, 2.0, np.nan]),
    )
    np.testing.assert_allclose(ev.tol, [1e-12, 2e-12, 1e-12])
    assert ev.slack[0] == pytest.approx(0.5)
    assert -ev.tol[1] < ev.slack[1] < 0
    assert ev.slack[2] == -np.inf
    with pytest.raises(ValueError, match="length"):
        Evaluation(np.array([1]), np.array([1.0, 2.0]), np.array([1.0]), np.array([1.0]))
