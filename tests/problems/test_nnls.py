"""Tests of ``nnls``: the lecture's nonnegative least squares, its constraint interface and certified optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import problems
from problems._linalg import fd_gradient, fd_jacobian, power_iteration
from problems.errors import SolverError, UserInputError

VARIANTS = [
    {},
    {"n": 30, "d": 30, "n_active": 0, "seed": 1},
    {"n": 80, "d": 25, "n_active": 25, "seed": 2},
    {"n": 40, "d": 12, "n_active": 7, "noise": 0.0, "seed": 3},
]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path / "cache"))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("kw", VARIANTS)
def test_oracle_is_the_lecture_objective(kw):
    p = problems.make("nnls", **kw)
    rng = np.random.default_rng(0)
    H = p.hess(p.x0)
    np.testing.assert_allclose(H, 2 * p.A.T @ p.A, rtol=1e-13, atol=1e-13 * np.abs(H).max())
    for _ in range(3):
        x = rng.standard_normal(p.dim)
        assert p.value(x) == pytest.approx(np.linalg.norm(p.A @ x - p.b) ** 2, rel=1e-13)  # no factor 1/2
        assert _rel(fd_gradient(lambda z: p.value(z), x), p.grad(x)) < 1e-6
        assert _rel(fd_jacobian(p.grad, x), p.hess(x)) < 1e-6
        v = rng.standard_normal(p.dim)
        np.testing.assert_allclose(p.hvp(x, v), H @ v, rtol=1e-12, atol=1e-12 * np.abs(H).max())
        f, g = p.value_and_grad(x)
        assert f == pytest.approx(p.value(x), rel=1e-14)
        np.testing.assert_allclose(g, p.grad(x), rtol=1e-14, atol=1e-14)


def test_constraint_interface():
    p = problems.make("nnls", n=20, d=6, seed=4)
    assert p.is_constrained and not p.is_finite_sum
    assert p.n_inequalities == 6
    rng = np.random.default_rng(1)
    for _ in range(50):
        z = 2 * rng.standard_normal(6)
        pz = p.project(z)
        assert np.all(pz >= 0) and np.array_equal(p.project(pz), pz)
        y = np.abs(rng.standard_normal(6))  # any feasible y: <z - Pz, y - Pz> <= 0 (projection optimality)
        assert float((z - pz) @ (y - pz)) <= 1e-14
        assert np.linalg.norm(z - pz) <= np.linalg.norm(z - y)
        vals, jac, hess = p.inequalities(z)
        np.testing.assert_array_equal(vals, -z)
        np.testing.assert_array_equal(jac, -np.eye(6))
        assert hess is None
        assert p.is_feasible(z) == bool(np.all(z >= 0))
    x = np.array([1.0, 0.0, 2.0, -1e-9, 3.0, 0.5])
    assert not p.is_feasible(x) and p.is_feasible(x, tol=1e-8)
    for start in (p.x0, p.feasible_x0):
        assert np.all(p.inequalities(start)[0] < 0)  # strictly feasible
    fx = p.feasible_x0
    fx[0] = -5.0
    assert p.feasible_x0[0] > 0 and p.x0[0] > 0  # fresh copies
    with pytest.raises(ValueError):
        p.project(np.zeros(5))
    with pytest.raises(ValueError):
        p.inequalities(np.zeros(6, dtype=np.float32))
    with pytest.raises(ValueError):
        p.is_feasible(np.zeros(6), tol=-1.0)


@pytest.mark.parametrize("kw", VARIANTS)
def test_constants(kw):
    p = problems.make("nnls", **kw)
    s = np.linalg.svd(p.A, compute_uv=False)
    assert p.L == pytest.approx(2 * s[0] ** 2, rel=1e-12) and p.mu == pytest.approx(2 * s[-1] ** 2, rel=1e-9)
    assert p.convex and p.L_region == "global"
    rho, v, _ = power_iteration(lambda u: p.hvp(p.x0, u), p.dim, seed=0)
    assert abs(rho - p.L) <= 1e-6 * p.L
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, p.dim)) * 3
    Y = X + rng.standard_normal((2000, p.dim)) * rng.uniform(1e-3, 3, (2000, 1))
    ratios = [np.linalg.norm(p.grad(x) - p.grad(y)) / np.linalg.norm(x - y) for x, y in zip(X, Y, strict=True)]
    assert max(ratios) <= p.L * (1 + 1e-12)
    assert np.linalg.norm(p.grad(v) - p.grad(0 * v)) > (1 - 1e-4) * p.L


@pytest.mark.parametrize("kw", VARIANTS)
def test_reference_is_kkt_certified_and_cross_checked(kw):
    p = problems.make("nnls", **kw)
    assert p.reference == "cvxpy:CLARABEL"
    cert = p.reference_certificate
    assert cert["status"] == "optimal" and cert["cross_check"] == "scipy.optimize.nnls"
    assert cert["f_rel_agreement"] <= 1e-8
    assert cert["kkt_residual_rel"] <= 1e-12 and cert["kkt_residual"] == p.kkt_residual(p.x_star)
    assert cert["primal_infeasibility"] == 0.0 and cert["dual_infeasibility"] <= 1e-12 * p.L
    assert -1e-8 * max(1.0, p.f_star) <= cert["duality_gap"] <= 1e-7 * max(1.0, p.f_star)
    assert "grad_norm" not in cert  # nonzero at a constrained optimum; the KKT residual replaces it
    xs = p.x_star
    assert p.is_feasible(xs) and p.f_star == p.value(xs)
    # the planted optimum: same point, same active set
    assert cert["planted_distance"] <= 1e-9 * max(1.0, np.linalg.norm(xs))
    np.testing.assert_array_equal(np.flatnonzero(xs == 0), p.active_set)
    assert cert["n_active"] == p.params["n_active"]
    g = p.grad(xs)
    assert np.all(g[p.active_set] >= 0.5)  # strict complementarity by construction
    # f >= f* at feasible points ...
    rng = np.random.default_rng(5)
    pts = [p.project(xs + s * rng.standard_normal(p.dim)) for s in (1e-4, 1e-2, 1.0) for _ in range(200)]
    assert min(p.value(x) for x in pts) >= p.f_star - 1e-12 * max(1.0, p.f_star)
    # ... but not at infeasible ones when a constraint binds: the constraint matters
    if p.active_set.size:
        x_ls = np.linalg.lstsq(p.A, p.b, rcond=None)[0]
        assert not p.is_feasible(x_ls) and p.value(x_ls) < p.f_star


def test_kkt_residual_detects_non_optimal_points():
    p = problems.make("nnls")
    assert p.kkt_residual(p.x0) > 1.0
    x = p.x_star
    x[p.active_set[0]] = 1e-3  # leave the active set
    assert p.kkt_residual(x) > 1e-4


@settings(max_examples=8, deadline=None)
@given(d=st.integers(1, 15), extra=st.integers(0, 20), frac=st.floats(0, 1), seed=st.integers(0, 10**6))
def test_random_instances(d, extra, frac, seed):
    p = problems.make("nnls", n=d + extra, d=d, n_active=round(frac * d), seed=seed)
    cert = p.reference_certificate
    assert cert["f_rel_agreement"] <= 1e-8 and cert["kkt_residual_rel"] <= 1e-10
    assert cert["planted_distance"] <= 1e-6 * max(1.0, np.linalg.norm(p.x_star))


def test_cache_roundtrip_and_tampering(tmp_path):
    p1 = problems.make("nnls", n=20, d=8, seed=9)
    f1 = p1.f_star
    (entry,) = (tmp_path / "cache" / "nnls").glob("*.npz")
    p2 = problems.make("nnls", n=20, d=8, seed=9)
    assert p2.reference_certificate["cached"] is True and p2.f_star == f1
    with np.load(entry) as data:
        fields = dict(data)
    infeasible = fields["x_star"].copy()
    infeasible[0] = -1.0
    np.savez(entry, **(fields | {"x_star": infeasible}))
    p3 = problems.make("nnls", n=20, d=8, seed=9)
    assert "cached" not in p3.reference_certificate and p3.f_star == f1 and p3.is_feasible(p3.x_star)


def test_solver_not_reaching_optimal_raises(tmp_path, monkeypatch):
    from problems.families import _common

    monkeypatch.setitem(_common.CLARABEL_OPTIONS, "max_iter", 1)
    p = problems.make("nnls", seed=21)
    with pytest.raises(SolverError, match=r"nnls reference: solver CLARABEL ended with status 'user_limit'"):
        _ = p.x_star
    assert not list((tmp_path / "cache").glob("**/*.npz"))


@pytest.mark.parametrize("status_problem", ["infeasible", "unbounded"])
def test_solve_helper_refuses_non_optimal(status_problem):
    import cvxpy as cp

    from problems.families._common import solve_cvxpy

    x = cp.Variable(3)
    if status_problem == "infeasible":
        prob = cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, x <= 0])
    else:
        prob = cp.Problem(cp.Minimize(cp.sum(x)), [x <= 0])
    with pytest.raises(SolverError) as info:
        solve_cvxpy(prob, "helper test")
    assert info.value.status == status_problem and info.value.solver == "CLARABEL"


def test_reproducible_and_seed_dependent():
    a, b, c = problems.make("nnls", seed=1), problems.make("nnls", seed=1), problems.make("nnls", seed=2)
    assert np.array_equal(a.A, b.A) and np.array_equal(a.b, b.b) and np.array_equal(a.x0, b.x0)
    assert np.array_equal(a.active_set, b.active_set)
    assert not np.array_equal(a.A, c.A) and not np.array_equal(a.b, c.b)


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"n": 10, "d": 20}, "n"), ({"d": 0}, "d"), ({"n_active": -1}, "n_active"), ({"n_active": 21}, "n_active"),
     ({"noise": -0.5}, "noise"), ({"seed": -1}, "seed")],
)
def test_bad_parameters(kw, field):
    with pytest.raises(UserInputError, match=rf"^{field}:"):
        problems.make("nnls", **kw)
