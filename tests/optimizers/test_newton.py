"""Damped Newton (testbed/optimizers/newton.py): hand-computed steps, quadratic convergence, the decrement rule,
exact oracle counts, the Hessian modification, Newton-CG, and errors.

The 1-D hand computation uses f(x) = sqrt(1 + x^2) (B&V's example of Newton's method needing damping):
f' = x / sqrt(1 + x^2), f'' = (1 + x^2)^(-3/2), so dx = -f'/f'' = -x (1 + x^2) and
lambda^2 = f'^2 / f'' = x^2 sqrt(1 + x^2). A full step maps x to x + dx = -x^3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import LinAlgError

import problems
import testbed
from problems.base import Problem
from problems.errors import UserInputError
from testbed.optimizers import make
from testbed.optimizers.newton import ARMIJO_ROUNDING, cholesky_with_shift, truncated_cg


def sqrt1p(x0: float) -> Problem:
    """f(x) = sqrt(1 + x^2), minimiser 0, f* = 1."""
    return problems.custom(
        value=lambda x: math.sqrt(1.0 + x[0] ** 2),
        grad=lambda x: x / math.sqrt(1.0 + x[0] ** 2),
        hess=lambda x: np.array([[(1.0 + x[0] ** 2) ** -1.5]]),
        x0=np.array([x0]),
        f_star=1.0,
        x_star=np.zeros(1),
        convex=True,
        name="sqrt1p",
    )


class Rosen2(Problem):
    """2-D Rosenbrock with its Hessian (a local fixture, independent of the rosenbrock family)."""

    family = "rosen2"

    def __init__(self, x0):
        super().__init__(params={}, x0=np.asarray(x0, dtype=np.float64), L=None, mu=None, convex=False)

    def _value_and_grad(self, x, idx):
        u, v = x
        g = np.array([-2 * (1 - u) - 400 * u * (v - u * u), 200 * (v - u * u)])
        return (1 - u) ** 2 + 100 * (v - u * u) ** 2, g

    def _hess(self, x):
        u, v = x
        return np.array([[2 - 400 * v + 1200 * u * u, -400 * u], [-400 * u, 200.0]])


@pytest.fixture(scope="module")
def logistic():
    return problems.make("logistic", n=200, d=10, lam=1e-2, seed=0)


# ------------------------------------------------------------------ hand computations
def test_quadratic_converges_in_one_full_step():
    p = problems.make("quadratic", dim=6, kappa=100.0, seed=1)
    r = testbed.run(p, make("newton"), iters=10, keep_iterates=True)
    h = r.history
    # x1 = x0 - Q^{-1}(Q x0 - b) = Q^{-1} b = x*: one step with s = 1, then lambda(x1)^2 ~ 0 stops the run.
    assert r.status == "converged" and r.iterations == 1
    assert h["lr"].iloc[0] == 1.0 and h["step_t"].iloc[1] == 1.0
    np.testing.assert_allclose(r.iterates[1], p.x_star, rtol=0, atol=1e-10)
    assert h["newton_decrement2"].iloc[1] / 2 <= 1e-10
    # counts: f, grad, Hessian at x0; one trial; grad and Hessian at x1; nothing more when the rule fires.
    assert h[["f_evals", "grad_evals", "hess_evals"]].iloc[1].tolist() == [2, 2, 2]


@pytest.mark.parametrize(
    ("beta", "xs", "steps", "trials"),
    [
        (0.5, [2.0, -0.5, 0.125, -(0.125**3)], [0.25, 1.0, 1.0], [3, 1, 1]),
        (0.3, [2.0, -1.0, -0.4, 0.064], [0.3, 0.3, 1.0], [2, 2, 1]),
    ],
)
def test_first_damped_steps_by_hand(beta, xs, steps, trials):
    # From x0 = 2: dx = -10, lambda^2 = 4 sqrt 5 = 8.944, f(x0) = sqrt 5 = 2.236; Armijo with alpha = 0.25:
    # beta = 0.5: s = 1 -> x = -8 (f = 8.06 > 0.0), s = 0.5 -> x = -3 (3.16 > 1.118), s = 0.25 -> x = -0.5
    #   (1.118 <= 1.677); from -0.5 full steps x -> -x^3 pass Armijo: 1/8, then -1/512.
    # beta = 0.3: s = 1 fails, s = 0.3 -> x = -1 (f = 1.414 <= 2.236 - 0.25 * 0.3 * 8.944 = 1.565). From -1 the
    #   full step lands on +1 (the 2-cycle of undamped Newton: f(1) = f(-1), no decrease), so s = 0.3 again:
    #   x = -1 + 0.3 * 2 = -0.4 (1.077 <= 1.414 - 0.25 * 0.3 * 1.414 = 1.308); then the full step to 0.064.
    r = testbed.run(sqrt1p(2.0), make("newton", beta=beta), iters=3, keep_iterates=True)
    X, h = r.iterates[:, 0], r.history
    np.testing.assert_allclose(X, xs, rtol=1e-12, atol=0)  # x + dx cancels to -x^3: a few ulp of x
    np.testing.assert_allclose(h["lr"].to_numpy()[:3], steps, rtol=1e-15)
    np.testing.assert_array_equal(h["step_t"].to_numpy()[1:], h["lr"].to_numpy()[:3])
    assert np.isnan(h["step_t"].iloc[0]) and np.isnan(h["newton_decrement2"].iloc[0])
    lam2 = X**2 * np.sqrt(1 + X**2)
    np.testing.assert_allclose(h["newton_decrement2"].to_numpy()[1:], lam2[1:], rtol=1e-12)
    # counts: row t has grad/hess at x_0..x_t and f at x_0 plus every trial of the line searches so far
    assert h["f_evals"].tolist() == [0, *(1 + np.cumsum(trials)).tolist()]
    assert h["grad_evals"].tolist() == [0, 2, 3, 4] and h["hess_evals"].tolist() == [0, 2, 3, 4]
    assert h["hvp_evals"].tolist() == [0, 0, 0, 0]


def test_decrement_rule_fires_and_is_recorded():
    r = testbed.run(sqrt1p(2.0), make("newton"), iters=50)
    h = r.history
    # x1 = -0.5, x2 = 1/8, x3 = -2^-9, x4 = 2^-27: lambda(x3)^2 / 2 = 1.9e-6 > eps, lambda(x4)^2 / 2 = 2.8e-17 <= eps
    assert r.status == "converged" and r.iterations == 4
    assert "lambda^2/2" in r.message and "eps = 1e-10" in r.message
    assert h["newton_decrement2"].iloc[-1] / 2 <= 1e-10 < h["newton_decrement2"].iloc[-2] / 2
    # a looser eps stops earlier, at the first iterate where lambda^2 / 2 <= eps
    r2 = testbed.run(sqrt1p(2.0), make("newton", eps=1e-5), iters=50)
    assert r2.status == "converged" and r2.iterations == 3
    # no rule is checked by a run that hits its budget first
    r3 = testbed.run(sqrt1p(2.0), make("newton"), iters=2)
    assert r3.status == "max_iters" and r3.iterations == 2


# ------------------------------------------------------------------ convergence theory
def _quadratic_ratios(h):
    """gap_{k+1} / gap_k^2 over consecutive rows in the local phase (gap_k <= 1e-2) and above roundoff."""
    gap = h["f_gap"].to_numpy()
    return np.array([gap[k + 1] / gap[k] ** 2 for k in range(len(gap) - 1) if gap[k] <= 1e-2 and gap[k + 1] > 1e-13])


def test_quadratic_convergence_on_logistic(logistic):
    r = testbed.run(logistic, make("newton", eps=1e-14), iters=50)
    h = r.history
    assert r.status == "converged" and r.iterations <= 8
    assert abs(h["f_gap"].iloc[-1]) <= 1e-14 and h["dist_to_opt"].iloc[-1] <= 1e-6
    ratios = _quadratic_ratios(h)
    assert ratios.size >= 2 and ratios.max() <= 50.0  # the gap squares (measured ratios 4.6, 5.8, 3.0 here)
    # the decrement squares too, and it tracks the gap: f - p* ~ lambda^2 / 2 in the quadratic phase
    lam2 = h["newton_decrement2"].to_numpy()
    assert all(lam2[k + 1] <= 50.0 * lam2[k] ** 2 for k in range(1, len(lam2) - 1) if lam2[k] < 1e-2)
    local = (h["f_gap"] < 1e-2) & (h["f_gap"] > 1e-12)
    np.testing.assert_allclose(h["f_gap"][local], h["newton_decrement2"][local] / 2, rtol=0.2)


def test_quadratic_convergence_check_fails_for_a_linearly_convergent_method(logistic):
    # Newton-CG with a single CG iteration is a scaled gradient step: linear convergence, so the same check fails.
    r = testbed.run(logistic, make("newton", solver="cg", cg_max_iters=1), iters=15)
    ratios = _quadratic_ratios(r.history)
    assert ratios.size >= 3 and ratios.max() > 1e3


def test_counts_are_exact_on_logistic(logistic):
    beta = 0.5
    r = testbed.run(logistic, make("newton", alpha=0.3, beta=beta), x0=np.full(logistic.dim, 3.0), iters=30)
    h = r.history
    t = h["iter"].to_numpy()
    # trials of the line search that produced x_t: s = beta^(trials - 1)
    trials = np.rint(np.log(h["step_t"].to_numpy()[1:]) / np.log(beta)).astype(int) + 1
    assert trials.max() > 1  # the start is far enough for damping to be needed
    assert h["f_evals"].tolist() == [0, *(1 + np.cumsum(trials)).tolist()]
    assert h["grad_evals"].tolist() == [0, *(t[1:] + 1).tolist()]
    assert h["hess_evals"].tolist() == h["grad_evals"].tolist()
    assert (h["hvp_evals"] == 0).all()


# ------------------------------------------------------------------ nonconvex: Hessian modification
def test_cholesky_with_shift():
    H = np.array([[-398.0, 0.0], [0.0, 200.0]])
    (c, lower), tau = cholesky_with_shift(H, "identity")
    # N&W Alg. 3.3 from tau0 = 398 + 1e-3 * 398 (min diagonal < 0): already positive definite
    assert tau == pytest.approx(398.0 * 1.001)
    L = np.tril(c) if lower else np.triu(c).T
    np.testing.assert_allclose(L @ L.T, H + tau * np.eye(2), rtol=1e-12)
    P = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert cholesky_with_shift(P, "identity")[1] == 0.0  # positive definite: unmodified
    # positive diagonal but indefinite: tau doubles from 1e-3 * max|H_ii| until the factorization succeeds
    S = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3, -1
    tau = cholesky_with_shift(S, "identity")[1]
    assert 1.0 < tau <= 2.0 and math.log2(tau / 1e-3) == pytest.approx(round(math.log2(tau / 1e-3)))
    with pytest.raises(LinAlgError, match="not positive definite"):
        cholesky_with_shift(S, "none")


def test_rosenbrock_with_hessian_modification():
    p = Rosen2([0.0, 1.0])  # Hessian diag(-398, 200) at x0: indefinite
    r = testbed.run(p, make("newton"), iters=100)
    assert r.status == "converged"
    np.testing.assert_allclose(r.x_final, [1.0, 1.0], atol=1e-5)
    assert (r.history["f"].diff().dropna() <= ARMIJO_ROUNDING * r.history["f"].iloc[0]).all()  # monotone descent
    r_none = testbed.run(p, make("newton", hessian_modification="none"), iters=100)
    assert r_none.status == "error" and "not positive definite" in r_none.message
    # the classic start stays convex along the way and converges as well
    r_std = testbed.run(Rosen2([-1.2, 1.0]), make("newton"), iters=100)
    assert r_std.status == "converged" and np.allclose(r_std.x_final, 1.0, atol=1e-5)


# ------------------------------------------------------------------ Newton-CG
def test_truncated_cg_solves_a_spd_system_and_stops_on_negative_curvature():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((8, 8))
    H = M @ M.T + 8 * np.eye(8)
    g = 1e-6 * rng.standard_normal(8)  # small ||g||: forcing term sqrt(||g||) -> tight solve
    p = truncated_cg(lambda v: H @ v, g, 50)
    assert np.linalg.norm(H @ p + g) <= math.sqrt(np.linalg.norm(g)) * np.linalg.norm(g)
    p_neg = truncated_cg(lambda v: -v, g, 50)
    np.testing.assert_array_equal(p_neg, -g)


def test_newton_cg_matches_cholesky_and_counts_hvps(logistic):
    r_cg = testbed.run(logistic, make("newton", solver="cg", eps=1e-14), iters=50)
    r_ch = testbed.run(logistic, make("newton", solver="cholesky", eps=1e-14), iters=50)
    assert r_cg.status == r_ch.status == "converged"
    np.testing.assert_allclose(r_cg.x_final, r_ch.x_final, atol=1e-8)
    h = r_cg.history
    assert (h["hess_evals"] == 0).all() and h["hvp_evals"].iloc[-1] > 0
    assert r_cg.extras["solver"] == "cg" and np.isnan(h["hess_shift"]).all()
    # CG needs at most dim products per solve (the residual cannot grow past the dimension)
    assert h["hvp_evals"].diff().dropna().max() <= logistic.dim


def test_auto_solver_resolution():
    p = problems.make("quadratic", dim=4)
    assert testbed.run(p, make("newton"), iters=2).extras["solver"] == "cholesky"

    class HvpOnly(Problem):
        family = "hvp_only"

        def __init__(self):
            super().__init__(params={}, x0=np.ones(3), L=2.0, mu=2.0, convex=True)

        def _value_and_grad(self, x, idx):
            return float(x @ x), 2 * x

        def _hvp(self, x, v):
            return 2 * v

    r = testbed.run(HvpOnly(), make("newton"), iters=5)
    assert r.extras["solver"] == "cg" and r.status == "converged"
    np.testing.assert_allclose(r.x_final, 0.0, atol=1e-12)
    with pytest.raises(UserInputError, match="solver='cg'"):
        testbed.run(HvpOnly(), make("newton", solver="cholesky"), iters=5)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"alpha": 0.5}, "alpha"),
        ({"alpha": 0.0}, "alpha"),
        ({"beta": 1.0}, "beta"),
        ({"eps": 0.0}, "eps"),
        ({"solver": "lu"}, "solver"),
        ({"hessian_modification": "eig"}, "hessian_modification"),
        ({"max_backtracks": 0}, "max_backtracks"),
        ({"cg_max_iters": 0}, "cg_max_iters"),
        ({"lr": 0.1}, "lr"),
    ],
)
def test_bad_hyperparameters_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        make("newton", **kw)


def test_inapplicable_problems_are_refused():
    no_hess = problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.ones(2))
    with pytest.raises(UserInputError, match="neither hess nor hvp"):
        testbed.run(no_hess, make("newton"), iters=3)
    with pytest.raises(UserInputError, match="barrier"):
        testbed.run(problems.make("nnls", n=6, d=3), make("newton"), iters=3)


def test_minibatch_runs_are_refused(logistic):
    r = testbed.run(logistic, make("newton"), iters=3, batch_size=10)
    assert r.status == "error" and "without batch_size" in r.message and r.final["hess_evals"] == 0


def test_failed_line_search_is_an_error_with_a_message():
    # a gradient of the wrong sign makes the Newton direction an ascent direction: no step passes Armijo
    p = problems.custom(value=lambda x: float(x @ x), grad=lambda x: -2 * x, hess=lambda x: 2 * np.eye(2),
                        x0=np.ones(2))
    r = testbed.run(p, make("newton", max_backtracks=5), iters=3)
    assert r.status == "error" and "Armijo condition in 5 backtracking trials" in r.message
    assert r.iterations == 0 and np.array_equal(r.x_final, np.ones(2))


def test_bit_identical_reruns(logistic):
    a = testbed.run(logistic, make("newton"), iters=20).history.drop(columns="time_s")
    b = testbed.run(logistic, make("newton"), iters=20).history.drop(columns="time_s")
    assert a.equals(b)
