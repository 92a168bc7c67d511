"""Step-size rules (testbed/optimizers/line_search.py): Armijo backtracking, exact line search, Polyak's step.

First steps and oracle counts are computed by hand on tiny quadratics built with ``problems.custom``.
"""

from __future__ import annotations

import numpy as np
import pytest

import problems
import testbed
from problems.errors import UserInputError
from testbed.optimizers import REGISTRY
from testbed.optimizers import lecture as _lecture  # noqa: F401  (registers the methods tested here)
from testbed.optimizers import line_search as _line_search  # noqa: F401


def make(name, **hparams):
    """``testbed.optimizers.make`` without loading every other built-in module (the registry checks the keywords)."""
    return REGISTRY.make(name, **hparams)


def quad(diag, x0, *, quadratic=True, f_star=0.0, with_hess=True):
    """f(x) = 1/2 x' diag(d) x (minimiser 0); ``is_quadratic`` set as a custom problem declares it."""
    d = np.asarray(diag, dtype=np.float64)
    p = problems.custom(
        value=lambda x: 0.5 * float(x @ (d * x)),
        grad=lambda x: d * x,
        hess=(lambda x: np.diag(d)) if with_hess else None,
        x0=np.asarray(x0, dtype=np.float64),
        L=float(np.abs(d).max()),
        mu=float(d.min()) if d.min() >= 0 else None,
        f_star=f_star,
        x_star=np.zeros(d.size) if f_star is not None else None,
    )
    if quadratic:
        p.is_quadratic = True
    return p


# ------------------------------------------------------------------ backtracking
def test_backtracking_by_hand_three_backtracks_per_step():
    # f = 5 x^2 (L = 10), t0 = 1, alpha = 1/4, beta = 1/2. Armijo on this f: f(x - h g) <= f(x) - h/4 (10x)^2
    # <=> (1 - 10h)^2 <= 1 - 5h <=> 10h <= 1.5: trials h = 1, 1/2, 1/4 fail, h = 1/8 passes (3 backtracks).
    # x_{t+1} = (1 - 10/8) x_t = -x_t/4.
    p = quad([10.0], [1.0])
    r = testbed.run(p, make("gd_backtracking", t0=1.0, alpha=0.25, beta=0.5), iters=4, keep_iterates=True)
    h = r.history
    assert np.array_equal(r.iterates[:, 0], (-0.25) ** np.arange(5))
    assert h["lr"].tolist()[:4] == [0.125] * 4  # the accepted step
    assert h["grad_evals"].tolist() == [0, 1, 2, 3, 4]
    # f(x_0) once, then 4 trial values per step (f(x_t) is the previous step's accepted trial)
    assert h["f_evals"].tolist() == [0, 5, 9, 13, 17]
    assert h["hvp_evals"].sum() == 0


def test_backtracking_from_one_over_L_never_backtracks_and_equals_gd():
    # On an L-smooth f, h = 1/L passes Armijo for alpha < 1/2: zero backtracks, one trial per step.
    p = problems.make("quadratic", dim=10, kappa=50.0, seed=0)
    r = testbed.run(p, make("gd_backtracking", t0="1/L"), iters=20, keep_iterates=True)
    g = testbed.run(p, make("gd"), iters=20, keep_iterates=True)
    assert np.array_equal(r.iterates, g.iterates)
    assert r.history["f_evals"].tolist() == [0, *range(2, 22)]
    assert np.all(r.history["lr"].iloc[:-1] == 1 / p.L)
    assert r.base_lr == 1 / p.L and r.hparams["t0"] == "1/L"


def test_backtracking_sufficient_decrease_holds_on_rosenbrock_and_fails_for_a_long_fixed_step():
    p = problems.make("rosenbrock")
    alpha = 0.3
    h = testbed.run(p, make("gd_backtracking", alpha=alpha, beta=0.7), iters=300).history
    f, g, lr = h["f"].to_numpy(), h["grad_norm"].to_numpy(), h["lr"].to_numpy()
    assert np.all(f[1:] <= f[:-1] - alpha * lr[:-1] * g[:-1] ** 2)  # the Armijo test, on the recorded columns
    assert np.all(lr[:-1] > 0) and f[-1] < f[0]
    # A fixed step 1.9/L on a quadratic is beyond Armijo's 2(1 - alpha)/L for the top eigen-direction.
    q = problems.make("quadratic", dim=10, kappa=10.0, seed=0)
    hq = testbed.run(q, make("gd", lr="1.9/L"), iters=50).history
    fq, gq = hq["f"].to_numpy(), hq["grad_norm"].to_numpy()
    assert np.any(fq[1:] > fq[:-1] - alpha * (1.9 / q.L) * gq[:-1] ** 2)


