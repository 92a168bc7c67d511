"""Tests of problems.datasets: generators, bundled loaders (offline), seeded splits, standardisation."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from scipy.optimize import minimize

import problems
from problems import datasets
from problems.errors import UnknownNameError, UserInputError


def _fields(ds: datasets.Dataset) -> list[np.ndarray]:
    return [ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.mean, ds.scale]


@pytest.mark.parametrize("name", datasets.DATASETS)
def test_load_shapes_dtypes_and_standardisation(name: str) -> None:
    ds = datasets.load(name, seed=3)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert ds.X_train.shape[1] == ds.X_test.shape[1] == ds.n_features
    assert ds.X_train.shape[0] == ds.y_train.size and ds.X_test.shape[0] == ds.y_test.size
    assert set(np.unique(ds.y_train)) == set(range(ds.n_classes)) == set(np.unique(ds.y_test))
    # standardised with training statistics: mean 0, std 1 (0 for constant features)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    std = ds.X_train.std(axis=0)
    assert np.all((np.abs(std - 1.0) < 1e-12) | (std == 0.0))
    for a in _fields(ds):
        assert not a.flags.writeable


def test_sizes_of_bundled_sets() -> None:
    bc, dg = datasets.load("breast_cancer"), datasets.load("digits")
    assert bc.X_train.shape[0] + bc.X_test.shape[0] == 569 and bc.n_features == 30 and bc.n_classes == 2
    assert dg.X_train.shape[0] + dg.X_test.shape[0] == 1797 and dg.n_features == 64 and dg.n_classes == 10


def test_bundled_loaders_work_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a data set loader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    datasets._bundled.cache_clear()
    X, y = datasets.load_breast_cancer()
    assert X.shape == (569, 30) and set(np.unique(y)) == {0, 1}
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and set(np.unique(y)) == set(range(10))
    assert not X.flags.writeable


@pytest.mark.parametrize("name", datasets.DATASETS)
def test_same_seed_bit_identical_other_seed_differs(name: str) -> None:
    a, b, c = datasets.load(name, seed=7), datasets.load(name, seed=7), datasets.load(name, seed=8)
    for u, v in zip(_fields(a), _fields(b), strict=True):
        assert u.tobytes() == v.tobytes()
    assert a.X_train.tobytes() != c.X_train.tobytes()


@pytest.mark.parametrize("frac", [0.1, 0.25, 0.5, 0.9])
def test_stratified_split_partitions_and_keeps_every_class(frac: float) -> None:
    y = np.repeat(np.arange(3), [40, 25, 7])
    train, test = datasets.stratified_split(y, frac, np.random.default_rng(0))
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(y.size))
    for c, n_c in enumerate([40, 25, 7]):
        n_test = np.sum(y[test] == c)
        assert n_test == min(max(round(frac * n_c), 1), n_c - 1)
        assert np.sum(y[train] == c) == n_c - n_test


def test_split_needs_two_samples_per_class() -> None:
    with pytest.raises(UserInputError, match="at least 2"):
        datasets.stratified_split(np.array([0, 0, 1]), 0.5, np.random.default_rng(0))


def test_generators_follow_their_definitions() -> None:
    rng = np.random.default_rng
    X, y = datasets.make_moons(400, rng(0), noise=0.0)
    r0 = np.hypot(X[y == 0, 0], X[y == 0, 1])
    r1 = np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5)
    np.testing.assert_allclose(r0, 1.0)
    np.testing.assert_allclose(r1, 1.0)
    assert np.all(X[y == 0, 1] >= 0) and np.all(X[y == 1, 1] <= 0.5)
    X, y = datasets.make_spirals(300, rng(0), noise=0.0)
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1.0 + 1e-12)
    X, y = datasets.make_blobs(3000, rng(0), noise=0.5, n_classes=4, radius=3.0)
    means = np.array([X[y == k].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(means, [[3, 0], [0, 3], [-3, 0], [0, -3]], atol=0.06)
    # linear: same stream, only the label flips differ; flip rate matches noise
    X0, y0 = datasets.make_linear(5000, rng(1), d=4, separation=3.0, noise=0.0)
    X1, y1 = datasets.make_linear(5000, rng(1), d=4, separation=3.0, noise=0.3)
    assert np.array_equal(X0, X1)
    assert abs(np.mean(y0 != y1) - 0.3) < 0.03
    gap = X0[y0 == 1].mean(axis=0) - X0[y0 == 0].mean(axis=0)
    assert abs(np.linalg.norm(gap) - 3.0) < 0.15


def test_generator_options_and_defaults() -> None:
    assert datasets.generator_options("moons") == {"noise": 0.1}
    assert datasets.generator_options("digits") == {}
    ds = datasets.load("linear", n=60, d=3, seed=0)
    assert ds.n_features == 3 and ds.X_train.shape[0] + ds.X_test.shape[0] == 60


def test_bad_input() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'moons'"):
        datasets.load("moon")
    with pytest.raises(UnknownNameError, match="did you mean 'breast_cancer'"):
        datasets.load("breast_cancr")
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.load("moons", test_fraction=1.0)
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.load("moons", test_fraction=0.0)
    with pytest.raises(ValueError, match="n: 'digits' is a bundled"):
        datasets.load("digits", n=100)
    with pytest.raises(ValueError, match="unknown option 'sep'"):
        datasets.load("linear", sep=2.0)
    with pytest.raises(ValueError, match="noise"):
        datasets.load("linear", noise=0.5)
    with pytest.raises(ValueError, match="n: must be >= 4"):
        datasets.load("moons", n=3)


def test_accuracy_in_unit_interval_and_trained_logistic_beats_chance() -> None:
    p = problems.make("logistic", data="breast_cancer", seed=0)
    x0 = p.x0
    # w = 0 predicts +1 (benign) everywhere: the accuracy is exactly the benign rate
    assert p.accuracy(x0, split="train") == pytest.approx(np.mean(p.y_train == 1.0), abs=0)
    chance = max(np.mean(p.y_test == 1.0), np.mean(p.y_test == -1.0))
    res = minimize(p.value, x0, jac=p.grad, method="L-BFGS-B", options={"maxiter": 30})
    for split in ("train", "test"):
        acc = p.accuracy(res.x, split=split)
        assert 0.0 <= acc <= 1.0
        assert acc > chance + 0.2
    assert p.test_value(res.x) < p.test_value(x0)
