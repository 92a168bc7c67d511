"""Tests of the ``logistic`` family: oracle, constants L and mu, reference optimum, ERM extras, input checks."""

from __future__ import annotations

import numpy as np
import pytest

import problems
from problems import datasets
from problems.errors import SolverError, UnknownNameError, UserInputError
from problems.families import logistic as logistic_module


@pytest.fixture(autouse=True, scope="module")
def _fresh_reference_cache(tmp_path_factory: pytest.TempPathFactory):
    """References are computed here, never read from a user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPTIM_TESTBED_CACHE", str(tmp_path_factory.mktemp("ref-cache")))
        yield


@pytest.fixture(scope="module")
def cancer() -> problems.Problem:
    p = problems.make("logistic", data="breast_cancer", seed=0)
    p.f_star  # noqa: B018 - compute the reference once for the module
    return p


CASES = [
    {"n": 80, "d": 5, "seed": 1},
    {"n": 80, "d": 5, "seed": 2, "intercept": False, "lam": 1e-4},
    {"n": 60, "d": 3, "seed": 3, "separation": 6.0, "noise": 0.0, "lam": 1e-3},
    {"data": "breast_cancer", "lam": 0.1},
]


def _fd_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("params", CASES)
def test_gradient_matches_central_differences(params: dict) -> None:
    p = problems.make("logistic", **params)
    rng = np.random.default_rng(0)
    for scale in (0.1, 1.0):
        x = scale * rng.standard_normal(p.dim)
        g = p.grad(x)
        err = np.linalg.norm(_fd_grad(p.value, x) - g) / np.linalg.norm(g)
        assert err < 1e-6


def test_hessian_and_hvp() -> None:
    p = problems.make("logistic", n=80, d=5, seed=1)
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal(p.dim), rng.standard_normal(p.dim)
    H = p.hess(x)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-15)
    fd = np.column_stack([_fd_grad(lambda z, i=i: p.grad(z)[i], x) for i in range(p.dim)])
    assert np.linalg.norm(fd - H) / np.linalg.norm(H) < 1e-6
    np.testing.assert_allclose(p.hvp(x, v), H @ v, rtol=1e-12, atol=1e-15)
    assert p.has_hvp and p.has_hess


def _secant_ratios(p: problems.Problem, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """||g(x) - g(y)|| / ||x - y|| and (g(x) - g(y))'(x - y) / ||x - y||^2 for each pair."""
    lip, mono = [], []
    for x, y in zip(xs, ys, strict=True):
        dg, dx = p.grad(x) - p.grad(y), x - y
        lip.append(np.linalg.norm(dg) / np.linalg.norm(dx))
        mono.append(dg @ dx / (dx @ dx))
    return np.array(lip), np.array(mono)


@pytest.mark.parametrize("params", [{"n": 100, "d": 5, "seed": 4}, {"data": "breast_cancer"}])
def test_L_and_mu_valid_on_random_pairs_and_tight(params: dict) -> None:
    p = problems.make("logistic", **params)
    rng = np.random.default_rng(5)
    m = 1500
    scales = rng.choice([1e-3, 0.1, 1.0, 10.0], size=(m, 1))
    xs = scales * rng.standard_normal((m, p.dim))
    ys = xs + scales * rng.standard_normal((m, p.dim)) * rng.choice([1e-3, 1.0], size=(m, 1))
    lip, mono = _secant_ratios(p, xs, ys)
    # tolerance: rounding in g(x) - g(y) for the closest pairs (||x - y|| ~ 1e-6)
    assert lip.max() <= p.L * (1 + 1e-8)
    assert mono.min() >= p.mu * (1 - 1e-6)
    # Tight: at w = 0 every sample has sigma(0) sigma(0) = 1/4, so along the top right singular
    # vector of X the secant ratio reaches ||X||^2/(4n) + lam; a 1%-smaller "L" is violated there.
    top = np.linalg.svd(p.X_train)[2][0]
    lip_top, _ = _secant_ratios(p, 1e-3 * top[None, :], -1e-3 * top[None, :])
    assert lip_top[0] <= p.L * (1 + 1e-8)
    assert lip_top[0] > 0.99 * p.L
    # ... and far out, where every margin saturates, the curvature falls to lam: 1.01 mu is violated.
    far = 1e3 * rng.standard_normal((20, p.dim))
    _, mono_far = _secant_ratios(p, far, far + 1e-3 * rng.standard_normal((20, p.dim)))
    assert mono_far.min() < 1.01 * p.mu


def test_constants_reported() -> None:
    p = problems.make("logistic", n=100, d=5, seed=4, lam=0.05)
    n = p.n_samples
    assert p.L == pytest.approx(np.linalg.norm(p.X_train, 2) ** 2 / (4 * n) + 0.05, rel=1e-14)
    assert p.mu == 0.05 and p.convex and p.L_region == "global"
    assert p.X_train.shape == (n, 6) and np.all(p.X_train[:, -1] == 1.0)
    assert problems.make("logistic", n=100, d=5, seed=4, intercept=False).dim == 5


