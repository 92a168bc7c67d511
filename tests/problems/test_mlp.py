"""Tests of the ``mlp`` family: backprop against torch autograd (float64) and finite differences,
exact Hessian-vector products, minibatch oracles, parameter layout, ERM extras, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import problems
from problems.errors import UnknownNameError, UserInputError
from problems.families import _mlp_curvature
from problems.families import mlp as mlp_module
from problems.families._mlp_curvature import HESS_MAX_DIM

TOY = {"n": 120, "hidden": 8}
SETTINGS = [
    {"data": "moons", **TOY, "activation": "tanh", "l2": 0.0},
    {"data": "moons", **TOY, "activation": "relu", "l2": 0.0},
    {"data": "spirals", **TOY, "activation": "tanh", "l2": 1e-2},
    {"data": "blobs", **TOY, "activation": "relu", "l2": 1e-2, "init": "he_uniform"},
    {"data": "digits", "hidden": 16, "activation": "tanh", "l2": 0.0},
    {"data": "digits", "hidden": 16, "activation": "relu", "l2": 1e-3},
]


def _point(p: problems.Problem, seed: int, scale: float = 0.3) -> np.ndarray:
    return p.x0 + scale * np.random.default_rng(seed).standard_normal(p.dim)


def _torch_loss(p: problems.Problem, theta: torch.Tensor, idx: np.ndarray | None = None) -> torch.Tensor:
    """The same objective written with torch ops, as a function of the flat parameter vector."""
    H, n_in, K = p.hidden, p.n_in, p.n_out
    a, b, c = H * n_in, H * n_in + H, H * n_in + H + K * H
    Wh, bh, Wy, by = theta[:a].reshape(H, n_in), theta[a:b], theta[b:c].reshape(K, H), theta[c:]
    rows = slice(None) if idx is None else torch.from_numpy(idx)
    X, y = torch.from_numpy(np.array(p.X_train))[rows], torch.from_numpy(np.array(p.y_train))[rows]
    act = torch.tanh if p.activation == "tanh" else torch.relu
    logits = act(X @ Wh.T + bh) @ Wy.T + by
    return torch.nn.functional.cross_entropy(logits, y) + 0.5 * p.l2 * ((Wh**2).sum() + (Wy**2).sum())


def _torch_value_and_grad(p: problems.Problem, x: np.ndarray, idx: np.ndarray | None = None):
    theta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    loss = _torch_loss(p, theta, idx)
    loss.backward()
    return loss.item(), theta.grad.numpy()


@pytest.fixture(scope="module", params=SETTINGS, ids=lambda s: "-".join(str(v) for v in s.values()))
def prob(request: pytest.FixtureRequest) -> problems.Problem:
    return problems.make("mlp", **request.param)


def test_backprop_equals_torch_autograd(prob: problems.Problem) -> None:
    for seed in (0, 1):
        x = _point(prob, seed)
        f, g = prob.value_and_grad(x)
        ft, gt = _torch_value_and_grad(prob, x)
        assert abs(f - ft) <= 1e-10 * abs(ft)
        assert np.linalg.norm(g - gt) <= 1e-10 * np.linalg.norm(gt)
    idx = np.arange(0, prob.n_samples, 3)
    f, g = prob.value_and_grad(x, idx)
    ft, gt = _torch_value_and_grad(prob, x, idx)
    assert abs(f - ft) <= 1e-10 * abs(ft) and np.linalg.norm(g - gt) <= 1e-10 * np.linalg.norm(gt)


def test_gradient_matches_central_differences(prob: problems.Problem) -> None:
    x = _point(prob, 2)
    g = prob.grad(x)
    rng = np.random.default_rng(3)
    coords = rng.choice(prob.dim, size=min(prob.dim, 60), replace=False)
    h = 1e-6
    fd = np.empty(coords.size)
    for k, i in enumerate(coords):
        e = np.zeros(prob.dim)
        e[i] = h
        fd[k] = (prob.value(x + e) - prob.value(x - e)) / (2 * h)
    assert np.linalg.norm(fd - g[coords]) / np.linalg.norm(g[coords]) < 1e-6
    # and along random directions (all coordinates at once)
    for _ in range(3):
        v = rng.standard_normal(prob.dim)
        dd = (prob.value(x + h * v) - prob.value(x - h * v)) / (2 * h)
        assert abs(dd - g @ v) <= 1e-6 * np.linalg.norm(g) * np.linalg.norm(v)


def test_hvp_is_exact(prob: problems.Problem) -> None:
    assert prob.has_hvp and prob.has_hess == (prob.dim <= HESS_MAX_DIM)
    x, v = _point(prob, 4), np.random.default_rng(5).standard_normal(prob.dim)
    hv = prob.hvp(x, v)
    theta = torch.tensor(x, dtype=torch.float64)
    _, hv_t = torch.autograd.functional.hvp(lambda t: _torch_loss(prob, t), theta, torch.from_numpy(v))
    assert np.linalg.norm(hv - hv_t.numpy()) <= 1e-10 * np.linalg.norm(hv)
    h = 1e-6
    fd = (prob.grad(x + h * v) - prob.grad(x - h * v)) / (2 * h)
    assert np.linalg.norm(fd - hv) <= 1e-5 * np.linalg.norm(hv)


def test_minibatch_partition_and_value_and_grad(prob: problems.Problem) -> None:
    x = _point(prob, 6)
    n = prob.n_samples
    k = next(k for k in (5, 4, 3, 2, 1) if n % k == 0)
    batches = np.random.default_rng(7).permutation(n).reshape(k, n // k)
    assert np.mean([prob.value(x, b) for b in batches]) == pytest.approx(prob.value(x), rel=1e-13)
    g_mean = np.mean([prob.grad(x, b) for b in batches], axis=0)
    assert np.linalg.norm(g_mean - prob.grad(x)) <= 1e-13 * np.linalg.norm(prob.grad(x))
    f, g = prob.value_and_grad(x)
    assert f == prob.value(x) and np.array_equal(g, prob.grad(x))
    fb, gb = prob.value_and_grad(x, batches[0])
    assert fb == prob.value(x, batches[0]) and np.array_equal(gb, prob.grad(x, batches[0]))


def test_constants_and_reference(prob: problems.Problem) -> None:
    assert prob.convex is False and prob.mu is None and prob.L_max is None
    assert prob.f_star is None and prob.x_star is None and prob.reference == "unknown"
    assert prob.L_estimate > 0 and np.isfinite(prob.L_estimate)
    assert "power iteration" in prob.L_estimate_method and "not a certified bound" in prob.L_estimate_method
    if prob.activation == "tanh":
        assert prob.L > prob.L_estimate and prob.in_region(prob.x0)  # a bound on the region holds at x0 too
        assert prob.L_region.startswith("the set ||W^y||_2 <= ") and prob.L_region != "global"
    else:
        assert prob.L is None and prob.L_radius is None and not prob.in_region(prob.x0)
        assert prob.L_region.startswith("none: with ReLU")
    # no reference and nothing cached on disk
    assert prob._reference_cache_key() is None


def test_L_estimate_is_the_hessian_norm_at_x0() -> None:
    p = problems.make("mlp", data="blobs", n=60, hidden=4)  # dim 4*2 + 4 + 3*4 + 3 = 27
    I = np.eye(p.dim)
    H = np.column_stack([p.hvp(p.x0, I[i]) for i in range(p.dim)])
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    norm = np.abs(np.linalg.eigvalsh(0.5 * (H + H.T))).max()
    assert p.L_estimate <= norm * (1 + 1e-12)  # power iteration approaches ||H|| from below
    assert p.L_estimate > 0.99 * norm
    # local only: scaling the output weights W^y by 20 multiplies the curvature (no global L)
    big = p.x0
    big[p.hidden * (p.n_in + 1) : -p.n_out] *= 20.0
    Hb = np.column_stack([p.hvp(big, I[i]) for i in range(p.dim)])
    assert np.abs(np.linalg.eigvalsh(0.5 * (Hb + Hb.T))).max() > 20 * norm


def test_parameter_layout() -> None:
    p = problems.make("mlp", data="blobs", n=60, hidden=5)
    H, n_in, K = 5, 2, 3
    assert (p.n_in, p.hidden, p.n_out, p.dim) == (n_in, H, K, H * n_in + H + K * H + K)
    x = np.arange(p.dim, dtype=np.float64)
    Wh, bh, Wy, by = p.unflatten(x)
    np.testing.assert_array_equal(Wh, x[: H * n_in].reshape(H, n_in))
    np.testing.assert_array_equal(bh, x[H * n_in : H * n_in + H])
    np.testing.assert_array_equal(Wy, x[H * n_in + H : H * n_in + H + K * H].reshape(K, H))
    np.testing.assert_array_equal(by, x[-K:])
    assert np.shares_memory(Wh, x)
    np.testing.assert_array_equal(p.flatten(Wh, bh, Wy, by), x)
    with pytest.raises(UserInputError, match="Wy"):
        p.flatten(Wh, bh, Wy.T, by)


def test_initialisation_and_determinism() -> None:
    p = problems.make("mlp", data="moons", n=100, hidden=50, seed=4)
    Wh, bh, Wy, by = p.unflatten(p.x0)
    assert np.all(bh == 0) and np.all(by == 0)
    a_h, a_y = np.sqrt(6 / (2 + 50)), np.sqrt(6 / (50 + 2))
    assert np.abs(Wh).max() <= a_h and np.abs(Wh).max() > 0.9 * a_h and np.abs(Wy).max() <= a_y
    q = problems.make("mlp", **p.params)
    assert p.x0.tobytes() == q.x0.tobytes() and p.X_train.tobytes() == q.X_train.tobytes()
    assert p.L_estimate == q.L_estimate
    # data and initialisation use independent streams: a wider net sees the same data
    r = problems.make("mlp", data="moons", n=100, hidden=7, seed=4)
    assert r.X_train.tobytes() == p.X_train.tobytes()
    assert problems.make("mlp", data="moons", n=100, hidden=50, seed=5).x0.tobytes() != p.x0.tobytes()
    he = problems.make("mlp", data="moons", n=100, hidden=50, seed=4, init="he_uniform")
    assert np.abs(he.unflatten(he.x0)[0]).max() > a_h  # sqrt(6/2) > sqrt(6/52)


def test_defaults_and_params() -> None:
    p = problems.make("mlp")
    assert p.params == {"data": "moons", "n": 200, "noise": 0.1, "hidden": 32, "activation": "tanh", "l2": 0.0,
                        "init": "glorot_uniform", "test_fraction": 0.25, "seed": 0, "init_seed": 0, "L_radius": None}
    d = problems.make("mlp", data="digits")
    assert (d.n_in, d.hidden, d.n_out) == (64, 64, 10) and d.params["n"] is None
    assert d.n_samples + d.y_test.size == 1797


def test_test_value_accuracy_and_training_helps() -> None:
    p = problems.make("mlp", data="moons", n=200, hidden=16, seed=1)
    x = p.x0
    for split in ("train", "test"):
        assert 0.0 <= p.accuracy(x, split=split) <= 1.0
    Wh, bh, Wy, by = (torch.from_numpy(np.array(a)) for a in p.unflatten(x))
    logits = torch.tanh(torch.from_numpy(np.array(p.X_test)) @ Wh.T + bh) @ Wy.T + by
    ce = torch.nn.functional.cross_entropy(logits, torch.from_numpy(np.array(p.y_test))).item()
    assert p.test_value(x) == pytest.approx(ce, rel=1e-12)
    for _ in range(400):
        x = x - 0.5 * p.grad(x)
    assert p.accuracy(x, split="train") > 0.85 and p.accuracy(x, split="test") > 0.8
    assert p.test_value(x) < p.test_value(p.x0)
    with pytest.raises(UserInputError, match="split"):
        p.accuracy(x, split="val")


def test_bad_input() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'digits'"):
        problems.make("mlp", data="digit")
    with pytest.raises(UserInputError, match="data: the mlp family takes"):
        problems.make("mlp", data="breast_cancer")
    with pytest.raises(UserInputError, match="hidden: must be >= 1"):
        problems.make("mlp", hidden=0)
    with pytest.raises(UserInputError, match="activation"):
        problems.make("mlp", activation="sigmoid")
    with pytest.raises(UserInputError, match="init"):
        problems.make("mlp", init="orthogonal")
    for frac in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(UserInputError, match="test_fraction"):
            problems.make("mlp", test_fraction=frac)
    with pytest.raises(UserInputError, match="l2"):
        problems.make("mlp", l2=-1.0)
    with pytest.raises(UserInputError, match="n: applies to generated data"):
        problems.make("mlp", data="digits", n=500)
    with pytest.raises(UserInputError, match="unknown parameter"):
        problems.make("mlp", width=8)
    p = problems.make("mlp", n=40, hidden=3)
    for bad in (np.zeros(p.dim, dtype=np.float32), np.zeros((p.dim, 1)), np.zeros(p.dim - 1), list(p.x0)):
        with pytest.raises(ValueError, match="x"):
            p.value_and_grad(bad)
        with pytest.raises(ValueError, match="x"):
            p.unflatten(bad)


# --------------------------------------------------------------- L on a stated region (tanh)
def _with_Wy(p: problems.Problem, x: np.ndarray, norm: float) -> np.ndarray:
    """A copy of x whose output weights W^y are rescaled to spectral norm ``norm``."""
    x = x.copy()
    Wy = p.unflatten(x)[2]
    Wy *= norm / np.linalg.norm(Wy, 2)
    return x


def _ratio(p: problems.Problem, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.linalg.norm(p.grad(x) - p.grad(y)) / np.linalg.norm(x - y))


@pytest.mark.parametrize(
    "kw", [{"data": "blobs", "n": 60, "hidden": 4}, {"data": "moons", "n": 40, "hidden": 6, "l2": 0.1, "seed": 3}]
)
def test_L_is_valid_on_its_region_and_fails_outside(kw: dict) -> None:
    p = problems.make("mlp", **kw)
    r = p.L_radius
    assert r == pytest.approx(2.0 * np.linalg.norm(p.unflatten(p.x0)[2], 2), rel=1e-14)
    rng = np.random.default_rng(11)
    worst = 0.0
    for k in range(2000):
        # points anywhere in R_r: W^h and biases of any size, ||W^y||_2 up to r (often on the boundary)
        x = p.x0 + rng.choice([0.1, 1.0, 5.0]) * rng.standard_normal(p.dim)
        x = _with_Wy(p, x, r * min(1.0, rng.uniform(0.0, 1.5)))
        y = x + rng.choice([1e-4, 1e-2, 1.0]) * rng.standard_normal(p.dim)
        y = _with_Wy(p, y, r * min(1.0, rng.uniform(0.0, 1.5))) if k % 2 else y
        if not (p.in_region(x) and p.in_region(y)):
            continue
        worst = max(worst, _ratio(p, x, y))
    assert 0 < worst <= p.L
    H = p.hess(p.x0)
    assert np.abs(np.linalg.eigvalsh(H)).max() <= p.L
    # outside (||W^y||_2 = 10 r) the curvature exceeds L somewhere: along the top Hessian eigenvector at the
    # worst of a few random points, a pair has secant ratio > L
    outside = 0.0
    for _ in range(10):
        far = _with_Wy(p, p.x0 + 0.5 * rng.standard_normal(p.dim), 10.0 * r)
        assert not p.in_region(far)
        vals, vecs = np.linalg.eigh(p.hess(far))
        v = vecs[:, np.argmax(np.abs(vals))]
        outside = max(outside, _ratio(p, far, far + 1e-5 * v))
    assert outside > p.L


def test_L_radius_parameter_and_relu() -> None:
    base = problems.make("mlp", data="blobs", n=60, hidden=4)
    wide = problems.make("mlp", data="blobs", n=60, hidden=4, L_radius=3 * base.L_radius)
    assert wide.L > base.L and wide.L_radius == 3 * base.L_radius and wide.params["L_radius"] == 3 * base.L_radius
    assert problems.make("mlp", **wide.params).L == wide.L  # params rebuild it
    x = _with_Wy(base, base.x0, 2 * base.L_radius)
    assert not base.in_region(x) and wide.in_region(x)
    relu = problems.make("mlp", data="blobs", n=60, hidden=4, activation="relu")
    assert relu.L is None and not relu.in_region(relu.x0)
    with pytest.raises(UserInputError, match="L_radius: applies to activation='tanh' only"):
        problems.make("mlp", activation="relu", L_radius=1.0)
    for bad in (0.0, -1.0, "2", float("inf")):
        with pytest.raises(UserInputError, match="L_radius"):
            problems.make("mlp", L_radius=bad)
    with pytest.raises(ValueError, match="x"):
        base.in_region(np.zeros(base.dim + 1))


def test_tanh_L_bound_matches_its_2x2_eigenvalue() -> None:
    r, lam, H, l2 = 1.7, 2.3, 5, 0.01
    c = 4 / (3 * np.sqrt(3))
    s = np.sqrt(H + 1.0)
    M = np.array([[r * r * lam / 2 + np.sqrt(2) * c * r * lam, r * s * np.sqrt(lam) / 2 + np.sqrt(2 * lam)],
                  [r * s * np.sqrt(lam) / 2 + np.sqrt(2 * lam), s * s / 2]])
    assert _mlp_curvature.tanh_L_bound(r, lam, H, l2) == pytest.approx(np.linalg.eigvalsh(M)[-1] + l2, rel=1e-14)
    u = np.linspace(-4, 4, 100001)
    d2 = -2 * np.tanh(u) * (1 - np.tanh(u) ** 2)
    assert np.abs(d2).max() <= _mlp_curvature.TANH_D2_MAX < np.abs(d2).max() * (1 + 1e-8)


# ------------------------------------------------------------------ lazy estimate, dense Hessian
def test_L_estimate_is_lazy_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = _mlp_curvature.power_norm

    def counting(matvec, v):
        calls.append(v.size)
        return real(matvec, v)

    monkeypatch.setattr(_mlp_curvature, "power_norm", counting)
    p = problems.make("mlp", data="blobs", n=60, hidden=4)
    assert calls == []  # construction does not run the power iteration
    first = p.L_estimate
    assert p.L_estimate == first and "power iteration" in p.L_estimate_method and calls == [p.dim]
    q = problems.make("mlp", data="blobs", n=60, hidden=4)
    assert "power iteration" in q.L_estimate_method and q.L_estimate == first  # same stream: reproducible
    assert len(calls) == 2


def test_dense_hessian() -> None:
    p = problems.make("mlp", data="blobs", n=60, hidden=4, l2=0.05)
    x = _point(p, 12)
    H = p.hess(x)
    assert H.shape == (p.dim, p.dim) and np.array_equal(H, H.T)
    v = np.random.default_rng(13).standard_normal(p.dim)
    np.testing.assert_allclose(H @ v, p.hvp(x, v), rtol=1e-12, atol=1e-14)
    theta = torch.tensor(x, dtype=torch.float64)
    Ht = torch.autograd.functional.hessian(lambda t: _torch_loss(p, t), theta).numpy()
    assert np.linalg.norm(H - Ht) <= 1e-10 * np.linalg.norm(Ht)
    relu = problems.make("mlp", data="blobs", n=60, hidden=4, activation="relu")
    assert relu.hess(relu.x0).shape == (relu.dim, relu.dim)
    big = problems.make("mlp", data="digits", hidden=32)  # dim 2410 > HESS_MAX_DIM
    assert big.dim > HESS_MAX_DIM and not big.has_hess and big.has_hvp
    with pytest.raises(UserInputError, match=f"dim <= {HESS_MAX_DIM}.*use hvp"):
        big.hess(big.x0)


def test_size_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserInputError, match="hidden: must be <= 4096, got 100000000"):
        problems.make("mlp", hidden=100_000_000)
    with pytest.raises(UserInputError, match="hidden: must be <= 4096"):
        problems.make("mlp", data="digits", hidden=4097)
    monkeypatch.setattr(mlp_module, "MAX_PARAMS", 1000)
    with pytest.raises(UserInputError, match=r"hidden: 300 hidden units on 'moons' .* 1502 parameters; at most 1000"):
        problems.make("mlp", hidden=300)
    assert problems.make("mlp", hidden=100).dim == 502


def test_init_seed_varies_the_weights_on_the_same_data():
    """init_seed changes only the initial weights; the default (init_seed = seed) is the old behaviour."""
    base = problems.make("mlp", data="moons", n=64, seed=3)
    same = problems.make("mlp", data="moons", n=64, seed=3, init_seed=3)
    other = problems.make("mlp", data="moons", n=64, seed=3, init_seed=4)
    assert np.array_equal(base.x0, same.x0)
    assert not np.array_equal(base.x0, other.x0)
    assert np.array_equal(base.X_train, other.X_train) and np.array_equal(base.y_train, other.y_train)
    with pytest.raises(ValueError, match="init_seed: must be >= 0"):
        problems.make("mlp", data="moons", init_seed=-1)
