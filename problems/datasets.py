"""Classification data sets for the empirical-risk families (``logistic``, ``mlp``).

Generated sets (drawn from a seeded :class:`numpy.random.Generator`, so the same
seed gives bit-identical arrays):

* ``"moons"`` -- two interleaving half circles in R^2 (2 classes);
* ``"spirals"`` -- two interleaved Archimedean spiral arms in R^2 (2 classes; the
  "two spirals" benchmark of Lang & Witbrock, 1988);
* ``"blobs"`` -- isotropic Gaussian clusters around centres evenly spaced on a circle (3 classes);
* ``"linear"`` -- two Gaussian classes whose means differ along a random unit direction,
  with labels flipped at random (a linear-classification generator, 2 classes).

Bundled sets, read from the files that ship inside scikit-learn (nothing is ever
downloaded; scikit-learn is imported inside the loader only):

* ``"breast_cancer"`` -- Wisconsin diagnostic breast cancer, 569 x 30, labels 0 = malignant, 1 = benign;
* ``"digits"`` -- UCI optical handwritten digits, 1797 8x8 images flattened to 64 features, labels 0..9.

:func:`load` returns a :class:`Dataset`: a stratified, seeded train/test split
whose features are standardised with the *training* mean and standard deviation
(a feature that is constant on the training split, such as a blank corner pixel
of the digits, keeps scale 1 and becomes 0). Labels are class indices 0..K-1.

Seeding: ``numpy.random.default_rng(seed).spawn(2)`` gives two independent
streams, child 0 generating the samples, child 1 drawing the split. (The
``mlp`` family uses child 2 of the same seed for its initial weights.)
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from problems._validate import check_float, check_int
from problems.errors import UnknownNameError, UserInputError

__all__ = [
    "BUNDLED",
    "DATASETS",
    "GENERATED",
    "Dataset",
    "check_data_name",
    "generator_options",
    "load",
    "load_breast_cancer",
    "load_digits",
    "make_blobs",
    "make_linear",
    "make_moons",
    "make_spirals",
    "standardize",
    "stratified_split",
]

GENERATED = ("moons", "spirals", "blobs", "linear")
BUNDLED = ("breast_cancer", "digits")
DATASETS = GENERATED + BUNDLED


@dataclass(frozen=True)
class Dataset:
    """A standardised, split classification data set (arrays are read-only float64 / int64)."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    #: Training-split mean and scale used to standardise both splits (x -> (x - mean) / scale).
    mean: np.ndarray
    scale: np.ndarray

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.X_train.shape[1])


# ----------------------------------------------------------------- generators
def _class_sizes(n: int, k: int) -> np.ndarray:
    """Balanced class sizes: n // k each, the first n % k classes one more."""
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    return sizes


