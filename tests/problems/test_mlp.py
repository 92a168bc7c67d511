"""Tests of the ``mlp`` family: backprop against torch autograd (float64) and finite differences,
exact Hessian-vector products, minibatch oracles, parameter layout, ERM extras, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import problems
from problems.errors import UnknownNameError, UserInputError

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
    assert prob.has_hvp and not prob.has_hess
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
    assert prob.convex is False and prob.mu is None and prob.L is None
    assert prob.f_star is None and prob.x_star is None and prob.reference == "unknown"
    assert prob.L_estimate > 0 and np.isfinite(prob.L_estimate)
    assert "power iteration" in prob.L_estimate_method and "not globally" in prob.L_region


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
                        "init": "glorot_uniform", "test_fraction": 0.25, "seed": 0}
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
