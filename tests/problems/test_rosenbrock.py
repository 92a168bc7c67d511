"""Tests of ``rosenbrock``: oracle, known optimum, and L valid exactly on its stated region."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import problems
from problems._linalg import fd_gradient, fd_jacobian
from problems.errors import UserInputError
from problems.families.rosenbrock import gershgorin_L

DIMS = [2, 3, 6, 11]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _definition(x: np.ndarray, a: float = 100.0) -> float:
    return float(sum(a * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(x.size - 1)))


@pytest.mark.parametrize("dim", DIMS)
def test_oracle_matches_definition_and_finite_differences(dim):
    p = problems.make("rosenbrock", dim=dim)
    rng = np.random.default_rng(dim)
    for _ in range(4):
        x = rng.uniform(-2, 2, dim)
        assert p.value(x) == pytest.approx(_definition(x), rel=1e-13)
        assert _rel(fd_gradient(lambda z: p.value(z), x), p.grad(x)) < 1e-6
        H = p.hess(x)
        assert np.array_equal(H, H.T)
        assert _rel(fd_jacobian(p.grad, x), H) < 1e-6
        v = rng.standard_normal(dim)
        np.testing.assert_allclose(p.hvp(x, v), H @ v, rtol=1e-13, atol=1e-10)
        f, g = p.value_and_grad(x)
        assert f == p.value(x)
        np.testing.assert_array_equal(g, p.grad(x))


@settings(max_examples=30, deadline=None)
@given(dim=st.integers(2, 12), a=st.floats(0.5, 200.0), seed=st.integers(0, 2**32))
def test_random_instances_gradient_and_hessian(dim, a, seed):
    p = problems.make("rosenbrock", dim=dim, a=a)
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, dim)
    assert p.value(x) == pytest.approx(_definition(x, a), rel=1e-12)
    assert _rel(fd_gradient(lambda z: p.value(z), x), p.grad(x)) < 1e-6
    assert _rel(fd_jacobian(p.grad, x), p.hess(x)) < 1e-6


@pytest.mark.parametrize("dim", DIMS)
def test_known_optimum_and_standard_start(dim):
    p = problems.make("rosenbrock", dim=dim)
    assert p.reference == "known" and p.f_star == 0.0
    assert np.array_equal(p.x_star, np.ones(dim))
    assert p.reference_certificate["grad_norm"] == 0.0
    assert np.array_equal(p.grad(np.ones(dim)), np.zeros(dim))
    expected = np.array([-1.2 if i % 2 == 0 else 1.0 for i in range(dim)])
    assert np.array_equal(p.x0, expected)
    rng = np.random.default_rng(0)
    assert min(p.value(rng.uniform(-3, 3, dim)) for _ in range(500)) > 0.0
    assert p.convex is False and p.mu is None
    # nonconvex: a Hessian with a negative eigenvalue exists
    x = np.zeros(dim)
    x[1] = 1.0
    assert np.linalg.eigvalsh(p.hess(x))[0] < 0


def test_classic_values():
    p = problems.make("rosenbrock")
    assert p.dim == 2 and p.value(p.x0) == pytest.approx(24.2)
    np.testing.assert_allclose(p.grad(p.x0), [-215.6, -88.0])


def _secant_ratios(p, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(p.grad(x) - p.grad(y)) / np.linalg.norm(x - y) for x, y in zip(X, Y, strict=True)])


@pytest.mark.parametrize(("dim", "radius"), [(2, None), (5, None), (2, 1.5), (7, 3.0)])
def test_L_valid_on_its_region(dim, radius):
    p = problems.make("rosenbrock", dim=dim, radius=radius)
    w = p.box
    assert p.L == gershgorin_L(p.a, w)
    rng = np.random.default_rng(1)
    m = 1500
    X = rng.uniform(-1, 1, (m, dim)) * w
    Y = np.clip(X + rng.standard_normal((m, dim)) * w * rng.uniform(1e-6, 0.5, (m, 1)), -w, w)
    # pairs near the corners, where the curvature is largest
    C = rng.choice([-1.0, 1.0], (m, dim)) * w * rng.uniform(0.98, 1.0, (m, dim))
    D = np.clip(C + rng.standard_normal((m, dim)) * w * 1e-4, -w, w)
    X, Y = np.vstack((X, C)), np.vstack((Y, D))
    assert all(p.in_region(x) and p.in_region(y) for x, y in zip(X, Y, strict=True))
    ratios = _secant_ratios(p, X, Y)
    assert ratios.max() <= p.L
    # the Hessian norm itself never exceeds L on the box (exact eigenvalues)
    assert max(np.abs(np.linalg.eigvalsh(p.hess(c))).max() for c in C[:200]) <= p.L
    assert p.L_estimate <= p.L and "not a bound" in p.L_estimate_method


def test_L_is_not_global_outside_the_region():
    p = problems.make("rosenbrock", dim=2, radius=1.5)
    x = np.array([10.0, -10.0])
    y = x + np.array([1e-4, 0.0])
    assert not p.in_region(x)
    assert _secant_ratios(p, x[None], y[None])[0] > p.L


@pytest.mark.parametrize("dim", [2, 3, 6])
def test_default_box_contains_the_sublevel_set(dim):
    p = problems.make("rosenbrock", dim=dim)
    F = p.value(p.x0)
    assert p.in_region(p.x0) and p.in_region(p.x_star)
    assert "sublevel set" in p.L_region
    rng = np.random.default_rng(2)
    s, t = 1 + np.sqrt(F), (1 + np.sqrt(F)) ** 2 + np.sqrt(F / p.a)
    np.testing.assert_allclose(p.box, [s] * (dim - 1) + [t])
    # points of S on rays from x* and x0 (including the valley direction x_{i+1} ~ x_i^2)
    reach = 0.0
    found = 0
    grid = np.linspace(0.0, 2.0, 200)[:, None]
    for _ in range(150):
        start = p.x_star if rng.uniform() < 0.5 else p.x0
        end = rng.uniform(-1, 1, dim) * p.box * 10 ** rng.uniform(-2, 0)
        end[1:] = np.where(rng.uniform(size=dim - 1) < 0.5, end[:-1] ** 2, end[1:])
        pts = start + grid * (end - start)
        inside = [x for x in pts if p.value(x) <= F]
        found += len(inside)
        for x in inside:
            assert p.in_region(x)
            reach = max(reach, float(np.max(np.abs(x) / p.box)))
    assert found > 500
    # an extreme point of S: x_{n-1} = 1 + theta sqrt F with the valley terms zero (x_i = sqrt(x_{i+1})
    # before it, x_n = x_{n-1}^2 after), theta as large as f <= F allows; it nearly reaches the box's face
    def point(theta: float) -> np.ndarray:
        x = np.ones(dim)
        x[-2] = 1 + theta * np.sqrt(F)
        for i in range(dim - 3, -1, -1):
            x[i] = np.sqrt(x[i + 1])
        x[-1] = x[-2] ** 2
        return x

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if p.value(point(mid)) <= F else (lo, mid)
    x = point(lo)
    assert p.value(x) <= F and p.in_region(x)
    reach = max(reach, float(np.max(np.abs(x) / p.box)))
    assert reach > 0.9  # the box is nearly attained, so the containment check is not vacuous


def test_box_bound_formula():
    # cube of radius r: 12 a r^2 + 12 a r + 2 a + 2
    for a, r in [(100.0, 1.0), (1.0, 3.0), (7.5, 0.2)]:
        assert gershgorin_L(a, np.full(4, r)) == pytest.approx(12 * a * r * r + 12 * a * r + 2 * a + 2)


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"dim": 1}, "dim"), ({"dim": -4}, "dim"), ({"a": 0.0}, "a"), ({"a": -1.0}, "a"), ({"radius": 0.0}, "radius"),
     ({"radius": -2.0}, "radius"), ({"radius": "big"}, "radius")],
)
def test_bad_parameters(kw, field):
    with pytest.raises(UserInputError, match=rf"^{field}:"):
        problems.make("rosenbrock", **kw)


def test_in_region_validates_input():
    p = problems.make("rosenbrock", dim=3)
    with pytest.raises(ValueError):
        p.in_region(np.zeros(2))
    with pytest.raises(ValueError):
        p.tridiagonal(np.zeros(3, dtype=np.float32))
