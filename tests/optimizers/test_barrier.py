"""The barrier method (testbed/optimizers/barrier.py): hand-computed first steps on a 1-D LP, the nnls optimum,
the gap bound m/t and its decrease by mu, strict feasibility, the recorded central path, counts and errors.

Hand computation: minimize x s.t. -x <= 0 (p* = 0). The centering objective t x - log x has
F' = t - 1/x, F'' = 1/x^2, so dx = x - t x^2, lambda^2 = (t x - 1)^2 and x*(t) = 1/t, where the gap
f0(x*(t)) - p* = 1/t equals the bound m/t exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import nnls as scipy_nnls

import problems
import testbed
from problems.base import Problem
from problems.errors import UserInputError
from problems.reference import Reference
from testbed.optimizers import make


class HalfLine(Problem):
    """minimize x subject to x >= 0 (f1(x) = -x <= 0)."""

    family = "half_line"
    n_inequalities = 1

    def __init__(self, x0=2.0):
        super().__init__(params={}, x0=np.array([x0]), L=None, mu=0.0, convex=True)
        self._reference = Reference(0.0, np.zeros(1), "closed form")

    def _value_and_grad(self, x, idx):
        return float(x[0]), np.ones(1)

    def _hess(self, x):
        return np.zeros((1, 1))

    def inequalities(self, x):
        return -x, -np.eye(1), None


class Ball(Problem):
    """minimize c'x subject to ||x||^2 <= 1: x* = -c/||c||, p* = -||c|| (a constraint with a Hessian)."""

    family = "ball"
    n_inequalities = 1

    def __init__(self, c):
        self.c = np.asarray(c, dtype=np.float64)
        super().__init__(params={}, x0=np.zeros(self.c.size), L=None, mu=0.0, convex=True)
        nc = float(np.linalg.norm(self.c))
        self._reference = Reference(-nc, -self.c / nc, "closed form")

    def _value_and_grad(self, x, idx):
        return float(self.c @ x), self.c.copy()

    def _hess(self, x):
        return np.zeros((self.dim, self.dim))

    def inequalities(self, x):
        return np.array([x @ x - 1.0]), 2.0 * x[None, :], 2.0 * np.eye(self.dim)[None, :, :]


@pytest.fixture(scope="module")
def nnls_run():
    p = problems.make("nnls", n=30, d=10, seed=3)
    r = testbed.run(p, make("barrier", eps=2e-8), iters=500, keep_iterates=True)
    return p, r


# ------------------------------------------------------------------ hand computation
def test_first_steps_by_hand_on_a_1d_lp():
    r = testbed.run(HalfLine(2.0), make("barrier"), iters=3, keep_iterates=True)
    X, h = r.iterates[:, 0], r.history
    # t = 1 from x0 = 2: dx = 2 - 4 = -2, lambda^2 = 1. s = 1 gives x = 0 (infeasible, no f0 evaluation);
    # s = 1/2 gives x = 1: F = 1 - log 1 = 1 <= F(2) - 0.25 * 0.5 * 1 = 2 - log 2 - 0.125 = 1.182. Accepted.
    # x = 1 = x*(1): lambda^2 = 0, the centering ends; m/t = 1 >= eps, so t = 10.
    # t = 10 from x = 1: dx = 1 - 10 = -9, lambda^2 = 81. s = 1, 1/2, 1/4, 1/8 are infeasible (x = -8, -3.5, -1.25,
    # -0.125); s = 1/16: x = 0.4375, F = 4.375 - log 0.4375 = 5.20 <= 10 - 0.25 * 81 / 16 = 8.73. Accepted.
    assert X[:3].tolist() == [2.0, 1.0, 0.4375]
    assert h["lr"].tolist()[:2] == [0.5, 0.0625]
    assert h["barrier_t"].tolist() == [1.0, 1.0, 10.0, 10.0]
    assert h["gap_bound"].tolist() == [1.0, 1.0, 0.1, 0.1]
    assert h["outer_iter"].tolist() == [0, 0, 1, 1] and h["centering_step"].tolist() == [0, 1, 1, 2]
    assert np.isnan(h["newton_decrement2"].iloc[0]) and h["newton_decrement2"].iloc[1] == 0.0
    assert h["newton_decrement2"].iloc[2] == pytest.approx((10 * 0.4375 - 1) ** 2, rel=1e-14)
    # counts: f0 only at feasible trials (x0, then 1 and 1); grad and Hessian of f0 at x0, x1, x2, x3
    assert h["f_evals"].tolist()[:3] == [0, 2, 3]
    assert h["grad_evals"].tolist() == [0, 2, 3, 4] and h["hess_evals"].tolist() == [0, 2, 3, 4]
    cp = r.extras["central_path"]
    assert cp["barrier_t"].tolist() == [1.0] and cp["iter"].tolist() == [1] and cp["newton_steps"].tolist() == [1]
    assert r.extras["central_points"].tolist() == [[1.0]]
    assert r.extras["central_duals"].tolist() == [[1.0]]  # lambda = -1 / (t f1(x*(t))) = 1 / (1 * 1)