def test_reference_optimum_certified(cancer: problems.Problem) -> None:
    p = cancer
    cert = p.reference_certificate
    assert p.reference == "cvxpy:CLARABEL"
    assert cert["status"] == "optimal" and cert["solver"] == "CLARABEL"
    assert cert["cross_check_rel_diff_f"] <= 1e-8
    assert cert["grad_norm"] == pytest.approx(np.linalg.norm(p.grad(p.x_star)), rel=1e-6)
    assert np.linalg.norm(p.grad(p.x_star)) < 1e-12
    assert cert["grad_norm_cvxpy"] >= cert["grad_norm"]  # polishing did not make it worse
    assert p.value(p.x_star) == pytest.approx(p.f_star, rel=1e-15)
    rng = np.random.default_rng(6)
    for scale in (1e-6, 1e-2, 1.0):
        for _ in range(50):
            assert p.value(p.x_star + scale * rng.standard_normal(p.dim)) >= p.f_star
    # the strong-convexity certificate bounds the distance to the true minimiser
    assert cert["dist_bound"] == pytest.approx(cert["grad_norm"] / p.mu)


def test_reference_on_generated_data_and_disk_cache() -> None:
    params = {"n": 120, "d": 6, "seed": 9, "lam": 1e-3}
    p = problems.make("logistic", **params)
    f_star, cert = p.f_star, p.reference_certificate
    assert "cached" not in cert and cert["cross_check_rel_diff_f"] <= 1e-8
    q = problems.make("logistic", **params)
    assert q.f_star == f_star and q.reference_certificate["cached"] is True
    np.testing.assert_array_equal(q.x_star, p.x_star)


def test_solver_failure_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    p = problems.make("logistic", n=80, d=5, seed=11)
    monkeypatch.setattr(logistic_module, "CLARABEL_SETTINGS", (("2 iterations", {"max_iter": 2}),))
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", "off")
    with pytest.raises(SolverError, match="CLARABEL ended with status 'user_limit'"):
        p.f_star  # noqa: B018


def test_cross_check_disagreement_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    p = problems.make("logistic", n=80, d=5, seed=12)
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", "off")
    monkeypatch.setattr(type(p), "_solve_cvxpy", lambda self: (np.full(self.dim, 0.5), {"status": "optimal"}))
    with pytest.raises(SolverError, match="cross-check"):
        p.f_star  # noqa: B018


def test_minibatch_partition_and_value_and_grad() -> None:
    p = problems.make("logistic", n=200, d=4, seed=2)  # 150 training samples
    x = np.random.default_rng(3).standard_normal(p.dim)
    perm = np.random.default_rng(4).permutation(p.n_samples)
    batches = perm.reshape(5, 30)
    assert np.mean([p.value(x, b) for b in batches]) == pytest.approx(p.value(x), rel=1e-14)
    np.testing.assert_allclose(np.mean([p.grad(x, b) for b in batches], axis=0), p.grad(x), rtol=1e-13, atol=1e-16)
    f, g = p.value_and_grad(x)
    assert f == p.value(x) and np.array_equal(g, p.grad(x))
    fb, gb = p.value_and_grad(x, batches[0])
    assert fb == p.value(x, batches[0]) and np.array_equal(gb, p.grad(x, batches[0]))
    assert p.value(x, np.arange(p.n_samples)) == pytest.approx(p.value(x), rel=1e-15)


def test_test_value_and_accuracy() -> None:
    p = problems.make("logistic", n=200, d=4, seed=2)
    x = np.random.default_rng(5).standard_normal(p.dim)
    expected = np.mean(np.log1p(np.exp(-p.y_test * (p.X_test @ x))))
    assert p.test_value(x) == pytest.approx(expected, rel=1e-13)
    acc = p.accuracy(x, split="test")
    assert acc == np.mean(np.sign(p.X_test @ x) == p.y_test)
    assert 0.0 <= p.accuracy(x) <= 1.0
    with pytest.raises(UserInputError, match="split"):
        p.accuracy(x, split="validation")


def test_digits_labels_are_even_vs_odd() -> None:
    p = problems.make("logistic", data="digits", seed=3)
    ds = datasets.load("digits", seed=3)
    np.testing.assert_array_equal(p.y_train, np.where(ds.y_train % 2 == 0, 1.0, -1.0))
    np.testing.assert_array_equal(p.X_train[:, :-1], ds.X_train)
    assert p.dim == 65 and p.n_samples == ds.y_train.size


def test_params_rebuild_and_determinism() -> None:
    p = problems.make("logistic", n=90, d=3, seed=8, lam=0.2)
    assert p.params == {"data": "linear", "n": 90, "d": 3, "separation": 2.0, "noise": 0.05, "lam": 0.2,
                        "intercept": True, "test_fraction": 0.25, "seed": 8}
    q = problems.make("logistic", **p.params)
    assert p.X_train.tobytes() == q.X_train.tobytes() and p.y_test.tobytes() == q.y_test.tobytes()
    assert problems.make("logistic", data="breast_cancer").params["n"] is None
    info = problems.describe("logistic")
    assert info["convex"] is True and "lam" in info["mu"]


