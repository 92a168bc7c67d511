"""certify(): the certificate table, applicability with reasons, round-off reporting, every method family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from theory_helpers import gd

import problems
import testbed
from problems.errors import UserInputError
from testbed.theory import CERTIFICATE_COLUMNS, certify

make = testbed.optimizers.make


def _row(df: pd.DataFrame, name: str) -> pd.Series:
    return df.set_index("bound").loc[name]


@pytest.fixture(scope="module")
def quad():
    return problems.make("quadratic", dim=6, kappa=20.0, seed=3)


@pytest.fixture(scope="module")
def gd_run(quad):
    return testbed.run(quad, gd(), iters=60)


def test_certificate_has_exactly_the_contract_columns_and_types(quad, gd_run):
    df = certify(gd_run, quad)
    assert tuple(df.columns) == CERTIFICATE_COLUMNS
    assert str(df["held"].dtype) == "boolean"
    assert df["applicable"].dtype == bool and df["roundoff"].dtype == bool
    for col in ("n_checked", "worst_iter", "first_violation"):
        assert df[col].dtype == np.int64
    na = df[~df["applicable"]]
    assert na["held"].isna().all() and (na["reason"].str.len() > 0).all()
    assert (df.loc[df["applicable"], "reason"] == "").all()
    curves = df.attrs["curves"]
    assert list(curves.columns) == ["bound", "iter", "bound_value", "observed"]
    assert set(curves["bound"]) == set(df.loc[df["applicable"], "bound"])


def test_gd_on_a_strongly_convex_quadratic_holds_every_gd_bound(quad, gd_run):
    df = certify(gd_run, quad)
    gd_bounds = [
        "descent_lemma", "descent_lemma_step", "gd_convex_rate", "gd_convex_tight", "gd_convex_tight_step",
        "gd_strongly_convex_dist", "gd_strongly_convex_f", "gd_strongly_convex_ck", "gd_nonconvex_grad",
    ]
    for name in gd_bounds:
        row = _row(df, name)
        assert row["applicable"], (name, row["reason"])
        assert bool(row["held"]) and row["first_violation"] == -1 and row["n_checked"] > 0, name
        assert row["worst_slack"] >= -1e-12
    assert _row(df, "descent_lemma")["n_checked"] == 60
    assert "this run used gd" in _row(df, "nesterov_convex")["reason"]


def test_bounds_argument_accepts_names_and_bound_objects(quad, gd_run):
    b = testbed.theory.get_bound("gd_convex_rate")
    df = certify(gd_run, quad, bounds=["descent_lemma", b])
    assert list(df["bound"]) == ["descent_lemma", "gd_convex_rate"]
    assert list(certify(gd_run, quad, bounds="descent_lemma")["bound"]) == ["descent_lemma"]
    with pytest.raises(UserInputError, match="bound names or Bound objects"):
        certify(gd_run, quad, bounds=[3])
    with pytest.raises(UserInputError, match="problem"):
        certify(gd_run, "quadratic")


def test_inapplicable_bounds_say_why():
    rosen = problems.make("rosenbrock")
    df = certify(testbed.run(rosen, gd(lr=1e-4), iters=5), rosen)
    assert _row(df, "gd_convex_rate")["reason"] == "rosenbrock is not convex"
    # the run loop's in_region column shows the iterates stayed in the box where L holds: the step is the reason
    assert "is not 1/L" in _row(df, "descent_lemma")["reason"]

    quad = problems.make("quadratic", dim=3, kappa=4.0, L=4.0, seed=0)
    df = certify(testbed.run(quad, gd(lr=0.01), iters=5), quad)
    assert "step 0.01" in _row(df, "descent_lemma")["reason"] and "is not 1/L = 0.25" in _row(df, "descent_lemma")[
        "reason"]
    assert _row(df, "descent_lemma_step")["applicable"]

    no_fstar = problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.ones(2), L=2.0, mu=2.0)
    df = certify(testbed.run(no_fstar, gd(), iters=5), no_fstar)
    assert _row(df, "gd_convex_rate")["reason"] == "f* of custom is unknown"
    assert _row(df, "descent_lemma")["applicable"] and bool(_row(df, "descent_lemma")["held"])


def test_nonconvex_in_region_descent_lemma_applies_with_kept_iterates():
    rosen = problems.make("rosenbrock")
    run = testbed.run(rosen, gd(), iters=200, keep_iterates=True)
    df = certify(run, rosen)
    for name in ("descent_lemma", "gd_nonconvex_grad"):
        row = _row(df, name)
        assert row["applicable"] and bool(row["held"]), (name, row["reason"])
    assert not _row(df, "gd_convex_rate")["applicable"]


def test_unknown_f_star_nonconvex_grad_uses_f_t():
    p = problems.custom(value=lambda x: float(np.sum(np.cos(x))), grad=lambda x: -np.sin(x), x0=np.array([0.3, -1.0]),
                        L=1.0, convex=False)
    df = certify(testbed.run(p, gd(), iters=30), p)
    row = _row(df, "gd_nonconvex_grad")
    assert row["applicable"] and bool(row["held"]) and row["n_checked"] == 30


def test_roundoff_excess_is_reported_and_not_a_violation(quad, gd_run):
    run = testbed.Run(**{**gd_run.__dict__, "history": gd_run.history.copy()})
    h = run.history
    t = 10
    f_prev, g_prev = h.loc[t - 1, "f"], h.loc[t - 1, "grad_norm"]
    bound = f_prev - g_prev**2 / (2 * quad.L)
    h.loc[t, "f"] = bound + 1e-13 * max(1.0, abs(bound))
    df = certify(run, quad, bounds=["descent_lemma"])
    row = df.iloc[0]
    assert bool(row["held"]) and row["roundoff"] and row["worst_slack"] < 0 and row["first_violation"] == -1
    h.loc[t, "f"] = bound + 1e-9 * max(1.0, abs(bound))
    row = certify(run, quad, bounds=["descent_lemma"]).iloc[0]
    assert not bool(row["held"]) and row["first_violation"] == t and not row["roundoff"]


def test_record_every_keeps_rate_bounds_and_drops_unobservable_ones(quad):
    run = testbed.run(quad, gd(), iters=40, record_every=4)
    df = certify(run, quad)
    assert bool(_row(df, "gd_convex_rate")["held"]) and _row(df, "gd_convex_rate")["n_checked"] == 11
    assert "record_every" in _row(df, "gd_nonconvex_grad")["reason"]
    assert not _row(df, "descent_lemma")["applicable"]


def test_nesterov_variants(quad):
    df = certify(testbed.run(quad, make("nesterov"), iters=80), quad)
    assert bool(_row(df, "nesterov_convex")["held"])
    assert "variant='strongly_convex'" in _row(df, "nesterov_strongly_convex")["reason"]
    df = certify(testbed.run(quad, make("nesterov", variant="strongly_convex"), iters=80), quad)
    assert bool(_row(df, "nesterov_strongly_convex")["held"])
    df = certify(testbed.run(quad, make("nesterov", variant="strongly_convex", momentum=0.5), iters=10), quad)
    assert "momentum 0.5 is not" in _row(df, "nesterov_strongly_convex")["reason"]


def test_polyak_line_search_and_projected_bounds():
    ls = problems.make("least_squares", n=30, d=5, seed=2)
    df = certify(testbed.run(ls, make("polyak"), iters=50), ls)
    for name in ("polyak_distance", "polyak_smooth_rate"):
        assert bool(_row(df, name)["held"]), name
    df = certify(testbed.run(ls, make("polyak", gamma=1.5), iters=50), ls)
    assert bool(_row(df, "polyak_distance")["held"])
    df = certify(testbed.run(ls, make("gd_backtracking"), iters=50), ls)
    assert bool(_row(df, "line_search_linear_rate")["held"])
    assert "outside (0, 2/L)" in _row(df, "descent_lemma_step")["reason"]  # t0 = 1 > 2/L here
    df = certify(testbed.run(ls, make("gd_backtracking", t0="1/L"), iters=50), ls)
    assert bool(_row(df, "line_search_linear_rate")["held"]) and bool(_row(df, "descent_lemma_step")["held"])
    nnls = problems.make("nnls", n=20, d=6, seed=1)
    df = certify(testbed.run(nnls, make("projected_gd"), iters=50), nnls)
    assert bool(_row(df, "projected_gd_rate")["held"])
    df = certify(testbed.run(nnls, gd(), iters=5), nnls)
    assert "nnls is constrained" in _row(df, "gd_convex_rate")["reason"]


def test_newton_phases_with_a_known_hessian_lipschitz_constant():
    # f(x) = mu/2 ||x||^2 + sum log(1 + exp(x_i - c_i)): Hess = mu I + diag(s(1-s)), m = mu, M = mu + 1/4,
    # L_H = max |s(1-s)(1-2s)| = 1/(6 sqrt 3).
    mu, c = 0.5, np.array([3.0, -2.0, 1.0])

    def value(x):
        return 0.5 * mu * float(x @ x) + float(np.sum(np.logaddexp(0.0, x - c)))

    def grad(x):
        return mu * x + 1.0 / (1.0 + np.exp(-(x - c)))

    def hess(x):
        s = 1.0 / (1.0 + np.exp(-(x - c)))
        return np.diag(mu + s * (1 - s))

    x_star = np.zeros(3)
    for _ in range(100):
        x_star = x_star - np.linalg.solve(hess(x_star), grad(x_star))
    p = problems.custom(value=value, grad=grad, hess=hess, x0=np.array([30.0, -25.0, 12.0]), L=mu + 0.25, mu=mu,
                        f_star=value(x_star), x_star=x_star, convex=True, name="softplus_ridge")
    run = testbed.run(p, make("newton", eps=1e-20), iters=30)
    df = certify(run, p)
    assert "hess_lipschitz" in _row(df, "newton_damped_phase")["reason"]
    p.hess_lipschitz = 1.0 / (6.0 * np.sqrt(3.0))
    df = certify(run, p)
    for name in ("newton_damped_phase", "newton_quadratic_phase"):
        row = _row(df, name)
        assert row["applicable"] and bool(row["held"]) and row["n_checked"] > 0, (name, row["reason"])


def test_assume_applicable_evaluates_and_explains(quad):
    run = testbed.run(quad, gd(lr="0.5/L"), iters=20)
    df = certify(run, quad, bounds=["gd_convex_tight"], assume_applicable=True)
    row = df.iloc[0]
    assert row["applicable"] and row["reason"].startswith("assumed by the caller; would not apply: step")
    df = certify(run, quad, bounds=["gd_convex_tight", "descent_lemma"], assume_applicable=["descent_lemma"])
    assert list(df["applicable"]) == [False, True]


def test_all_and_none_mean_every_bound(quad, gd_run):
    every = list(testbed.theory.bounds()["name"])
    assert list(certify(gd_run, quad, bounds="all")["bound"]) == every
    assert list(certify(gd_run, quad, bounds=None)["bound"]) == every
    with pytest.raises(UserInputError, match="unknown bound 'al'"):
        certify(gd_run, quad, bounds="al")


def test_a_run_made_on_another_problem_is_refused(quad, gd_run):
    rosen = problems.make("rosenbrock", dim=6)
    rosen_run = testbed.run(rosen, gd(lr=1e-4), iters=5)
    with pytest.raises(UserInputError, match="made on problem 'rosenbrock', not on 'quadratic'"):
        certify(rosen_run, quad)
    # the same family with other parameters: refused, naming the parameter that differs
    other = problems.make("quadratic", dim=6, kappa=20.0, seed=4)
    with pytest.raises(UserInputError, match="seed: run 3 vs problem 4"):
        certify(gd_run, other)
    with pytest.raises(UserInputError, match="other parameters"):
        testbed.theory.certify_expectation([gd_run] * 3, other)
    # a wrong-dimension start point is refused even when name and parameters agree
    bad = testbed.Run(**{**gd_run.__dict__, "x0": np.zeros(quad.dim + 1)})
    with pytest.raises(UserInputError, match="dimension 6"):
        certify(bad, quad)
    # parameters compared in a JSON-normal form: tuples, lists, arrays and numpy scalars of equal value agree
    normalised = {k: (np.int64(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                  for k, v in quad.params.items()}
    same = testbed.Run(**{**gd_run.__dict__, "problem_params": normalised})
    assert certify(same, quad, bounds="descent_lemma")["applicable"].all()


def test_json_normal_form_of_parameters():
    from testbed.theory.certify import _dumps

    assert _dumps({"a": (1, 2.0), "b": np.array([0.5, 1.0])}) == _dumps({"b": [0.5, 1], "a": [np.int32(1), 2]})
    assert _dumps({"a": (1, 2)}) != _dumps({"a": (1, 3)})
    assert _dumps({"x": float("nan")}) == _dumps({"x": float("nan")})
    assert _dumps({"flag": True}) != _dumps({"flag": 1})


def test_tanh_mlp_gd_at_one_over_L_holds_the_nonconvex_bounds_inside_its_region():
    p = problems.make("mlp", data="blobs", n=40, hidden=3, seed=1)
    run = testbed.run(p, gd(), iters=60, keep_iterates=True)
    df = certify(run, p)
    for name in ("descent_lemma", "gd_nonconvex_grad"):
        row = _row(df, name)
        assert row["applicable"] and bool(row["held"]), (name, row["reason"])
    # a run outside {||W^y||_2 <= L_radius}, where L is not valid, loses the bounds, with the reason
    start = p.x0
    p.unflatten(start)[2][:] *= 3.0
    assert not p.in_region(start)
    far = testbed.run(p, gd(), iters=5, keep_iterates=True, x0=start)
    row = _row(certify(far, p), "descent_lemma")
    assert not row["applicable"] and "iterate 0 leaves 'the set ||W^y||_2 <=" in row["reason"]


def test_region_valid_L_is_checked_from_the_in_region_column_without_kept_iterates():
    """Rosenbrock's L holds on a box only; the recorded in_region column decides, no keep_iterates needed."""
    rosen = problems.make("rosenbrock")
    run = testbed.run(rosen, gd(), iters=200)
    assert run.iterates is None and set(run.history["in_region"]) == {1.0}
    df = certify(run, rosen)
    assert _row(df, "descent_lemma")["applicable"] and bool(_row(df, "descent_lemma")["held"])

    far = testbed.run(rosen, gd(), iters=3, x0=np.array([50.0, 50.0]))  # starts outside the box
    assert far.history["in_region"].iloc[0] == 0.0
    reason = _row(certify(far, rosen), "descent_lemma")["reason"]
    assert reason.startswith("iterate 0 leaves")
