"""Tests of ``least_squares``: oracle, minibatches, exact L/mu, CVXPY reference, cache, solver failures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import problems
from problems._linalg import fd_gradient, fd_jacobian, power_iteration
from problems.errors import SolverError, UserInputError
from problems.reference import cache_dir

VARIANTS = [
    {"n": 60, "d": 15, "seed": 1},
    {"n": 60, "d": 15, "scale": "mean", "lam": 0.3, "seed": 2},
    {"n": 12, "d": 20, "seed": 3},  # wide: rank deficient, x* not unique
    {"n": 12, "d": 20, "lam": 0.5, "seed": 4},  # wide with ridge: unique again
    {"n": 40, "d": 40, "scale": "mean", "noise": 0.0, "seed": 5},  # square, f* = 0
]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path / "cache"))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _definition(p, x: np.ndarray) -> float:
    n = p.A.shape[0]
    r = p.A @ x - p.b
    w = 1.0 if p.scale == "sum" else 1.0 / n
    return 0.5 * w * float(r @ r) + 0.5 * p.lam * float(x @ x)


@pytest.mark.parametrize("kw", VARIANTS)
def test_oracle_matches_definition_and_finite_differences(kw):
    p = problems.make("least_squares", **kw)
    rng = np.random.default_rng(0)
    H = p.hess(p.x0)
    for _ in range(3):
        x = rng.standard_normal(p.dim)
        assert p.value(x) == pytest.approx(_definition(p, x), rel=1e-13)
        assert _rel(fd_gradient(lambda z: p.value(z), x), p.grad(x)) < 1e-6
        assert _rel(fd_jacobian(p.grad, x), p.hess(x)) < 1e-6
        idx = rng.choice(p.n_samples, size=5)
        assert _rel(fd_gradient(lambda z, i=idx: p.value(z, i), x), p.grad(x, idx)) < 1e-6
        v = rng.standard_normal(p.dim)
        np.testing.assert_allclose(p.hvp(x, v), H @ v, rtol=1e-12, atol=1e-12 * np.abs(H).max())
        for i in (None, idx):
            f, g = p.value_and_grad(x, i)
            assert f == pytest.approx(p.value(x, i), rel=1e-14)
            np.testing.assert_allclose(g, p.grad(x, i), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("kw", VARIANTS)
def test_minibatches_average_to_the_full_oracle(kw):
    p = problems.make("least_squares", **kw)
    n = p.n_samples
    batch = 4
    perm = np.random.default_rng(1).permutation(n)[: n - n % batch]
    x = np.random.default_rng(2).standard_normal(p.dim)
    parts = perm.reshape(-1, batch)
    if len(perm) == n:  # exact partition
        assert np.mean([p.value(x, b) for b in parts]) == pytest.approx(p.value(x), rel=1e-12)
        np.testing.assert_allclose(np.mean([p.grad(x, b) for b in parts], axis=0), p.grad(x), rtol=1e-11, atol=1e-12)
    # singletons always partition: the mean over all samples is the full oracle
    singles = np.arange(n)[:, None]
    assert np.mean([p.value(x, b) for b in singles]) == pytest.approx(p.value(x), rel=1e-12)
    np.testing.assert_allclose(np.mean([p.grad(x, b) for b in singles], axis=0), p.grad(x), rtol=1e-11, atol=1e-12)
    # the full index set is the full oracle
    assert p.value(x, np.arange(n)) == pytest.approx(p.value(x), rel=1e-14)


def test_scale_conventions():
    s = problems.make("least_squares", n=30, d=5, seed=7)
    m = problems.make("least_squares", n=30, d=5, seed=7, scale="mean")
    x = np.ones(5)
    assert s.value(x) == pytest.approx(30 * m.value(x), rel=1e-14)
    assert s.L == pytest.approx(30 * m.L, rel=1e-14) and s.mu == pytest.approx(30 * m.mu, rel=1e-14)
    r = s.A[[3]] @ x - s.b[[3]]
    assert s.value(x, np.array([3])) == pytest.approx(30 * 0.5 * float(r @ r), rel=1e-14)  # n * (1/2) r_i^2
    assert m.value(x, np.array([3])) == pytest.approx(0.5 * float(r @ r), rel=1e-14)


@pytest.mark.parametrize("kw", VARIANTS)
def test_L_valid_and_tight_mu_valid(kw):
    p = problems.make("least_squares", **kw)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2000, p.dim)) * rng.uniform(0.01, 10, (2000, 1))
    Y = X + rng.standard_normal((2000, p.dim)) * rng.uniform(1e-3, 10, (2000, 1))
    G = np.array([p.grad(x) - p.grad(y) for x, y in zip(X, Y, strict=True)])
    D = X - Y
    assert (np.linalg.norm(G, axis=1) / np.linalg.norm(D, axis=1)).max() <= p.L * (1 + 1e-12)
    curv = np.einsum("ij,ij->i", G, D) / np.einsum("ij,ij->i", D, D)
    assert curv.min() >= p.mu * (1 - 1e-9)
    rho, v, _ = power_iteration(lambda u: p.hvp(p.x0, u), p.dim, seed=0)
    assert abs(rho - p.L) <= 1e-6 * p.L
    low, _, _ = power_iteration(lambda u: p.L * u - p.hvp(p.x0, u), p.dim, seed=0)
    assert abs(p.L - low - p.mu) <= 1e-6 * p.L
    assert np.linalg.norm(p.grad(v) - p.grad(0 * v)) > (1 - 1e-4) * p.L  # a smaller L would be violated
    if not p.full_rank:
        assert p.mu == p.lam


@pytest.mark.parametrize("kw", VARIANTS)
def test_L_max_is_the_exact_smoothness_of_every_single_sample_function(kw):
    """phi_i = value(., [i]) = w/2 (a_i'x - b_i)^2 + lam/2 ||x||^2 has Hessian w a_i a_i' + lam I."""
    p = problems.make("least_squares", **kw)
    n = p.A.shape[0]
    w = n if p.scale == "sum" else 1.0
    row2 = np.sum(p.A**2, axis=1)
    assert p.L_max == pytest.approx(w * row2.max() + p.lam, rel=1e-14)
    assert p.L <= p.L_max * (1 + 1e-12)
    rng = np.random.default_rng(9)
    m = 2000
    X = rng.standard_normal((m, p.dim)) * rng.uniform(0.01, 10, (m, 1))
    Y = X + rng.standard_normal((m, p.dim)) * rng.uniform(1e-3, 10, (m, 1))
    idx = rng.integers(0, n, size=m)
    ratios = [
        np.linalg.norm(p.grad(x, np.array([i])) - p.grad(y, np.array([i]))) / np.linalg.norm(x - y)
        for x, y, i in zip(X, Y, idx, strict=True)
    ]
    assert max(ratios) <= p.L_max * (1 + 1e-12)
    # attained along the longest row: a smaller L_max would be violated
    i = int(np.argmax(row2))
    one = np.array([i])
    u = p.A[i] / np.sqrt(row2[i])
    assert np.linalg.norm(p.grad(u, one) - p.grad(0 * u, one)) == pytest.approx(p.L_max, rel=1e-12)
    # each phi_i is the minibatch value over [i]: the mean over i is f
    x = X[0]
    assert np.mean([p.value(x, np.array([j])) for j in range(n)]) == pytest.approx(p.value(x), rel=1e-12)


@pytest.mark.parametrize("kw", VARIANTS)
def test_reference_is_certified_and_cross_checked(kw):
    p = problems.make("least_squares", **kw)
    assert p.reference == "cvxpy:CLARABEL"
    cert = p.reference_certificate
    assert cert["status"] == "optimal" and cert["solver"] == "CLARABEL" and "cached" not in cert
    assert cert["f_rel_agreement"] <= 1e-8
    assert cert["grad_norm"] == pytest.approx(np.linalg.norm(p.grad(p.x_star)), rel=1e-6, abs=1e-300)
    assert cert["grad_norm_rel"] <= 1e-10
    assert p.f_star == p.value(p.x_star)
    if p.x_unique:
        assert cert["x_rel_distance"] <= 1e-6
    else:  # the minimum-norm minimiser: in the row space of A
        assert cert["x_star_source"] == "cross_check"
        np.testing.assert_allclose(p.x_star, np.linalg.pinv(p.A) @ p.b, rtol=1e-9, atol=1e-10)
    rng = np.random.default_rng(4)
    xs = p.x_star
    vals = [p.value(xs + s * rng.standard_normal(p.dim)) for s in (1e-4, 1e-2, 1.0) for _ in range(200)]
    assert min(vals) >= p.f_star - 1e-12 * max(1.0, abs(p.f_star))


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 25),
    lam=st.sampled_from([0.0, 1e-3, 1.0]),
    scale=st.sampled_from(["sum", "mean"]),
    seed=st.integers(0, 10**6),
)
def test_random_instances_agree_with_cross_check(n, d, lam, scale, seed):
    p = problems.make("least_squares", n=n, d=d, lam=lam, scale=scale, seed=seed)
    cert = p.reference_certificate
    assert cert["f_rel_agreement"] <= 1e-8
    assert cert["grad_norm_rel"] <= 1e-9
    assert p.mu <= p.L and (p.mu > 0) == p.x_unique


def _entries(tmp_path) -> list:
    return sorted((tmp_path / "cache" / "least_squares").glob("*.npz"))


def test_disk_cache_is_used_and_corruption_is_recomputed(tmp_path):
    p1 = problems.make("least_squares", n=30, d=8, seed=11)
    f1, x1 = p1.f_star, p1.x_star
    assert "cached" not in p1.reference_certificate
    assert cache_dir() == tmp_path / "cache"
    (entry,) = _entries(tmp_path)
    p2 = problems.make("least_squares", n=30, d=8, seed=11)
    assert p2.reference_certificate["cached"] is True
    assert p2.f_star == f1 and np.array_equal(p2.x_star, x1)
    good = entry.read_bytes()
    for bad in (b"not an npz file at all", good[: len(good) // 2], b""):
        entry.write_bytes(bad)
        p3 = problems.make("least_squares", n=30, d=8, seed=11)
        assert "cached" not in p3.reference_certificate and p3.f_star == f1
        assert entry.read_bytes() != bad  # rewritten with a good entry
    # a well-formed entry with a wrong f* or x* is not trusted either
    with np.load(entry) as data:
        fields = dict(data)
    for key, value in (("f_star", np.array(f1 + 1.0)), ("x_star", fields["x_star"] + 0.1), ("x_star", np.zeros(3))):
        np.savez(entry, **(fields | {key: value}))
        p4 = problems.make("least_squares", n=30, d=8, seed=11)
        assert "cached" not in p4.reference_certificate
        assert p4.f_star == f1 and np.array_equal(p4.x_star, x1)
    # different parameters, different entry
    problems.make("least_squares", n=30, d=8, seed=12).reference_optimum()
    assert len(_entries(tmp_path)) == 2


def test_cache_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", "off")
    p = problems.make("least_squares", n=10, d=3)
    assert p.f_star is not None and "cached" not in p.reference_certificate
    assert not (tmp_path / "cache").exists()


def test_solver_failure_raises_and_is_not_cached(tmp_path, monkeypatch):
    import cvxpy

    monkeypatch.setattr(cvxpy.Problem, "solve", lambda self, *a, **k: None)  # never reaches "optimal"
    p = problems.make("least_squares", n=10, d=3)
    with pytest.raises(SolverError, match="least_squares reference: solver CLARABEL") as info:
        _ = p.f_star
    assert info.value.solver == "CLARABEL" and info.value.status != "optimal"
    assert _entries(tmp_path) == []


def test_missing_solver_raises_solver_error(monkeypatch):
    from problems.families import _common

    monkeypatch.setattr(_common, "REFERENCE_SOLVER", "NOT_A_SOLVER")
    with pytest.raises(SolverError, match="NOT_A_SOLVER") as info:
        _ = problems.make("least_squares", n=10, d=3).f_star
    assert info.value.status == "solver_error"


def test_reproducible_and_seed_dependent():
    a, b = problems.make("least_squares", seed=5), problems.make("least_squares", seed=5)
    c = problems.make("least_squares", seed=6)
    assert np.array_equal(a.A, b.A) and np.array_equal(a.b, b.b) and np.array_equal(a.x0, b.x0)
    assert not np.array_equal(a.A, c.A) and not np.array_equal(a.b, c.b)
    assert np.array_equal(a.x0, np.zeros(a.dim))


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"n": 0}, "n"), ({"d": -1}, "d"), ({"lam": -0.1}, "lam"), ({"scale": "median"}, "scale"),
     ({"noise": -1.0}, "noise"), ({"seed": -3}, "seed"), ({"n": "ten"}, "n"), ({"lam": float("nan")}, "lam")],
)
def test_bad_parameters(kw, field):
    with pytest.raises(UserInputError, match=rf"^{field}:"):
        problems.make("least_squares", **kw)


def test_bad_minibatch_indices():
    p = problems.make("least_squares", n=10, d=3)
    x = np.zeros(3)
    for idx in (np.array([10]), np.array([-1]), np.array([0.5]), np.array([], dtype=int), np.zeros((2, 2), int)):
        with pytest.raises(UserInputError, match="idx"):
            p.value(x, idx)