def test_1d_lp_follows_the_central_path_to_the_optimum():
    r = testbed.run(HalfLine(2.0), make("barrier", eps=1e-6), iters=200)
    cp, pts = r.extras["central_path"], r.extras["central_points"][:, 0]
    assert r.status == "converged" and "m/t" in r.message
    # x*(t) = 1/t; the gap f0 - p* equals m/t (the bound is tight for this LP)
    np.testing.assert_allclose(pts, 1.0 / cp["barrier_t"], rtol=1e-5)
    np.testing.assert_allclose(cp["f"], cp["gap_bound"], rtol=1e-5)
    assert cp["barrier_t"].tolist() == [10.0**k for k in range(8)]  # m/t = 1e-7 < 1e-6 at t = 1e7
    assert r.history["f_gap"].iloc[-1] <= 1e-6


# ------------------------------------------------------------------ the lecture's nnls
def test_nnls_reaches_the_reference_optimum(nnls_run):
    p, r = nnls_run
    x_ref, rnorm = scipy_nnls(p.A, p.b)
    assert r.status == "converged" and "m/t" in r.message
    gap = r.history["f_gap"].iloc[-1]
    assert -1e-10 <= gap <= 2e-8  # f0 - p* <= m/t < eps at the last central point
    assert r.final["f"] - rnorm**2 <= 2e-8
    np.testing.assert_allclose(r.x_final, x_ref, atol=1e-6)
    np.testing.assert_allclose(r.x_final, p.x_star, atol=1e-6)


def test_nnls_iterates_stay_strictly_feasible(nnls_run):
    _, r = nnls_run
    assert (r.iterates > 0).all()
    assert r.iterates.shape[0] == r.iterations + 1


def test_gap_bound_decreases_by_mu_per_outer_iteration(nnls_run):
    p, r = nnls_run
    h = r.history
    per_outer = h.groupby("outer_iter")["gap_bound"].agg(["min", "max"])
    assert (per_outer["min"] == per_outer["max"]).all()  # constant during a centering
    np.testing.assert_allclose(per_outer["max"].to_numpy()[:-1] / per_outer["max"].to_numpy()[1:], 10.0, rtol=1e-14)
    assert set(np.diff(h["outer_iter"].to_numpy())) <= {0, 1}
    m, t0, mu, eps = p.n_inequalities, 1.0, 10.0, 2e-8
    # B&V 11.3.3: ceil(log(m / (eps t0)) / log mu) outer iterations after the first centering
    assert len(r.extras["central_path"]) == math.ceil(math.log(m / (eps * t0)) / math.log(mu)) + 1
    cp = r.extras["central_path"]
    assert cp["gap_bound"].iloc[-1] < eps <= cp["gap_bound"].iloc[-2]  # stops at the first central point with m/t < eps
    assert h["gap_bound"].iloc[-1] == cp["gap_bound"].iloc[-1]