def make_moons(n: int, rng: np.random.Generator, *, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: class 0 on (cos t, sin t), class 1 on (1 - cos t, 1/2 - sin t).

    Angles t ~ U[0, pi] per sample; isotropic Gaussian noise of standard deviation ``noise``.
    """
    n = check_int("n", n, low=4)
    noise = check_float("noise", noise, low=0.0)
    sizes = _class_sizes(n, 2)
    y = np.repeat(np.arange(2), sizes)
    t = rng.uniform(0.0, np.pi, size=n)
    X = np.empty((n, 2))
    X[:, 0] = np.where(y == 0, np.cos(t), 1.0 - np.cos(t))
    X[:, 1] = np.where(y == 0, np.sin(t), 0.5 - np.sin(t))
    X += noise * rng.standard_normal((n, 2))
    return X, y


def make_spirals(
    n: int, rng: np.random.Generator, *, noise: float = 0.05, turns: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved Archimedean spirals: arm k at radius r in (0, 1] has angle 2 pi (turns r + k/2).

    Radii r ~ U[0.05, 1] per sample; isotropic Gaussian noise of standard deviation ``noise``.
    Successive windings of the two arms are 1 / (2 turns) apart radially.
    """
    n = check_int("n", n, low=4)
    noise = check_float("noise", noise, low=0.0)
    turns = check_float("turns", turns, low=0.0, low_open=True)
    sizes = _class_sizes(n, 2)
    y = np.repeat(np.arange(2), sizes)
    r = rng.uniform(0.05, 1.0, size=n)
    angle = 2.0 * np.pi * (turns * r + 0.5 * y)
    X = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    X += noise * rng.standard_normal((n, 2))
    return X, y


def make_blobs(
    n: int, rng: np.random.Generator, *, noise: float = 1.0, n_classes: int = 3, radius: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters in R^2 with centres radius * (cos 2 pi k/K, sin 2 pi k/K), standard deviation ``noise``."""
    n_classes = check_int("n_classes", n_classes, low=2)
    n = check_int("n", n, low=2 * n_classes)
    noise = check_float("noise", noise, low=0.0)
    radius = check_float("radius", radius, low=0.0)
    sizes = _class_sizes(n, n_classes)
    y = np.repeat(np.arange(n_classes), sizes)
    phi = 2.0 * np.pi * np.arange(n_classes) / n_classes
    centres = radius * np.column_stack([np.cos(phi), np.sin(phi)])
    X = centres[y] + noise * rng.standard_normal((n, 2))
    return X, y


def make_linear(
    n: int, rng: np.random.Generator, *, d: int = 10, separation: float = 2.0, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Linear-classification data: x = z + (2y - 1)(separation / 2) u, z ~ N(0, I_d), u a random unit vector.

    The two class means are ``separation`` apart along u, so the Bayes classifier
    is linear; then each label is flipped independently with probability
    ``noise`` (in [0, 0.5)), which keeps the data from being separable.
    """
    n = check_int("n", n, low=4)
    d = check_int("d", d, low=1)
    separation = check_float("separation", separation, low=0.0)
    noise = check_float("noise", noise, low=0.0, high=0.5, high_open=True)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    y = np.repeat(np.arange(2), _class_sizes(n, 2))
    X = rng.standard_normal((n, d)) + np.outer((2.0 * y - 1.0) * (0.5 * separation), u)
    flip = rng.random(n) < noise
    y = np.where(flip, 1 - y, y)
    return X, y


# ------------------------------------------------------------------ bundled
def _readonly(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.cache
def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets  # bundled files only; never fetch_* (which downloads)

    loader = {"breast_cancer": sklearn.datasets.load_breast_cancer, "digits": sklearn.datasets.load_digits}[name]
    X, y = loader(return_X_y=True)
    return _readonly(np.ascontiguousarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64))


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """The raw Wisconsin breast-cancer data bundled with scikit-learn: X (569, 30), y (0 malignant, 1 benign).

    The arrays are read-only and shared between calls.
    """
    return _bundled("breast_cancer")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The raw 8x8 digits bundled with scikit-learn: X (1797, 64) pixel intensities 0..16, y in 0..9.

    The arrays are read-only and shared between calls.
    """
    return _bundled("digits")


# ------------------------------------------------------- split, standardise
def stratified_split(
    y: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: (train indices, test indices), each in random order.

    Class c with n_c samples sends round(test_fraction * n_c) of them, clipped to
    [1, n_c - 1], to the test split, so both splits see every class.
    """
    test_fraction = check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    y = np.asarray(y)
    counts = np.bincount(y)
    if counts.min() < 2:
        raise UserInputError(f"n: every class needs at least 2 samples to be split, got class sizes {counts.tolist()}")
    n_test = np.clip(np.rint(test_fraction * counts).astype(np.int64), 1, counts - 1)
    perm = rng.permutation(y.size)
    labels = y[perm]
    # rank of each permuted sample within its class (0, 1, 2, ... in permutation order)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(y.size, dtype=np.int64)
    rank[order] = np.arange(y.size) - np.repeat(starts, counts)
    is_test = rank < n_test[labels]
    return perm[~is_test], perm[is_test]


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardise both splits with the training statistics: (X_train', X_test', mean, scale).

    scale is the training standard deviation, replaced by 1 for constant features.
    """
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale[scale == 0.0] = 1.0
    return (X_train - mean) / scale, (X_test - mean) / scale, mean, scale


# ---------------------------------------------------------------- front end
def check_data_name(name: object, allowed: tuple[str, ...], family: str) -> str:
    """Validate the ``data`` parameter of ``family``.

    An unknown name raises :class:`UnknownNameError` (listing ``allowed`` and the
    closest match); a known data set that ``family`` cannot use raises
    :class:`UserInputError` saying which ones it can.
    """
    if isinstance(name, str) and name in allowed:
        return name
    if isinstance(name, str) and name in DATASETS:
        raise UserInputError(f"data: the {family} family takes {', '.join(map(repr, allowed))}; got {name!r}")
    raise UnknownNameError("data set", name, allowed)


_GENERATORS = {"moons": make_moons, "spirals": make_spirals, "blobs": make_blobs, "linear": make_linear}


def generator_options(name: str) -> dict[str, Any]:
    """Keyword options of the generator of data set ``name`` with their defaults ({} for bundled sets)."""
    name = check_data_name(name, DATASETS, "datasets")
    if name in BUNDLED:
        return {}
    sig = inspect.signature(_GENERATORS[name])
    return {p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}


def load(
    name: str, *, seed: int = 0, test_fraction: float = 0.25, n: int | None = None, **options: Any
) -> Dataset:
    """Load data set ``name`` (see :data:`DATASETS`), split with ``seed`` and standardise it.

    Generated sets take ``n`` (number of samples, train + test; default 200) and
    their generator's keyword ``options`` (e.g. ``noise``; ``d``, ``separation``
    for ``"linear"``). Bundled sets have a fixed size: ``n`` and options are refused.
    """
    name = check_data_name(name, DATASETS, "datasets")
    seed = check_int("seed", seed, low=0)
    test_fraction = check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    gen_rng, split_rng = np.random.default_rng(seed).spawn(2)
    if name in BUNDLED:
        if n is not None:
            raise UserInputError(f"n: {name!r} is a bundled data set of fixed size; n applies to generated data only")
        if options:
            raise UserInputError(f"{name!r} is a bundled data set and takes no options, got {sorted(options)}")
        X, y = _bundled(name)
    else:
        generator = _GENERATORS[name]
        allowed = list(generator_options(name))
        for key in options:
            if key not in allowed:
                raise UserInputError(f"{name!r}: unknown option {key!r}; allowed: {', '.join(allowed)}")
        X, y = generator(200 if n is None else n, gen_rng, **options)
    train, test = stratified_split(y, test_fraction, split_rng)
    X_train, X_test, mean, scale = standardize(X[train], X[test])
    arrays = _readonly(
        np.ascontiguousarray(X_train), np.ascontiguousarray(y[train]),
        np.ascontiguousarray(X_test), np.ascontiguousarray(y[test]), mean, scale,
    )
    return Dataset(name, *arrays[:4], n_classes=int(y.max()) + 1, mean=arrays[4], scale=arrays[5])
