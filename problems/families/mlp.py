r"""Problem family ``mlp``: the lecture's one-hidden-layer perceptron with softmax cross-entropy.

Model (lecture 8, "Example: Tanh MLP"), for an input x in R^{n_in} with class c:

.. math::

    \tilde h = W^h x + b^h,\quad h = \mathrm{act}(\tilde h),\quad
    \tilde y = W^y h + b^y,\quad \hat y = \mathrm{softmax}(\tilde y),\quad
    \ell = -\log \hat y_c ,

and f(theta) = (1/n) sum_i ell_i + (l2/2)(||W^h||_F^2 + ||W^y||_F^2). Only the weight
matrices are regularised, not the biases. ``act`` is tanh (default) or ReLU.

Parameter vector theta (length H n_in + H + K H + K), in this order:
``W^h`` row-major (H x n_in), ``b^h`` (H), ``W^y`` row-major (K x H), ``b^y`` (K);
:meth:`MLP.unflatten` returns the four blocks as views, :meth:`MLP.flatten` packs them.

Gradient: hand-written backpropagation, exactly the lecture's slide, vectorised
over the batch (rows of the matrices below are samples; Y is one-hot):

    delta^y = (Yhat - Y) / n,   dW^y = delta^y' h,   db^y = 1' delta^y,
    delta^h = act'(h~) * (delta^y W^y),   dW^h = delta^h' X,   db^h = 1' delta^h,

with act' = 1 - h^2 for tanh and 1[h~ > 0] for ReLU (derivative 0 taken at 0, as torch does).
The loss uses a max-shifted log-sum-exp (stable log-softmax). ``value_and_grad``
is one forward and one backward pass.

Hessian-vector products are exact: Pearlmutter's R-operator (Pearlmutter, "Fast
exact multiplication by the Hessian", Neural Computation 6, 1994) applied to the
forward and backward passes above. For ReLU, f is only piecewise twice
differentiable; the product is the Hessian of the active piece (act'' = 0),
exact wherever no pre-activation is exactly 0.

Constants: the problem is nonconvex (``mu = None``) and *not* globally L-smooth: the
curvature grows without bound with ||W^y|| (the W^h-block of the Hessian contains W^y times
act' and act''). ``L`` is therefore valid on a stated region only:

* tanh: ``L`` bounds ||Hess f||_2 on R_r = {theta : ||W^y||_2 <= r} (W^h and the biases free),
  r = ``L_radius`` (default :data:`DEFAULT_RADIUS_FACTOR` ||W^y||_2 at x0); ``L_region`` says it
  in words and :meth:`MLP.in_region` tests membership. The derivation (softmax-CE curvature <= 1/2,
  |tanh'| <= 1, |tanh''| <= 4/(3 sqrt 3), the data's second moment) is in
  :mod:`problems.families._mlp_curvature`; the bound is loose but valid.
* ReLU: ``L = None`` -- the gradient jumps where a pre-activation changes sign, so no
  Lipschitz constant exists on a region containing such a kink; ``in_region`` is always False.

``L_estimate`` is ||Hess f(x0)||_2 by power iteration with exact Hessian-vector products, a
local value, never a bound; it is computed on first access and cached (construction stays
cheap). ``hess(x)`` is the dense Hessian for ``dim <= HESS_MAX_DIM``. f* is unknown; when
l2 = 0, f >= 0 (cross-entropy is nonnegative) and the infimum may not be attained.

Size caps: ``hidden <= MAX_HIDDEN`` and ``dim <= MAX_PARAMS`` (clear errors, not a minute of
allocation followed by MemoryError).

Initialisation (seeded by ``numpy.random.default_rng(init_seed).spawn(3)[2]``, with
``init_seed`` defaulting to ``seed``; children 0 and 1 of ``default_rng(seed)`` generate and
split the data, see :mod:`problems.datasets`, so ``init_seed`` varies the initial weights
on fixed data): biases 0,
weights uniform on [-a, a] with a = sqrt(6 / (fan_in + fan_out)) for
"glorot_uniform" (Glorot & Bengio, AISTATS 2010) or a = sqrt(6 / fan_in) for
"he_uniform" (He et al., ICCV 2015). The same stream then draws the start vector of
the power iteration, so ``L_estimate`` is reproducible too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from problems import datasets, register
from problems._validate import check_choice, check_float, check_int
from problems.base import Index, Problem
from problems.errors import UserInputError
from problems.families._mlp_curvature import DEFAULT_RADIUS_FACTOR, HESS_MAX_DIM, MLPCurvature, tanh_L_bound

__all__ = [
    "ACTIVATIONS",
    "DATA",
    "DEFAULT_RADIUS_FACTOR",
    "HESS_MAX_DIM",
    "INITS",
    "MAX_HIDDEN",
    "MAX_PARAMS",
    "MLP",
    "mlp",
    "tanh_L_bound",
]

DATA = ("moons", "spirals", "blobs", "digits")
ACTIVATIONS = ("tanh", "relu")
INITS = ("glorot_uniform", "he_uniform")
#: Largest hidden width accepted (a 4096-unit layer on the digits is 307k parameters).
MAX_HIDDEN = 4096
#: Largest parameter count accepted (dim = H n_in + H + K H + K).
MAX_PARAMS = 1_000_000


class MLP(MLPCurvature, Problem):
    """One-hidden-layer MLP classifier (see the module docstring for the model and parameter order).

    Extra public attributes: ``X_train``, ``y_train``, ``X_test``, ``y_test`` (read-only;
    y holds class indices), ``n_in``, ``hidden``, ``n_out``, ``activation``, ``l2``,
    ``L_radius`` (r of the region {||W^y||_2 <= r} where ``L`` holds; None for ReLU),
    and the methods :meth:`unflatten`, :meth:`flatten`, :meth:`test_value`, :meth:`accuracy`,
    :meth:`in_region`. ``L_max`` is None (no single-sample smoothness is stated).
    """

    family = "mlp"

    def __init__(
        self,
        *,
        dataset: datasets.Dataset,
        hidden: int,
        activation: str,
        l2: float,
        init: str,
        init_seed: int,
        params: dict[str, Any],
        L_radius: float | None = None,
    ) -> None:
        self.X_train, self.y_train = dataset.X_train, dataset.y_train
        self.X_test, self.y_test = dataset.X_test, dataset.y_test
        self.n_in, self.hidden, self.n_out = dataset.n_features, hidden, dataset.n_classes
        self.activation, self.l2 = activation, l2
        H, n_in, K = hidden, self.n_in, self.n_out
        self._cuts = np.cumsum([H * n_in, H, K * H])  # ends of W^h, b^h, W^y in theta
        rng = np.random.default_rng(init_seed).spawn(3)[2]
        bound = np.sqrt(6.0 / ((n_in + H) if init == "glorot_uniform" else n_in))
        bound_y = np.sqrt(6.0 / ((H + K) if init == "glorot_uniform" else H))
        x0 = self.flatten(
            rng.uniform(-bound, bound, (H, n_in)), np.zeros(H), rng.uniform(-bound_y, bound_y, (K, H)), np.zeros(K)
        )
        self._power_rng = rng  # the same stream draws the power iteration's start (lazily, from a copy)
        self._L_estimate: float | None = None
        self._L_estimate_method: str | None = None
        if activation == "tanh":
            if L_radius is None:
                L_radius = DEFAULT_RADIUS_FACTOR * float(np.linalg.norm(self._views(x0)[2], 2))
            n = self.X_train.shape[0]
            second_moment = float(np.linalg.norm(np.column_stack([self.X_train, np.ones(n)]), 2)) ** 2 / n
            L = tanh_L_bound(L_radius, second_moment, H, l2)
            region = (
                f"the set ||W^y||_2 <= {L_radius:.6g} (spectral norm of the output weights; W^h, b^h, b^y free)"
            )
        else:
            L = L_radius = None
            region = (
                "none: with ReLU, grad f jumps where a pre-activation changes sign, so no Lipschitz constant "
                "of the gradient exists on any region containing such a kink (L = None)"
            )
        self.L_radius = L_radius
        super().__init__(
            params=params, x0=x0, L=L, mu=None, convex=False, n_samples=int(self.y_train.size), L_region=region,
        )
        self._rows = np.arange(self.n_samples)

    # ---------------------------------------------------------- parameters
    def _views(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a, b, c = self._cuts
        return (
            x[:a].reshape(self.hidden, self.n_in), x[a:b], x[b:c].reshape(self.n_out, self.hidden), x[c:],
        )

    def unflatten(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Split theta into (W^h (H x n_in), b^h (H), W^y (K x H), b^y (K)): views sharing x's memory."""
        return self._views(self._check_x(x))

    def flatten(self, Wh: np.ndarray, bh: np.ndarray, Wy: np.ndarray, by: np.ndarray) -> np.ndarray:
        """Pack (W^h, b^h, W^y, b^y) into a new parameter vector theta (the inverse of :meth:`unflatten`)."""
        shapes = {"Wh": (self.hidden, self.n_in), "bh": (self.hidden,), "Wy": (self.n_out, self.hidden),
                  "by": (self.n_out,)}
        blocks = []
        for (name, shape), block in zip(shapes.items(), (Wh, bh, Wy, by), strict=True):
            block = np.asarray(block, dtype=np.float64)
            if block.shape != shape:
                raise UserInputError(f"{name}: must have shape {shape}, got {block.shape}")
            blocks.append(block.reshape(-1))
        return np.concatenate(blocks)

    # -------------------------------------------------------------- passes
    # Activations are held transposed (units x samples): reductions over classes
    # then run along contiguous memory and bias terms broadcast along rows.
    def _batch(self, idx: Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if idx is None:
            return self.X_train, self.y_train, self._rows
        return self.X_train[idx], self.y_train[idx], np.arange(idx.size)

    def _forward(self, x: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(h', y~') for the samples in the rows of X: h' = act(W^h X' + b^h) (H x n), y~' = W^y h' + b^y (K x n)."""
        Wh, bh, Wy, by = self._views(x)
        h = Wh @ X.T
        h += bh[:, None]
        if self.activation == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0.0, out=h)
        Z = Wy @ h
        Z += by[:, None]
        return h, Z

    @staticmethod
    def _cross_entropy(Z: np.ndarray, y: np.ndarray, cols: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Mean cross-entropy of logits Z (K x n; shifted in place by the column max), exp(Z), its column sums."""
        Z -= Z.max(axis=0)
        E = np.exp(Z)
        s = E.sum(axis=0)
        return (np.log(s).sum() - Z[y, cols].sum()) / y.size, E, s

    def _penalty(self, x: np.ndarray) -> float:
        if self.l2 == 0.0:
            return 0.0
        Wh, _, Wy, _ = self._views(x)
        return 0.5 * self.l2 * (np.vdot(Wh, Wh) + np.vdot(Wy, Wy))

    def _value(self, x: np.ndarray, idx: Index) -> float:
        X, y, cols = self._batch(idx)
        loss, _, _ = self._cross_entropy(self._forward(x, X)[1], y, cols)
        return float(loss + self._penalty(x))

    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        X, y, cols = self._batch(idx)
        Wh, _, Wy, _ = self._views(x)
        h, Z = self._forward(x, X)
        loss, D, s = self._cross_entropy(Z, y, cols)
        # delta^y' = (softmax - onehot) / n, built in the exp buffer
        D *= (1.0 / y.size) / s
        D[y, cols] -= 1.0 / y.size
        g = np.empty(self.dim)
        gWh, gbh, gWy, gby = self._views(g)
        np.matmul(D, h.T, out=gWy)
        D.sum(axis=1, out=gby)
        Dh = Wy.T @ D  # (delta^y W^y)', then times act'(h~)
        if self.activation == "tanh":
            h *= h
            np.subtract(1.0, h, out=h)
            Dh *= h
        else:
            Dh *= h > 0.0
        np.matmul(Dh, X, out=gWh)
        Dh.sum(axis=1, out=gbh)
        if self.l2 != 0.0:
            gWh += self.l2 * Wh
            gWy += self.l2 * Wy
        return float(loss + self._penalty(x)), g

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Exact Hess f(x) v by Pearlmutter's R-operator (full batch)."""
        return self._hessian_operator(x)(v)

    def _hessian_operator(self, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """v -> Hess f(x) v, with the forward pass at x done once.

        R{.} = d/dr (.)(x + r v) at r = 0 is pushed through the forward pass
        (R{h~}, R{h}, R{y~}, R{softmax}) and then through the backward pass above.
        """
        X, y, cols = self._batch(None)
        n = y.size
        _, _, Wy, _ = self._views(x)
        h, Z = self._forward(x, X)
        _, P, s = self._cross_entropy(Z, y, cols)
        P /= s  # softmax, K x n
        D = P.copy()
        D[y, cols] -= 1.0
        D /= n  # delta^y
        if self.activation == "tanh":
            d1 = 1.0 - h * h
            Gd2 = (Wy.T @ D) * (-2.0 * h * d1)  # (delta^y W^y)' * tanh''(h~)
        else:
            d1 = (h > 0.0).astype(np.float64)
            Gd2 = None  # relu'' = 0 on each linear piece
        l2 = self.l2

        def hvp(v: np.ndarray) -> np.ndarray:
            VWh, Vbh, VWy, Vby = self._views(v)
            RA = VWh @ X.T
            RA += Vbh[:, None]  # R{h~}
            Rh = d1 * RA
            RZ = Wy @ Rh + VWy @ h
            RZ += Vby[:, None]  # R{y~}
            RZ -= np.einsum("ij,ij->j", P, RZ)
            RZ *= P
            RZ /= n  # R{delta^y}
            out = np.empty(self.dim)
            oWh, obh, oWy, oby = self._views(out)
            np.matmul(RZ, h.T, out=oWy)
            oWy += D @ Rh.T
            RZ.sum(axis=1, out=oby)
            RDh = Wy.T @ RZ
            RDh += VWy.T @ D
            RDh *= d1  # R{delta^h}
            if Gd2 is not None:
                RDh += Gd2 * RA
            np.matmul(RDh, X, out=oWh)
            RDh.sum(axis=1, out=obh)
            if l2 != 0.0:
                oWh += l2 * VWh
                oWy += l2 * VWy
            return out

        return hvp

    # ------------------------------------------------------------ ERM extras
    def test_value(self, x: np.ndarray) -> float:
        """Mean cross-entropy on the held-out test split, *without* the l2 penalty."""
        x = self._check_x(x)
        y = self.y_test
        return float(self._cross_entropy(self._forward(x, self.X_test)[1], y, np.arange(y.size))[0])

    def accuracy(self, x: np.ndarray, split: str = "train") -> float:
        """Fraction of ``split`` ("train" or "test") whose largest logit is the true class."""
        x = self._check_x(x)
        split = check_choice("split", split, ("train", "test"))
        X, y = (self.X_train, self.y_train) if split == "train" else (self.X_test, self.y_test)
        return float(np.mean(self._forward(x, X)[1].argmax(axis=0) == y))


@register(
    "mlp",
    summary="one-hidden-layer MLP (tanh/ReLU) with softmax cross-entropy and hand-written backprop (lecture 8)",
    convex=False,
    L="tanh: lambda_max(M) + l2, valid on {||W^y||_2 <= L_radius} (default 2 ||W^y(x0)||_2; not globally "
    "L-smooth); ReLU: None (gradient discontinuous); L_estimate = ||Hess f(x0)||_2 by power iteration (lazy)",
    mu="None (nonconvex)",
    f_star="unknown (f >= 0 when l2 = 0)",
)
def mlp(
    *,
    data: str = "moons",
    n: int | None = None,
    noise: float | None = None,
    hidden: int | None = None,
    activation: str = "tanh",
    l2: float = 0.0,
    init: str = "glorot_uniform",
    test_fraction: float = 0.25,
    seed: int = 0,
    init_seed: int | None = None,
    L_radius: float | None = None,
) -> MLP:
    """One-hidden-layer MLP classifier (see :mod:`problems.families.mlp`).

    Parameters
    ----------
    data : "moons", "spirals", "blobs" (generated, 2-D; 2, 2, 3 classes) or "digits" (bundled, 64 features,
        10 classes).
    n : samples (train + test) of generated data, default 200; refused for "digits".
    noise : generated data only: noise level of the generator (default: the generator's, see
        :mod:`problems.datasets`).
    hidden : hidden width in [1, MAX_HIDDEN = 4096]; default 32 for generated data, 64 for digits. The parameter
        count H n_in + H + K H + K must not exceed MAX_PARAMS = 1e6.
    activation : "tanh" or "relu".
    l2 : weight of (l2/2)(||W^h||^2 + ||W^y||^2), >= 0 (biases are not regularised).
    init : "glorot_uniform" or "he_uniform" (biases 0).
    test_fraction : held-out fraction in (0, 1) (stratified, seeded).
    seed : seeds data generation, split and initialisation (independent streams).
    init_seed : seeds the initial weights only (default: ``seed``), so that runs can vary the initialisation on
        the same data.
    L_radius : tanh only: r > 0 of the region {||W^y||_2 <= r} on which ``L`` is a valid Lipschitz constant of
        the gradient (see the module docstring); None (default) = 2 ||W^y||_2 at the initial point. Refused for
        ReLU, which has no such constant.
    """
    data = datasets.check_data_name(data, DATA, "mlp")
    activation = check_choice("activation", activation, ACTIVATIONS)
    init = check_choice("init", init, INITS)
    l2 = check_float("l2", l2, low=0.0)
    test_fraction = check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed, low=0)
    init_seed = seed if init_seed is None else check_int("init_seed", init_seed, low=0)
    if activation == "relu" and L_radius is not None:
        raise UserInputError(
            f"L_radius: applies to activation='tanh' only; with ReLU the gradient is discontinuous and has no "
            f"Lipschitz constant on any region (got L_radius={L_radius!r})"
        )
    L_radius = check_float("L_radius", L_radius, low=0.0, low_open=True, allow_none=True)
    if data in datasets.BUNDLED:
        for key, value in (("n", n), ("noise", noise)):
            if value is not None:
                raise UserInputError(f"{key}: applies to generated data (moons, spirals, blobs) only, not {data!r}")
        hidden = check_int("hidden", 64 if hidden is None else hidden, low=1, high=MAX_HIDDEN)
        ds = datasets.load(data, seed=seed, test_fraction=test_fraction)
    else:
        n = check_int("n", 200 if n is None else n, low=8)
        default_noise = datasets.generator_options(data)["noise"]
        noise = check_float("noise", default_noise if noise is None else noise, low=0.0)
        hidden = check_int("hidden", 32 if hidden is None else hidden, low=1, high=MAX_HIDDEN)
        ds = datasets.load(data, seed=seed, test_fraction=test_fraction, n=n, noise=noise)
    n_params = hidden * ds.n_features + hidden + ds.n_classes * hidden + ds.n_classes
    if n_params > MAX_PARAMS:
        raise UserInputError(
            f"hidden: {hidden} hidden units on {data!r} ({ds.n_features} inputs, {ds.n_classes} classes) make "
            f"{n_params} parameters; at most {MAX_PARAMS} are allowed"
        )
    params = {"data": data, "n": n, "noise": noise, "hidden": hidden, "activation": activation, "l2": l2,
              "init": init, "test_fraction": test_fraction, "seed": seed, "init_seed": init_seed,
              "L_radius": L_radius}
    return MLP(
        dataset=ds, hidden=hidden, activation=activation, l2=l2, init=init, init_seed=init_seed, params=params,
        L_radius=L_radius,
    )