def test_bad_input() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'breast_cancer'"):
        problems.make("logistic", data="brest_cancer")
    with pytest.raises(UserInputError, match="data: the logistic family takes"):
        problems.make("logistic", data="moons")
    with pytest.raises(UserInputError, match="lam: must be > 0"):
        problems.make("logistic", lam=0.0)
    with pytest.raises(UserInputError, match="n: applies to generated data"):
        problems.make("logistic", data="digits", n=100)
    with pytest.raises(UserInputError, match="test_fraction"):
        problems.make("logistic", test_fraction=1.0)
    with pytest.raises(UserInputError, match="noise"):
        problems.make("logistic", noise=0.7)
    with pytest.raises(UserInputError, match="intercept"):
        problems.make("logistic", intercept="yes")
    p = problems.make("logistic", n=40, d=2)
    for bad in (np.zeros(p.dim, dtype=np.float32), np.zeros(p.dim + 1), np.zeros(p.dim, dtype=int), [0.0] * p.dim):
        with pytest.raises(ValueError, match="x"):
            p.value(bad)
    with pytest.raises(ValueError, match="idx"):
        p.grad(p.x0, np.array([0, p.n_samples]))


def _single_sample_ratios(p: problems.Problem, xs: np.ndarray, ys: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """||grad phi_i(x) - grad phi_i(y)|| / ||x - y|| for the single-sample functions phi_i = value(., [i])."""
    out = np.empty(len(xs))
    for k, (x, y, i) in enumerate(zip(xs, ys, idx, strict=True)):
        one = np.array([i])
        out[k] = np.linalg.norm(p.grad(x, one) - p.grad(y, one)) / np.linalg.norm(x - y)
    return out


@pytest.mark.parametrize("params", [{"n": 60, "d": 4, "seed": 2, "lam": 0.05}, {"data": "breast_cancer"}])
def test_L_max_bounds_every_single_sample_gradient_and_is_tight(params: dict) -> None:
    p = problems.make("logistic", **params)
    norms2 = np.sum(p.X_train**2, axis=1)
    assert p.L_max == pytest.approx(norms2.max() / 4 + p.lam, rel=1e-14)
    assert p.L <= p.L_max  # ||X||^2 / n <= max_i ||x_i||^2
    rng = np.random.default_rng(8)
    m = 2000
    scales = rng.choice([1e-3, 0.1, 1.0, 10.0], size=(m, 1))
    xs = scales * rng.standard_normal((m, p.dim))
    ys = xs + scales * rng.standard_normal((m, p.dim)) * rng.choice([1e-3, 1.0], size=(m, 1))
    ratios = _single_sample_ratios(p, xs, ys, rng.integers(0, p.n_samples, size=m))
    assert ratios.max() <= p.L_max * (1 + 1e-8)
    # tight: around w = 0 along the longest row x_i the curvature of phi_i is ||x_i||^2/4 + lam
    i = int(np.argmax(norms2))
    u = p.X_train[i] / np.sqrt(norms2[i])
    top = _single_sample_ratios(p, 1e-4 * u[None, :], -1e-4 * u[None, :], np.array([i]))[0]
    assert 0.999 * p.L_max < top <= p.L_max * (1 + 1e-8)


def test_a_stale_or_tampered_cached_reference_is_recomputed(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path))
    params = {"n": 60, "d": 4, "seed": 7, "lam": 1e-2}
    p = problems.make("logistic", **params)
    f_star, x_star = p.f_star, p.x_star
    (entry,) = (tmp_path / "logistic").glob("*.npz")
    q = problems.make("logistic", **params)
    assert q.reference_certificate["cached"] is True and q.f_star == f_star  # a good entry is used
    with np.load(entry) as data:
        good = dict(data)
    shifted = x_star + 0.05 * np.random.default_rng(0).standard_normal(p.dim)
    tampered = [
        {"f_star": np.array(f_star - 1.0)},  # a wrong f* (e.g. -0.52 for 0.478)
        {"x_star": shifted, "f_star": np.array(p.value(shifted))},  # consistent f(x*) = f*, but x* not optimal
        {"x_star": x_star[:-1]},  # wrong shape (another instance's entry)
        {"x_star": np.full(p.dim, np.nan)},
        {"meta": np.array(str(good["meta"]).replace("cvxpy:CLARABEL", "closed form"))},
    ]
    for change in tampered:
        np.savez(entry, **(good | change))
        r = problems.make("logistic", **params)
        assert "cached" not in r.reference_certificate, change
        assert r.f_star == f_star and np.array_equal(r.x_star, x_star)
        # and the recomputed entry was written back
        assert problems.make("logistic", **params).reference_certificate["cached"] is True