def test_central_path_is_recorded_and_certifies_the_gap(nnls_run):
    p, r = nnls_run
    cp, pts, duals = r.extras["central_path"], r.extras["central_points"], r.extras["central_duals"]
    h = r.history
    assert list(cp.columns) == ["outer_iter", "barrier_t", "gap_bound", "iter", "newton_steps", "f", "dual_bound"]
    assert pts.shape == (len(cp), p.dim) and duals.shape == (len(cp), p.n_inequalities)
    assert cp["outer_iter"].tolist() == list(range(len(cp)))
    np.testing.assert_allclose(cp["barrier_t"], 10.0 ** np.arange(len(cp)), rtol=1e-15)
    # each central point is a history row whose decrement passed the centering test
    rows = h.set_index("iter").loc[cp["iter"]]
    assert (rows["newton_decrement2"] / 2 <= 1e-10).all()
    np.testing.assert_allclose(rows["f"].to_numpy(), cp["f"].to_numpy(), rtol=0)
    np.testing.assert_allclose(pts, r.iterates[cp["iter"].to_numpy()], rtol=0)
    assert cp["newton_steps"].sum() == r.iterations
    # duality (B&V 11.2.2): lambda(t) > 0, and f0(x*(t)) - m/t <= p* <= f0(x*(t)) with the gap at most m/t
    f_star = p.f_star
    assert (duals > 0).all()
    assert (cp["dual_bound"] <= f_star + 1e-9).all()
    assert (cp["f"] - f_star <= cp["gap_bound"] * (1 + 1e-6)).all()
    # the bound is a property of central points: at x0 (not central for t0) it fails
    assert h["f_gap"].iloc[0] > h["gap_bound"].iloc[0]
    # the stationarity of the centering: t grad f0 + sum lambda_i t grad f_i = 0, i.e. grad f0 = lambda at x*(t)
    for k in range(len(cp)):
        np.testing.assert_allclose(p.grad(pts[k]), duals[k], atol=1e-4 * max(1.0, float(np.abs(duals[k]).max())))


def test_counts_per_newton_step(nnls_run):
    _, r = nnls_run
    h = r.history
    t = h["iter"].to_numpy()
    assert h["grad_evals"].tolist() == [0, *(t[1:] + 1).tolist()]
    assert h["hess_evals"].tolist() == h["grad_evals"].tolist()
    # at least one f0 value per step (the accepted trial), one more at x0
    assert (np.diff(h["f_evals"].to_numpy()[1:]) >= 1).all() and h["f_evals"].iloc[1] >= 2
    assert r.extras["constraint_evals"] >= h["f_evals"].iloc[-1]


def test_nonlinear_constraint_with_hessians():
    c = np.array([3.0, -4.0])
    p = Ball(c)
    r = testbed.run(p, make("barrier", eps=1e-9), iters=300, keep_iterates=True)
    assert r.status == "converged"
    np.testing.assert_allclose(r.x_final, [-0.6, 0.8], atol=1e-8)
    assert 0 <= r.history["f_gap"].iloc[-1] <= 1e-9
    assert (np.sum(r.iterates**2, axis=1) < 1).all()


def test_bit_identical_reruns():
    p = problems.make("nnls", n=12, d=4, seed=1)
    a = testbed.run(p, make("barrier"), iters=100).history.drop(columns="time_s")
    b = testbed.run(p, make("barrier"), iters=100).history.drop(columns="time_s")
    assert a.equals(b)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"t0": 0.0}, "t0"),
        ({"mu": 1.0}, "mu"),
        ({"eps": -1e-3}, "eps"),
        ({"centering_eps": 0.0}, "centering_eps"),
        ({"alpha": 0.6}, "alpha"),
        ({"beta": 0.0}, "beta"),
        ({"max_backtracks": 0}, "max_backtracks"),
        ({"lr": 1.0}, "lr"),
    ],
)
def test_bad_hyperparameters_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        make("barrier", **kw)


def test_start_must_be_strictly_feasible():
    p = problems.make("nnls", n=12, d=4, seed=1)
    x0 = p.feasible_x0
    x0[2] = 0.0  # on the boundary
    with pytest.raises(UserInputError, match=r"x0: not strictly feasible.*i = 2.*feasible_x0"):
        testbed.run(p, make("barrier"), iters=5, x0=x0)
    with pytest.raises(UserInputError, match="not strictly feasible"):
        testbed.run(HalfLine(-1.0), make("barrier"), iters=5)


def test_problem_without_inequalities_is_refused():
    with pytest.raises(UserInputError, match="no inequality constraints"):
        testbed.run(problems.make("quadratic", dim=3), make("barrier"), iters=5)

    class NoHess(HalfLine):
        _hess = Problem._hess

    with pytest.raises(UserInputError, match="Hessian"):
        testbed.run(NoHess(), make("barrier"), iters=5)
