"""The lecture's optimizers (testbed/optimizers/lecture.py): hand-computed first steps, theory, oracle counts, errors.

Hand computations use tiny objectives built with ``problems.custom`` whose iterates are written out below with
plain arithmetic; where the numbers are exact binary fractions the comparison is exact.
"""

from __future__ import annotations

import math

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


def diag_quadratic(diag, x0, L=None, mu=None, name="diag_quad"):
    """f(x) = 1/2 x' diag(d) x, minimiser 0, f* = 0; L defaults to max d, mu to min d."""
    d = np.asarray(diag, dtype=np.float64)
    return problems.custom(
        value=lambda x: 0.5 * float(x @ (d * x)),
        grad=lambda x: d * x,
        hess=lambda x: np.diag(d),
        x0=np.asarray(x0, dtype=np.float64),
        L=float(d.max()) if L is None else L,
        mu=float(d.min()) if mu is None else mu,
        f_star=0.0,
        x_star=np.zeros(d.size),
        name=name,
    )


def separable(a, b, x0):
    """f(w) = sum_i a_i w_i^2 / 2 + b_i w_i: grad f(w) = a w + b (chosen to reproduce given gradient sequences)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return problems.custom(
        value=lambda w: float(np.sum(0.5 * a * w * w + b * w)),
        grad=lambda w: a * w + b,
        x0=np.asarray(x0, dtype=np.float64),
    )


def iterates(problem, optimizer, iters, **kw):
    r = testbed.run(problem, optimizer, iters=iters, keep_iterates=True, **kw)
    return r, r.iterates


# ------------------------------------------------------------------ gd
def test_gd_first_steps_by_hand():
    p = diag_quadratic([2.0, 1.0], [1.0, 1.0])
    r, X = iterates(p, make("gd", lr=0.25), 3)
    # x1 = x0 - 0.25 (2, 1) * x0 = (0.5, 0.75); each step multiplies by (1 - 0.5, 1 - 0.25)
    assert np.array_equal(X, [[1.0, 1.0], [0.5, 0.75], [0.25, 0.5625], [0.125, 0.421875]])
    assert r.history["lr"].tolist()[:3] == [0.25, 0.25, 0.25]


def test_gd_default_step_is_one_over_L():
    p = diag_quadratic([4.0, 1.0], [1.0, 1.0])
    r, X = iterates(p, make("gd"), 1)
    assert r.base_lr == 0.25
    assert np.array_equal(X[1], [0.0, 0.75])
    assert r.hparams == {"lr": "1/L"}


@pytest.mark.parametrize(
    ("L", "expected"),
    [
        (2.0, 17),  # f0 = 1:    f_t = 4^t > 1e10 first at t = 17 (4^16 = 4.3e9, 4^17 = 1.7e10)
        (20.0, 17),  # f0 = 10:  10 * 4^t > 1e10 * 10, the same t
        (0.5, 18),  # f0 = 0.25: 0.25 * 4^t > 1e10 * max(1, 0.25) needs 4^t > 4e10: t = 18
    ],
)
def test_gd_at_3_over_L_diverges_at_the_predicted_iteration(L, expected):
    # x0 on the top eigenvector: x_t = (1 - 3)^t x0, f_t = f0 4^t; the rule is |f_t| > 1e10 max(1, |f0|)
    p = diag_quadratic([L, L / 10], [1.0, 0.0])
    r = testbed.run(p, make("gd", lr="3/L"), iters=100)
    f0 = L / 2
    assert r.status == "diverged"
    assert r.diverged_at == expected and r.iterations == expected
    assert r.history["iter"].tolist() == list(range(expected + 1))
    assert np.array_equal(r.history["f"].to_numpy(), f0 * 4.0 ** np.arange(expected + 1))
    assert r.history["f"].iloc[-2] <= 1e10 * max(1.0, f0) < r.history["f"].iloc[-1]
    assert "diverged at iteration" in r.message


def test_gd_below_2_over_L_does_not_diverge():
    p = diag_quadratic([2.0, 0.2], [1.0, 0.0])
    assert testbed.run(p, make("gd", lr="1.9/L"), iters=100).status == "max_iters"


def test_gd_at_1_over_L_decreases_f_monotonically_with_the_descent_lemma():
    p = problems.make("quadratic", dim=20, kappa=100.0, seed=0)
    h = testbed.run(p, make("gd"), iters=200).history
    f, g = h["f"].to_numpy(), h["grad_norm"].to_numpy()
    assert np.all(np.diff(f) < 0)
    # f(x_{t+1}) <= f(x_t) - ||grad f(x_t)||^2 / (2L), up to rounding
    assert np.all(f[1:] <= f[:-1] - g[:-1] ** 2 / (2 * p.L) + 1e-12 * np.abs(f[:-1]))
    # ... and the lecture's convex rate f_t - f* <= 2L R^2 / (t + 4)
    R2 = float(np.sum((p.x0 - p.x_star) ** 2))
    assert np.all(h["f_gap"].to_numpy() <= 2 * p.L * R2 / (h["iter"].to_numpy() + 4))


# ------------------------------------------------------------------ heavy ball
def test_heavy_ball_first_steps_by_hand():
    # f = x^2 (grad 2x), eta = 0.1, lambda = 0.5, v0 = 0:
    # v1 = -0.2,                 x1 = 0.8
    # v2 = 0.5(-0.2) - 0.16 = -0.26,   x2 = 0.54
    # v3 = 0.5(-0.26) - 0.108 = -0.238, x3 = 0.302
    p = problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.array([1.0]), L=2.0, mu=2.0)
    r, X = iterates(p, make("heavy_ball", lr=0.1, momentum=0.5), 3)
    np.testing.assert_allclose(X[:, 0], [1.0, 0.8, 0.54, 0.302], rtol=1e-15)
    assert r.hparams == {"lr": 0.1, "momentum": 0.5}


def test_heavy_ball_with_zero_momentum_is_gd():
    p = problems.make("quadratic", dim=10, kappa=10.0, seed=1)
    _, X = iterates(p, make("heavy_ball", momentum=0.0), 20)
    _, Y = iterates(p, make("gd"), 20)
    assert np.array_equal(X, Y)


def test_heavy_ball_with_polyaks_tuning_converges_at_the_accelerated_rate():
    # Polyak 1964: eta = 4/(sqrt(L) + sqrt(mu))^2, lambda = q^2 gives ||x_t - x*|| = O(t q^t),
    # q = (sqrt(kappa) - 1)/(sqrt(kappa) + 1)
    p = problems.make("quadratic", dim=20, kappa=100.0, seed=0)
    sL, smu = math.sqrt(p.L), math.sqrt(p.mu)
    q = (sL - smu) / (sL + smu)  # 9/11 for kappa = 100
    d = testbed.run(p, make("heavy_ball", lr=4 / (sL + smu) ** 2, momentum=q * q), iters=100).history["dist_to_opt"]
    rate = (d.iloc[100] / d.iloc[0]) ** (1 / 100)
    assert q <= rate < 1.08 * q  # the t factor alone allows 101^(1/100) = 1.047
    d_gd = testbed.run(p, make("gd"), iters=100).history["dist_to_opt"]
    assert d.iloc[100] / d.iloc[0] < 1e-6 < 1e-2 < d_gd.iloc[100] / d_gd.iloc[0]  # GD's slow direction: (1 - 1/kappa)^t


# ------------------------------------------------------------------ nesterov
def test_nesterov_convex_first_steps_by_hand():
    # Q = diag(1, 0.5), L = 2 (a valid bound), step 1/2: a gradient step multiplies by c = (0.5, 0.75).
    c = np.array([0.5, 0.75])
    p = diag_quadratic([1.0, 0.5], [1.0, 1.0], L=2.0)
    r, X = iterates(p, make("nesterov"), 4)
    x0 = np.array([1.0, 1.0])
    x1 = c * x0  # beta_0 = 0 (y_1 = x_0)
    x2 = c * x1  # beta_1 = (t_1 - 1)/t_2 = 0
    t2 = (1 + math.sqrt(5)) / 2
    t3 = (1 + math.sqrt(1 + 4 * t2**2)) / 2
    t4 = (1 + math.sqrt(1 + 4 * t3**2)) / 2
    b2, b3 = (t2 - 1) / t3, (t3 - 1) / t4
    assert b2 == pytest.approx(0.2817535251) and b3 == pytest.approx(0.4340427828)
    x3 = c * (x2 + b2 * (x2 - x1))
    x4 = c * (x3 + b3 * (x3 - x2))
    np.testing.assert_allclose(X, [x0, x1, x2, x3, x4], rtol=1e-15)
    t5 = (1 + math.sqrt(1 + 4 * t4**2)) / 2
    np.testing.assert_allclose(r.history["momentum"].to_numpy(), [0.0, 0.0, b2, b3, (t4 - 1) / t5], rtol=1e-15)


def test_nesterov_strongly_convex_first_steps_by_hand():
    # L = 4, mu = 1: beta = (2 - 1)/(2 + 1) = 1/3; Q = diag(2, 1), step 1/4: gradient step multiplies by (1/2, 3/4)
    c = np.array([0.5, 0.75])
    p = diag_quadratic([2.0, 1.0], [1.0, 1.0], L=4.0, mu=1.0)
    r, X = iterates(p, make("nesterov", variant="strongly_convex"), 3)
    x1 = np.array([0.5, 0.75])
    y2 = np.array([1 / 3, 2 / 3])  # x1 + (x1 - x0)/3
    x2 = c * y2  # (1/6, 1/2)
    y3 = x2 + (x2 - x1) / 3  # (1/18, 5/12)
    np.testing.assert_allclose(X, [[1.0, 1.0], x1, x2, c * y3], rtol=1e-15)
    np.testing.assert_allclose(X[3], [1 / 36, 5 / 16], rtol=1e-15)
    assert np.allclose(r.history["momentum"], 1 / 3)


def test_nesterov_strongly_convex_explicit_momentum_needs_no_mu():
    p = diag_quadratic([2.0, 1.0], [1.0, 1.0], L=4.0, mu=0.0)
    with pytest.raises(UserInputError, match="mu > 0"):
        testbed.run(p, make("nesterov", variant="strongly_convex"), iters=3)
    _, X = iterates(p, make("nesterov", variant="strongly_convex", momentum=1 / 3), 3)
    np.testing.assert_allclose(X[3], [1 / 36, 5 / 16], rtol=1e-15)


def _convex_bound(h, L, R2):
    return 2 * L * R2 / (h["iter"].to_numpy() + 1.0) ** 2


@pytest.mark.parametrize(
    "kw",
    [
        {"dim": 30, "kappa": 1e4, "seed": 0},
        {"dim": 30, "kappa": 1e3, "spectrum": "linear", "seed": 1},
        {"dim": 40, "kappa": 1e2, "rank": 25, "seed": 2},  # mu = 0
    ],
)
def test_nesterov_convex_rate_holds_on_quadratics(kw):
    p = problems.make("quadratic", **kw)
    h = testbed.run(p, make("nesterov"), iters=300).history
    R2 = float(np.sum((p.x0 - p.x_star) ** 2))
    assert np.all(h["f_gap"].to_numpy() <= _convex_bound(h, p.L, R2))


def test_nesterov_convex_rate_separates_nesterov_from_gd():
    # One slow direction (eigenvalue 1e-3): GD's gap decays like (1 - 1e-3)^(2t), above 2L R^2/(t+1)^2 by t = 300.
    p = diag_quadratic([1.0, 1e-3], [1.0, 1.0])
    R2 = 2.0
    h_gd = testbed.run(p, make("gd"), iters=300).history
    h_n = testbed.run(p, make("nesterov"), iters=300).history
    assert np.any(h_gd["f_gap"].to_numpy() > _convex_bound(h_gd, 1.0, R2))
    assert np.all(h_n["f_gap"].to_numpy() <= _convex_bound(h_n, 1.0, R2))


@pytest.mark.parametrize("t", [5, 20])
def test_nesterov_sits_between_the_lower_and_upper_bounds_on_the_worst_function(t):
    # Nesterov 2004 Thm 2.1.7 on f_{2t+1}: f(x_t) - f* >= 3 L R^2 / (32 (t+1)^2); FISTA: <= 2 L R^2 / (t+1)^2.
    from problems.families.worst_case import worst_case_lower_bound

    p = problems.make("worst_case", dim=2 * t + 1)
    h = testbed.run(p, make("nesterov"), iters=t).history
    R = float(np.linalg.norm(p.x0 - p.x_star))
    gap = h["f_gap"].iloc[-1]
    assert worst_case_lower_bound(t, p.L, R) <= gap <= 2 * p.L * R**2 / (t + 1) ** 2


@pytest.mark.parametrize("seed", [0, 1])
def test_nesterov_strongly_convex_converges_linearly(seed):
    # Nesterov 2004 Sect. 2.2.1 (gamma_0 = mu): f_t - f* <= (1 - sqrt(mu/L))^t (f_0 - f* + mu/2 R^2)
    p = problems.make("quadratic", dim=20, kappa=100.0, seed=seed)
    R2 = float(np.sum((p.x0 - p.x_star) ** 2))

    def bound(h):
        return (1 - math.sqrt(p.mu / p.L)) ** h["iter"].to_numpy() * (h["f_gap"].iloc[0] + p.mu / 2 * R2)

    h = testbed.run(p, make("nesterov", variant="strongly_convex"), iters=150).history
    assert np.all(h["f_gap"].to_numpy() <= bound(h))
    assert h["f_gap"].iloc[-1] < 1e-6 * h["f_gap"].iloc[0]
    # GD's rate (1 - mu/L)^t is slower: it breaks the accelerated bound.
    h_gd = testbed.run(p, make("gd"), iters=150).history
    assert np.any(h_gd["f_gap"].to_numpy() > bound(h_gd))


# ------------------------------------------------------------------ adagrad / rmsprop
def test_adagrad_reproduces_the_lecture_slide():
    # The slide: w1 sees g = 0.1 then 0.2 (rates eta/0.1, eta/0.22), w2 sees 20 then 10 (eta/20, eta/22).
    # grad = a w + b with w0 = 0, eta = 0.5: g0 = b = (0.1, 20); w1 = w0 - 0.5 g0/|g0| = (-0.5, -0.5);
    # g1 = a w1 + b = (0.2, 10) needs a = (-0.2, 20).
    eta = 0.5
    a, b = np.array([-0.2, 20.0]), np.array([0.1, 20.0])
    p = separable(a, b, [0.0, 0.0])
    r, X = iterates(p, make("adagrad_lecture", lr=eta), 3)
    g0 = b
    x1 = -eta * g0 / np.sqrt(g0**2)
    g1 = a * x1 + b
    np.testing.assert_allclose(g1, [0.2, 10.0], rtol=1e-15)
    rate1 = eta / np.sqrt(g0**2 + g1**2)
    np.testing.assert_allclose(eta / rate1, [0.2236068, 22.36068], rtol=1e-6)  # the slide's 0.22 and 22
    x2 = x1 - rate1 * g1
    g2 = a * x2 + b
    x3 = x2 - eta / np.sqrt(g0**2 + g1**2 + g2**2) * g2
    np.testing.assert_allclose(X, [[0.0, 0.0], [-0.5, -0.5], x2, x3], rtol=1e-14)
    assert r.history["lr"].tolist()[:3] == [eta] * 3
    assert r.hparams == {"lr": 0.5, "eps": 0.0}


def test_adagrad_coordinate_with_zero_gradient_does_not_move():
    # f = (w1 - 1)^2 / 2: w2 never gets a gradient; with eps = 0 its step would be 0/0.
    p = problems.custom(
        value=lambda w: 0.5 * (w[0] - 1) ** 2, grad=lambda w: np.array([w[0] - 1, 0.0]), x0=np.array([0.0, 3.0])
    )
    _, X = iterates(p, make("adagrad_lecture", lr=0.25), 5)
    assert np.all(np.isfinite(X)) and np.all(X[:, 1] == 3.0)
    np.testing.assert_allclose(X[1], [0.25, 3.0], rtol=1e-15)  # first step: exactly eta in the direction -g/|g|
    _, Xe = iterates(p, make("adagrad_lecture", lr=0.25, eps=0.5), 1)
    np.testing.assert_allclose(Xe[1], [0.25 * 1 / (1 + 0.5), 3.0], rtol=1e-15)  # eps outside the root


def test_rmsprop_starts_its_average_at_the_first_squared_gradient():
    # sigma_0 = |g_0| (so the first step is eta sign(g_0)), then sigma_1 = sqrt(0.9 g_0^2 + 0.1 g_1^2).
    eta, alpha = 0.5, 0.9
    a, b = np.array([-0.2, 20.0]), np.array([0.1, -20.0])  # g0 = (0.1, -20), w1 = (-0.5, 0.5), g1 = (0.2, -10)
    p = separable(a, b, [0.0, 0.0])
    r, X = iterates(p, make("rmsprop_lecture", lr=eta, alpha=alpha), 3)
    x1 = np.array([-0.5, 0.5])
    g1 = a * x1 + b
    np.testing.assert_allclose(g1, [0.2, -10.0], rtol=1e-15)
    s1 = np.sqrt(alpha * b**2 + (1 - alpha) * g1**2)
    np.testing.assert_allclose(s1, [math.sqrt(0.013), math.sqrt(370.0)], rtol=1e-15)
    x2 = x1 - eta / s1 * g1
    g2 = a * x2 + b
    s2 = np.sqrt(alpha * s1**2 + (1 - alpha) * g2**2)
    x3 = x2 - eta / s2 * g2
    np.testing.assert_allclose(X, [[0.0, 0.0], x1, x2, x3], rtol=1e-14)
    assert r.hparams == {"lr": 0.5, "alpha": 0.9, "eps": 0.0}


def test_rmsprop_lecture_differs_from_torch_rmsprop_on_the_first_step():
    # torch starts its average at 0: first step lr g / sqrt((1 - alpha) g^2) = lr / sqrt(1 - alpha) in size.
    p = separable([1.0], [2.0], [0.0])
    _, X = iterates(p, make("rmsprop_lecture", lr=0.1, alpha=0.99), 1)
    assert X[1, 0] == pytest.approx(-0.1, rel=1e-15)


# ------------------------------------------------------------------ projected gd
def _box_problem(c, lo=0.0, hi=np.inf):
    c = np.asarray(c, dtype=np.float64)
    p = problems.custom(
        value=lambda x: 0.5 * float(np.sum((x - c) ** 2)), grad=lambda x: x - c, x0=np.zeros(c.size), L=1.0, mu=1.0
    )
    p.project = lambda z: np.clip(z, lo, hi)
    return p


def test_projected_gd_first_steps_by_hand():
    # f = |x - c|^2 / 2, c = (1, -2), x >= 0, eta = 1/2: x1 = P((0.5, -1)) = (0.5, 0), x2 = (0.75, 0), x3 = (0.875, 0)
    p = _box_problem([1.0, -2.0])
    _, X = iterates(p, make("projected_gd", lr=0.5), 3)
    assert np.array_equal(X, [[0.0, 0.0], [0.5, 0.0], [0.75, 0.0], [0.875, 0.0]])


def test_projected_gd_on_nnls_is_feasible_and_meets_its_rate():
    # Beck 2017 Thm 10.21: f(x_t) - f* <= L ||x0 - x*||^2 / (2t) for t >= 1, with every x_t >= 0.
    p = problems.make("nnls", n=40, d=15, seed=1)
    x0 = np.linspace(-1.0, 2.0, p.dim)  # an infeasible start: feasibility comes from the projection
    r = testbed.run(p, make("projected_gd"), iters=300, keep_iterates=True, x0=x0)
    h = r.history.iloc[1:]
    x = r.x_final
    np.testing.assert_allclose(np.maximum(x - p.grad(x) / p.L, 0.0), x, atol=1e-12)  # projected-gradient fixed point
    R2 = float(np.sum((x0 - p.x_star) ** 2))
    assert r.iterates[1:].min() >= 0.0 and np.any(x == 0.0)
    assert np.all(h["f_gap"].to_numpy() <= p.L * R2 / (2 * h["iter"].to_numpy()))
    assert h["f_gap"].iloc[-1] <= 1e-9 * abs(p.f_star)
    # Without the projection the iterates leave x >= 0 and go below the constrained f*.
    g = testbed.run(p, make("gd"), iters=300, keep_iterates=True)
    assert g.iterates.min() < 0.0 and g.history["f_gap"].iloc[-1] < 0.0


def test_projected_gd_refuses_an_unconstrained_problem():
    p = diag_quadratic([1.0], [1.0])
    with pytest.raises(UserInputError, match="project"):
        testbed.run(p, make("projected_gd"), iters=1)


# ------------------------------------------------------------------ counts, errors, registry
@pytest.mark.parametrize(
    ("name", "kw"),
    [("gd", {}), ("heavy_ball", {}), ("nesterov", {}), ("nesterov", {"variant": "strongly_convex"}),
     ("adagrad_lecture", {}), ("rmsprop_lecture", {})],
)
def test_one_gradient_per_step_and_nothing_else(name, kw):
    p = problems.make("quadratic", dim=8, kappa=10.0, seed=3)
    h = testbed.run(p, make(name, **kw), iters=12).history
    assert h["grad_evals"].tolist() == list(range(13))
    assert h["f_evals"].sum() == h["hvp_evals"].sum() == h["hess_evals"].sum() == 0


@pytest.mark.parametrize(
    ("name", "kw"),
    [("gd", {}), ("heavy_ball", {}), ("nesterov", {}), ("adagrad_lecture", {"lr": 0.05}),
     ("rmsprop_lecture", {"lr": 0.01})],
)
def test_runs_are_bit_identical(name, kw):
    p = problems.make("rosenbrock")
    a = testbed.run(p, make(name, **kw), iters=50, keep_iterates=True)
    b = testbed.run(p, make(name, **kw), iters=50, keep_iterates=True)
    assert a.history.drop(columns="time_s").equals(b.history.drop(columns="time_s"))
    assert np.array_equal(a.iterates, b.iterates) and a.status == b.status


@pytest.mark.parametrize(
    ("name", "kw", "field"),
    [
        ("gd", {"lr": -0.1}, "lr"),
        ("gd", {"lr": "two/L"}, "lr"),
        ("gd", {"lr": None}, "lr"),
        ("gd", {"momentum": 0.9}, "momentum"),
        ("heavy_ball", {"momentum": 1.0}, "momentum"),
        ("heavy_ball", {"momentum": -0.1}, "momentum"),
        ("nesterov", {"variant": "fast"}, "variant"),
        ("nesterov", {"momentum": 0.5}, "momentum"),
        ("nesterov", {"variant": "strongly_convex", "momentum": 1.5}, "momentum"),
        ("adagrad_lecture", {"eps": -1.0}, "eps"),
        ("adagrad_lecture", {"lr_decay": 0.1}, "lr_decay"),
        ("rmsprop_lecture", {"alpha": 1.0}, "alpha"),
        ("rmsprop_lecture", {"lr": 0.0}, "lr"),
        ("projected_gd", {"schedule": "cosine"}, "schedule"),
    ],
)
def test_bad_hyperparameters_name_the_field(name, kw, field):
    with pytest.raises(ValueError, match=field) as err:
        make(name, **kw)
    assert isinstance(err.value, UserInputError)


def test_lr_multiple_of_L_needs_a_problem_with_L():
    p = separable([1.0], [0.0], [1.0])  # no L
    with pytest.raises(UserInputError, match="lr: '1/L' needs a problem with a known L"):
        testbed.run(p, make("gd"), iters=1)


def test_lecture_methods_are_registered_with_their_sources():
    names = ["gd", "heavy_ball", "nesterov", "adagrad_lecture", "rmsprop_lecture", "projected_gd"]
    assert set(names) <= set(testbed.optimizers.available())
    for n in names:
        d = testbed.optimizers.describe(n)
        assert d["kind"] == "lecture" and d["source"] and d["summary"]
    assert testbed.optimizers.describe("heavy_ball")["hyperparameters"]["momentum"] == 0.9
