"""Tests of the ``quadratic`` family: oracle, exact L/mu, closed-form optimum, singular variant."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import problems
from problems._linalg import fd_gradient, fd_jacobian, power_iteration
from problems.errors import UserInputError
from problems.families.quadratic import SPECTRA

VARIANTS = [
    {"dim": 12, "kappa": 50.0, "spectrum": s, "seed": 1} for s in SPECTRA
] + [
    {"dim": 12, "kappa": 30.0, "rank": 7, "seed": 2},
    {"dim": 10, "kappa": 10.0, "basis": "diagonal", "L": 3.0, "seed": 3},
]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("kw", VARIANTS)
def test_gradient_and_hessian_match_finite_differences(kw):
    p = problems.make("quadratic", **kw)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = 3.0 * rng.standard_normal(p.dim)
        assert _rel(fd_gradient(lambda z: p.value(z), x), p.grad(x)) < 1e-6
        H = p.hess(x)
        assert _rel(fd_jacobian(p.grad, x), H) < 1e-6
        v = rng.standard_normal(p.dim)
        np.testing.assert_allclose(p.hvp(x, v), H @ v, rtol=1e-12, atol=1e-12 * np.abs(H).max())
        f, g = p.value_and_grad(x)
        assert f == pytest.approx(p.value(x), rel=1e-13)
        np.testing.assert_allclose(g, p.grad(x), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kw", VARIANTS)
def test_L_is_valid_and_tight_mu_is_valid(kw):
    p = problems.make("quadratic", **kw)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2000, p.dim)) * rng.uniform(0.01, 10.0, size=(2000, 1))
    Y = X + rng.standard_normal((2000, p.dim)) * rng.uniform(1e-3, 10.0, size=(2000, 1))
    G = np.array([p.grad(x) for x in X]) - np.array([p.grad(y) for y in Y])
    D = X - Y
    ratios = np.linalg.norm(G, axis=1) / np.linalg.norm(D, axis=1)
    assert ratios.max() <= p.L * (1 + 1e-12)
    # strong convexity: <g(x) - g(y), x - y> >= mu ||x - y||^2
    curv = np.einsum("ij,ij->i", G, D) / np.einsum("ij,ij->i", D, D)
    assert curv.min() >= p.mu - 1e-12 * p.L
    # tightness: power iteration on the Hessian reaches L
    rho, v, _ = power_iteration(lambda u: p.hvp(p.x0, u), p.dim, seed=1)
    assert abs(rho - p.L) <= 1e-6 * p.L
    # and mu: the top eigenvalue of L I - Q is L - mu
    rho_low, w, _ = power_iteration(lambda u: p.L * u - p.hvp(p.x0, u), p.dim, seed=2)
    assert abs((p.L - rho_low) - p.mu) <= 1e-6 * p.L
    # the checks can fail: a slightly smaller L is violated along v, a larger mu along w
    ratio_v = np.linalg.norm(p.grad(p.x0 + v) - p.grad(p.x0)) / np.linalg.norm(v)
    assert ratio_v > p.L * (1 - 1e-4)
    curv_w = float(w @ (p.grad(p.x0 + w) - p.grad(p.x0))) / float(w @ w)
    assert curv_w < p.mu + 1e-4 * p.L + 1e-3 * p.L / p.kappa


def test_spectrum_shapes():
    L, kappa, d = 2.0, 100.0, 9
    lin = problems.make("quadratic", dim=d, kappa=kappa, L=L, spectrum="linear").eigenvalues
    np.testing.assert_allclose(np.diff(lin), (L - L / kappa) / (d - 1), rtol=1e-12)
    geo = problems.make("quadratic", dim=d, kappa=kappa, L=L, spectrum="geometric").eigenvalues
    np.testing.assert_allclose(geo[1:] / geo[:-1], kappa ** (1 / (d - 1)), rtol=1e-12)
    two = problems.make("quadratic", dim=d, kappa=kappa, L=L, spectrum="two_cluster").eigenvalues
    assert np.all(two[: d // 2] <= L / kappa * kappa**0.05 * (1 + 1e-12))
    assert np.all(two[d // 2 :] >= L * kappa**-0.05 * (1 - 1e-12))
    for s in SPECTRA:
        p = problems.make("quadratic", dim=d, kappa=kappa, L=L, spectrum=s, seed=4)
        assert p.eigenvalues[0] == L / kappa and p.eigenvalues[-1] == L
        np.testing.assert_allclose(np.linalg.eigvalsh(p.Q), p.eigenvalues, rtol=1e-12, atol=1e-14)
        assert p.L == pytest.approx(L, rel=1e-14) and p.L >= L
        assert p.mu == pytest.approx(L / kappa, rel=1e-12) and p.mu <= L / kappa
    diag = problems.make("quadratic", dim=d, basis="diagonal")
    np.testing.assert_array_equal(diag.Q, np.diag(diag.eigenvalues))
    assert diag.L == 1.0 and diag.mu == 1.0 / 100.0


@pytest.mark.parametrize("kw", VARIANTS)
def test_closed_form_reference(kw):
    p = problems.make("quadratic", **kw)
    assert p.reference == "closed form"
    xs, fs = p.x_star, p.f_star
    cert = p.reference_certificate
    assert cert["grad_norm"] == pytest.approx(np.linalg.norm(p.grad(xs)), abs=1e-300)
    assert cert["grad_norm_rel"] < 1e-13
    assert fs == pytest.approx(p.value(xs), rel=1e-12)
    # independent cross-check: the minimum-norm least-squares solution of Qx = b
    x_ls = np.linalg.lstsq(p.Q, p.b, rcond=None)[0]
    np.testing.assert_allclose(xs, x_ls, rtol=1e-9, atol=1e-9 * np.linalg.norm(xs))
    rng = np.random.default_rng(1)
    vals = [p.value(xs + s * rng.standard_normal(p.dim)) for s in (1e-3, 1e-1, 1, 10) for _ in range(200)]
    assert min(vals) >= fs - 1e-12 * abs(fs)
    assert cert["unique"] == (p.rank == p.dim)


def test_singular_variant_minimum_norm_and_reachable_from_x0():
    p = problems.make("quadratic", dim=15, kappa=10.0, rank=9, seed=7)
    assert p.mu == 0.0 and p.convex and p.rank == 9
    assert np.sum(np.abs(np.linalg.eigvalsh(p.Q)) < 1e-12) == 6
    null = p.eigenvectors[:, :6]
    assert np.abs(null.T @ p.x_star).max() < 1e-12  # x* is orthogonal to the null space: minimum norm
    assert np.abs(null.T @ p.b).max() < 1e-12  # b in range(Q): bounded below
    assert np.abs(null.T @ p.x0).max() < 1e-12  # x0 in range(Q)
    x = p.x0
    for _ in range(400):
        x = x - p.grad(x) / p.L
    assert np.linalg.norm(x - p.x_star) < 1e-8 * max(1.0, np.linalg.norm(p.x_star))
    # a start outside range(Q) does not reach the minimum-norm x*: the distance plateaus
    y = p.x0 + null[:, 0]
    for _ in range(400):
        y = y - p.grad(y) / p.L
    assert np.linalg.norm(y - p.x_star) == pytest.approx(1.0, rel=1e-6)
    assert p.value(y) == pytest.approx(p.f_star, rel=1e-10, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    dim=st.integers(1, 25),
    log_kappa=st.floats(0.0, 8.0),
    spectrum=st.sampled_from(SPECTRA),
    rank_frac=st.floats(0.1, 1.0),
    L=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**32),
)
def test_random_instances_have_exact_constants(dim, log_kappa, spectrum, rank_frac, L, seed):
    rank = max(1, round(rank_frac * dim))
    kappa = 1.0 if rank == 1 else float(10.0**log_kappa)
    p = problems.make("quadratic", dim=dim, kappa=kappa, spectrum=spectrum, L=L, rank=rank, seed=seed)
    ev = np.linalg.eigvalsh(p.Q)
    assert ev[-1] <= p.L and p.L == pytest.approx(L, rel=1e-13)
    if rank == dim:
        assert ev[0] >= p.mu * (1 - 1e-9) - 1e-15 * L and p.mu == pytest.approx(L / kappa, rel=1e-9)
    else:
        assert p.mu == 0.0
    assert np.linalg.norm(p.grad(p.x_star)) <= 1e-12 * L * max(1.0, np.linalg.norm(p.x_star)) * kappa
    assert p.value(p.x0) >= p.f_star - 1e-12 * abs(p.f_star)


def test_reproducible_and_seed_dependent():
    a = problems.make("quadratic", dim=8, seed=3)
    b = problems.make("quadratic", dim=8, seed=3)
    c = problems.make("quadratic", dim=8, seed=4)
    for name in ("Q", "b", "x0"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name))
    assert a.f_star == b.f_star
    with pytest.raises(ValueError):
        a.Q[0, 0] = 1.0  # data are read-only


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"dim": -3}, "dim"),
        ({"dim": 0}, "dim"),
        ({"dim": 10**6}, "dim"),
        ({"kappa": 0.5}, "kappa"),
        ({"kappa": float("inf")}, "kappa"),
        ({"spectrum": "cubic"}, "spectrum"),
        ({"L": 0.0}, "L"),
        ({"L": -1.0}, "L"),
        ({"rank": 0}, "rank"),
        ({"rank": 21}, "rank"),
        ({"basis": "hadamard"}, "basis"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"dim": 1}, "kappa"),
        ({"kappa": 1e308, "L": 1e-300}, "kappa"),
    ],
)
def test_bad_parameters_name_the_field(kw, field):
    with pytest.raises(UserInputError, match=rf"^{field}:"):
        problems.make("quadratic", **kw)


def test_one_dimensional_instance():
    p = problems.make("quadratic", dim=1, kappa=1.0, L=4.0)
    assert p.L == 4.0 and p.mu == 4.0
    assert p.x_star[0] == pytest.approx(p.b[0] / 4.0)