def test_backtracking_gives_up_with_a_clear_error_when_the_gradient_is_wrong():
    # grad = -(true gradient): f increases along -grad for every h, so no trial ever passes.
    p = problems.custom(value=lambda x: float(x @ x), grad=lambda x: -2 * x, x0=np.array([1.0, 2.0]))
    r = testbed.run(p, make("gd_backtracking", max_backtracks=5), iters=10)
    assert r.status == "error" and r.iterations == 0
    assert "StepSizeError" in r.message and "max_backtracks=5" in r.message
    assert np.array_equal(r.x_final, [1.0, 2.0])


def test_backtracking_treats_points_outside_the_domain_as_failures():
    # f = x - log(x) on x > 0 (nan outside), x0 = 4, g = 1 - 1/4 = 0.75, t0 = 8: the trial 4 - 6 = -2 is outside
    # (nan fails the test), h = 4 gives x = 1 with f = 1 <= f(4) - 0.25 * 4 * 0.75^2 = 2.05: accepted.
    def f(x):
        return float(x[0] - np.log(x[0])) if x[0] > 0 else float("nan")

    p = problems.custom(value=f, grad=lambda x: np.array([1 - 1 / x[0]]), x0=np.array([4.0]))
    r = testbed.run(p, make("gd_backtracking", t0=8.0), iters=1, keep_iterates=True)
    assert r.history["lr"].iloc[0] == 4.0 and r.iterates[1, 0] == 1.0
    assert r.history["f_evals"].iloc[1] == 3  # f(x0) + trials at h = 8 (nan) and h = 4


# ------------------------------------------------------------------ exact line search
def test_exact_line_search_by_hand_attains_kantorovich():
    # Q = diag(1, 3), x0 = (3, 1): g = (3, 3), h = g'g/g'Qg = 18/36 = 1/2, x1 = (1.5, -0.5) = (3, -1)/2,
    # x2 = (3, 1)/4: f shrinks by ((kappa - 1)/(kappa + 1))^2 = 1/4 per step exactly.
    p = quad([1.0, 3.0], [3.0, 1.0])
    r = testbed.run(p, make("exact_line_search"), iters=6, keep_iterates=True)
    h = r.history
    assert np.array_equal(r.iterates[:3], [[3.0, 1.0], [1.5, -0.5], [0.75, 0.25]])
    assert h["lr"].tolist()[:6] == [0.5] * 6
    f = h["f"].to_numpy()
    assert np.array_equal(f, f[0] * 0.25 ** np.arange(7))
    # the bound f_t - f* <= (1 - mu/L)^t (f_0 - f*) (B&V (9.18)) holds; the tight factor 1/4 cannot be improved
    assert np.all(f <= (1 - 1 / 3) ** np.arange(7) * f[0])
    assert np.any(f[1:] > 0.99 * 0.25 ** np.arange(1, 7) * f[0])
    assert h["grad_evals"].tolist() == list(range(7)) and h["hvp_evals"].tolist() == list(range(7))
    assert h["f_evals"].sum() == 0


def test_exact_line_search_refuses_problems_not_declared_quadratic():
    with pytest.raises(UserInputError, match="is_quadratic"):
        testbed.run(problems.make("rosenbrock"), make("exact_line_search"), iters=1)
    with pytest.raises(UserInputError, match="is_quadratic"):
        testbed.run(quad([1.0, 2.0], [1.0, 1.0], quadratic=False), make("exact_line_search"), iters=1)
    with pytest.raises(UserInputError, match="Hessian-vector product"):
        testbed.run(quad([1.0, 2.0], [1.0, 1.0], with_hess=False), make("exact_line_search"), iters=1)


def test_exact_line_search_stops_at_a_minimiser_and_errors_on_negative_curvature():
    r = testbed.run(quad([1.0, 2.0], [0.0, 0.0]), make("exact_line_search"), iters=5)
    assert r.status == "converged" and r.iterations == 0 and "grad f(x) = 0" in r.message
    indefinite = quad([1.0, -1.0], [0.0, 1.0], f_star=None)  # g = (0, -1), g'Qg = -1
    r = testbed.run(indefinite, make("exact_line_search"), iters=5)
    assert r.status == "error" and "unbounded below" in r.message


