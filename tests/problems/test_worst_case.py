"""Tests of ``worst_case``: Nesterov's worst function, its closed-form optimum and lower bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

import problems
from problems._linalg import fd_gradient, fd_jacobian, power_iteration
from problems.errors import UserInputError
from problems.families.worst_case import worst_case_lower_bound

CASES = [{"dim": 1}, {"dim": 2}, {"dim": 9}, {"dim": 30, "k": 11, "L": 2.5}, {"dim": 25, "k": 25, "L": 0.3}]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _matrix(p) -> np.ndarray:
    """The Hessian written from the definition: L/4 tridiag(-1, 2, -1) on the first k coordinates."""
    k, d = p.k, p.dim
    A = np.zeros((d, d))
    A[:k, :k] = 2 * np.eye(k) - np.eye(k, k=1) - np.eye(k, k=-1)
    return p.L / 4 * A


def _definition(p, x: np.ndarray) -> float:
    k = p.k
    y = x[:k]
    return p.L / 4 * (0.5 * (y[0] ** 2 + np.sum((y[:-1] - y[1:]) ** 2) + y[-1] ** 2) - y[0])


@pytest.mark.parametrize("kw", CASES)
def test_oracle_matches_definition_and_finite_differences(kw):
    p = problems.make("worst_case", **kw)
    H = _matrix(p)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = 2.0 * rng.standard_normal(p.dim)
        assert p.value(x) == pytest.approx(_definition(p, x), rel=1e-13, abs=1e-14)
        assert _rel(fd_gradient(lambda z: p.value(z), x), p.grad(x)) < 1e-6
        assert _rel(fd_jacobian(p.grad, x), p.hess(x)) < 1e-6
        np.testing.assert_allclose(p.hess(x), H, rtol=0, atol=1e-15)
        v = rng.standard_normal(p.dim)
        np.testing.assert_allclose(p.hvp(x, v), H @ v, rtol=1e-13, atol=1e-14)
        f, g = p.value_and_grad(x)
        assert f == pytest.approx(p.value(x), rel=1e-13, abs=1e-14)
        np.testing.assert_array_equal(g, p.grad(x))


@pytest.mark.parametrize("kw", CASES)
def test_closed_form_optimum(kw):
    p = problems.make("worst_case", **kw)
    k = p.k
    assert p.reference == "closed form"
    xs = p.x_star
    np.testing.assert_allclose(xs[:k], [1 - i / (k + 1) for i in range(1, k + 1)], rtol=1e-15)
    assert np.all(xs[k:] == 0)
    assert p.f_star == pytest.approx(p.L / 8 * (-1 + 1 / (k + 1)), rel=1e-15)
    assert p.f_star == pytest.approx(p.value(xs), rel=1e-13)
    assert p.reference_certificate["grad_norm"] < 1e-14 * p.L
    # cross-check: solve H x = e_1 L/4 directly
    x_lin = np.linalg.lstsq(_matrix(p), p.L / 4 * np.eye(p.dim)[0], rcond=None)[0]
    np.testing.assert_allclose(xs, x_lin, atol=1e-12)
    rng = np.random.default_rng(3)
    vals = [p.value(xs + s * rng.standard_normal(p.dim)) for s in (1e-3, 1e-1, 1.0, 10.0) for _ in range(250)]
    assert min(vals) >= p.f_star


@pytest.mark.parametrize("kw", CASES)
def test_L_is_a_valid_global_bound_and_mu_zero(kw):
    p = problems.make("worst_case", **kw)
    ev = np.linalg.eigvalsh(_matrix(p))
    assert p.lambda_max == pytest.approx(ev[-1], rel=1e-12) and p.lambda_max < p.L
    if p.k == p.dim:
        assert p.lambda_min == pytest.approx(ev[0], rel=1e-9, abs=1e-15)
    assert p.mu == 0.0 and p.convex
    rng = np.random.default_rng(9)
    X = rng.standard_normal((3000, p.dim)) * 5
    Y = X + rng.standard_normal((3000, p.dim)) * rng.uniform(1e-4, 5, size=(3000, 1))
    ratios = [np.linalg.norm(p.grad(x) - p.grad(y)) / np.linalg.norm(x - y) for x, y in zip(X, Y, strict=True)]
    assert max(ratios) <= p.L
    rho, v, _ = power_iteration(lambda u: p.hvp(p.x0, u), p.dim, seed=0)
    assert rho == pytest.approx(p.lambda_max, rel=1e-6)
    # a constant below the true top eigenvalue is violated along its eigenvector
    assert np.linalg.norm(p.grad(v) - p.grad(0 * v)) / np.linalg.norm(v) > 0.999 * p.lambda_max


def test_coordinates_after_k_are_free():
    p = problems.make("worst_case", dim=12, k=5)
    x = np.random.default_rng(1).standard_normal(12)
    y = x.copy()
    y[5:] = 100.0
    assert p.value(x) == p.value(y)
    assert np.all(p.grad(y)[5:] == 0)
    assert not p.reference_certificate["unique"]


def _run(p, t: int, accelerated: bool) -> list[np.ndarray]:
    """Gradient descent (lr 1/L) or Nesterov's accelerated gradient from x0; returns x_0..x_t."""
    x = p.x0
    y = x.copy()
    xs = [x]
    for s in range(t):
        if accelerated:
            x_new = y - p.grad(y) / p.L
            y = x_new + s / (s + 3) * (x_new - x)
            x = x_new
        else:
            x = x - p.grad(x) / p.L
        xs.append(x)
    return xs


@pytest.mark.parametrize("accelerated", [False, True])
def test_nesterov_lower_bound_holds_for_span_methods(accelerated):
    for t in (1, 3, 10, 25):
        p = problems.make("worst_case", dim=2 * t + 1 + 4, k=2 * t + 1)
        xs = _run(p, t, accelerated)
        for s, x in enumerate(xs):  # Krylov structure: x_s lives on the first s coordinates
            assert np.all(x[s:] == 0)
        R = np.linalg.norm(p.x0 - p.x_star)
        gap = p.value(xs[-1]) - p.f_star
        bound = worst_case_lower_bound(t, p.L, R)
        assert gap >= bound
        if accelerated:  # and it is tight up to a constant: AGD's upper bound 2 L R^2 / (t+1)^2
            assert gap <= 2 * p.L * R**2 / (t + 1) ** 2
    # the bound is not vacuous: a method that may leave the Krylov space (x = x*) breaks it
    assert p.value(p.x_star) - p.f_star < bound


def test_closed_form_lambda_values():
    p = problems.make("worst_case", dim=6, L=4.0)
    assert p.lambda_max == pytest.approx(2 + 2 * math.cos(math.pi / 7))
    assert p.lambda_min == pytest.approx(2 - 2 * math.cos(math.pi / 7))
    assert np.array_equal(p.x0, np.zeros(6))


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"dim": 0}, "dim"), ({"dim": -2}, "dim"), ({"k": 0}, "k"), ({"dim": 5, "k": 6}, "k"), ({"L": 0}, "L"),
     ({"L": -1.0}, "L"), ({"L": float("nan")}, "L"), ({"dim": 2.5}, "dim")],
)
def test_bad_parameters(kw, field):
    with pytest.raises(UserInputError, match=rf"^{field}:"):
        problems.make("worst_case", **kw)