# ------------------------------------------------------------------ polyak
def test_polyak_first_steps_by_hand():
    # Q = diag(1, 4), x0 = (1, 1), f* = 0: f0 = 5/2, g0 = (1, 4), h0 = (5/2)/17, x1 = (1 - h0, 1 - 4 h0)
    p = quad([1.0, 4.0], [1.0, 1.0])
    r = testbed.run(p, make("polyak"), iters=3, keep_iterates=True)
    d = np.array([1.0, 4.0])
    xs, hs = [np.array([1.0, 1.0])], []
    for _ in range(3):
        x = xs[-1]
        g = d * x
        hs.append(0.5 * float(x @ (d * x)) / float(g @ g))
        xs.append(x - hs[-1] * g)
    assert hs[0] == pytest.approx(2.5 / 17, rel=1e-15)
    np.testing.assert_allclose(r.iterates, xs, rtol=1e-14)
    np.testing.assert_allclose(r.history["lr"].iloc[:3], hs, rtol=1e-14)
    assert r.history["f_evals"].tolist() == [0, 1, 2, 3] == r.history["grad_evals"].tolist()
    # gamma scales the step; f_star given here overrides the problem's
    r2 = testbed.run(p, make("polyak", gamma=0.5, f_star=-1.0), iters=1)
    assert r2.history["lr"].iloc[0] == pytest.approx(0.5 * 3.5 / 17, rel=1e-15)


@pytest.mark.parametrize("gamma", [1.0, 1.9])
def test_polyak_distance_to_the_minimiser_never_increases_on_a_convex_problem(gamma):
    p = problems.make("quadratic", dim=15, kappa=30.0, seed=4)
    h = testbed.run(p, make("polyak", gamma=gamma), iters=200).history
    dist, gap = h["dist_to_opt"].to_numpy(), h["f_gap"].to_numpy()
    # Polyak 1987: ||x_{t+1} - x*||^2 <= ||x_t - x*||^2 - gamma (2 - gamma) gap_t^2 / ||g_t||^2. Checked while
    # f(x_t) - f* is resolved in float (f* = -1.34 here; below ~1e-15 the computed gap, hence the step, is noise).
    resolved = gap[:-1] > 1e-11
    assert resolved.sum() > 20
    g2 = h["grad_norm"].to_numpy()[:-1] ** 2
    drop = gamma * (2 - gamma) * gap[:-1] ** 2 / g2
    assert np.all((dist[1:] ** 2 <= dist[:-1] ** 2 - drop * (1 - 1e-9))[resolved])
    assert gap.min() < 1e-12


def test_polyak_stops_when_it_reaches_f_star_and_errors_at_a_wrong_stationary_point():
    # f = |x|, f* = 0, x0 = 1: h = 1/1, x1 = 0 exactly, then f - f* = 0: converged at iteration 1
    p = problems.custom(value=lambda x: float(abs(x[0])), grad=lambda x: np.sign(x), x0=np.array([1.0]), f_star=0.0)
    r = testbed.run(p, make("polyak"), iters=10)
    assert r.status == "converged" and r.iterations == 1 and "f* is reached" in r.message
    q = problems.custom(value=lambda x: float(x @ x) + 1.0, grad=lambda x: 2 * x, x0=np.array([0.0]))
    r = testbed.run(q, make("polyak", f_star=0.0), iters=10)
    assert r.status == "error" and "stationary point" in r.message


def test_polyak_needs_f_star():
    p = problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.array([1.0]))
    with pytest.raises(UserInputError, match="f_star"):
        testbed.run(p, make("polyak"), iters=1)


# ------------------------------------------------------------------ errors, registry
@pytest.mark.parametrize(
    ("name", "kw", "field"),
    [
        ("gd_backtracking", {"alpha": 0.5}, "alpha"),
        ("gd_backtracking", {"alpha": 0.0}, "alpha"),
        ("gd_backtracking", {"beta": 1.0}, "beta"),
        ("gd_backtracking", {"t0": -1.0}, "t0"),
        ("gd_backtracking", {"t0": "L/2"}, "t0"),
        ("gd_backtracking", {"max_backtracks": 0}, "max_backtracks"),
        ("gd_backtracking", {"lr": 0.1}, "lr"),
        ("polyak", {"gamma": 2.0}, "gamma"),
        ("polyak", {"f_star": "zero"}, "f_star"),
        ("exact_line_search", {"lr": 0.1}, "lr"),
    ],
)
def test_bad_hyperparameters_name_the_field(name, kw, field):
    with pytest.raises(UserInputError, match=field):
        make(name, **kw)


def test_t0_as_a_multiple_of_L_needs_L():
    p = problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.array([1.0]))
    with pytest.raises(UserInputError, match="t0: '1/L'"):
        testbed.run(p, make("gd_backtracking", t0="1/L"), iters=1)


def test_step_size_rules_are_registered():
    for n in ("gd_backtracking", "exact_line_search", "polyak"):
        d = testbed.optimizers.describe(n)
        assert d["kind"] == "lecture" and d["source"]
    assert testbed.optimizers.describe("gd_backtracking")["hyperparameters"] == {
        "t0": 1.0, "alpha": 0.25, "beta": 0.5, "max_backtracks": 100
    }
