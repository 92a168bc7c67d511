r"""Curvature of the ``mlp`` family: L on a stated region, the lazy ``L_estimate``, the dense Hessian.

:class:`MLPCurvature` is mixed into :class:`problems.families.mlp.MLP`; it relies on the MLP's
parameter views (``_views``) and its exact R-operator Hessian-vector products (``_hessian_operator``).

*tanh: L on the region* R_r = {theta : ||W^y||_2 <= r} (W^h, b^h, b^y free; ``L_radius`` = r,
``L_region`` says it in words, :meth:`MLP.in_region` tests membership). Write
x~_i = (x_i, 1), A = [W^h, b^h], B = [W^y, b^y], u_i = A x~_i, h_i = tanh(u_i), z_i = B (h_i, 1),
ell_i = CE(z_i) = -log p_i[c_i] with p_i = softmax(z_i). Along a direction V = (dA, dB) with
||dA||_F = a, ||dB||_F = b, a^2 + b^2 = 1 (||V|| = 1 in the flat parameter vector), put
t_i = ||dA x~_i||. Then

    d^2 ell_i = dz_i' S_i dz_i + g_i' d^2 z_i,   S_i = diag(p_i) - p_i p_i',  g_i = p_i - e_{c_i},
    dz_i = dB (h_i, 1) + W^y (tanh'(u_i) * dA x~_i),
    d^2 z_i = 2 dW^y (tanh'(u_i) * dA x~_i) + W^y (tanh''(u_i) * (dA x~_i)^2).

Bounds used: ||S_i||_2 <= 1/2 (Gershgorin's theorem, Golub & Van Loan, *Matrix Computations*,
Thm 7.2.1: row k of the PSD matrix S_i has diagonal p_k(1 - p_k) and off-diagonal absolute sum
p_k(1 - p_k), so every eigenvalue is <= 2 p_k (1 - p_k) <= 1/2); ||g_i||^2 = (1 - p_c)^2 +
sum_{k != c} p_k^2 <= 2 (1 - p_c)^2 <= 2;
|tanh'| <= 1, |tanh''| <= c = 4/(3 sqrt 3) (attained at tanh(u)^2 = 1/3); ||(h_i, 1)||^2 <= H + 1 =: s^2;
||W^y||_2 <= r on R_r; ||v * v||_2 <= ||v||_2^2. Hence
||dz_i|| <= b s + r t_i and |g_i' d^2 z_i| <= sqrt 2 (2 b t_i + c r t_i^2). Averaging over the n
training samples with (1/n) sum_i t_i^2 <= a^2 Lam, Lam = ||X~||_2^2 / n (X~ = [X, 1], the largest
eigenvalue of the second-moment matrix of x~), and (1/n) sum_i t_i <= a sqrt(Lam) (Jensen):

    |d^2 f| <= 1/2 (b s + r a sqrt(Lam))^2 + sqrt 2 (2 a b sqrt(Lam) + c r a^2 Lam) + l2 = (a, b) M (a, b)' + l2,
    M = [[r^2 Lam / 2 + sqrt 2 c r Lam,  r s sqrt(Lam) / 2 + sqrt 2 sqrt(Lam)],
         [r s sqrt(Lam) / 2 + sqrt 2 sqrt(Lam),  s^2 / 2]],

(the l2 penalty adds l2 ||dW||^2 <= l2), so sup_{R_r} ||Hess f||_2 <= ``L`` = lambda_max(M) + l2
(:func:`tanh_L_bound`). R_r is convex, so for theta, theta' in R_r the segment stays in R_r and the
mean-value theorem (Nesterov, *Lectures on Convex Optimization*, 2018, Lemma 1.2.2) gives
||grad f(theta) - grad f(theta')|| <= L ||theta - theta'||. The bound is
loose (about 10-80x ||Hess f(x0)||_2 for the shipped data) but valid -- validity is what the theory
checks need. Default r: :data:`DEFAULT_RADIUS_FACTOR` times ||W^y||_2 at x0.

*ReLU: no L.* ReLU is not differentiable at 0, and the gradient of f jumps wherever a
pre-activation of a sample changes sign (unless the back-propagated signal vanishes there),
so grad f is not Lipschitz on any region containing such a kink: ``L = None``, ``L_radius = None``,
``in_region`` is False everywhere and ``L_region`` says why.

``L_estimate`` (:attr:`MLPCurvature.L_estimate`) is ||Hess f(x0)||_2 by power iteration
(:func:`power_norm`) with exact Hessian-vector products: a local value at x0 (a lower bound on any
Lipschitz constant valid on a neighbourhood of x0), never a bound. It is computed on first access and
cached on the instance, so constructing a problem (which sweeps do to validate a spec) stays cheap; the
start vector comes from a copy of the initialisation stream, so the value is reproducible.

``hess(x)`` assembles the dense Hessian from ``dim`` exact Hessian-vector products (for ReLU: the
Hessian of the active linear piece), symmetrised; only for ``dim <= HESS_MAX_DIM``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np

from problems.errors import UserInputError

__all__ = [
    "DEFAULT_RADIUS_FACTOR",
    "HESS_MAX_DIM",
    "POWER_MAX_ITERS",
    "POWER_RTOL",
    "TANH_D2_MAX",
    "MLPCurvature",
    "power_norm",
    "tanh_L_bound",
]

#: Power iteration for ``L_estimate``: at most this many Hessian-vector products ...
POWER_MAX_ITERS = 100
#: ... stopping once successive estimates agree to this relative tolerance.
POWER_RTOL = 1e-4
#: ``hess(x)`` builds the dense Hessian only up to this dimension (dim Hessian-vector products, dim^2 floats).
HESS_MAX_DIM = 2000
#: Default ``L_radius`` r of the region {||W^y||_2 <= r}: this factor times ||W^y||_2 at x0.
DEFAULT_RADIUS_FACTOR = 2.0
#: max |tanh''(u)| = 4 / (3 sqrt 3), attained where tanh(u)^2 = 1/3.
TANH_D2_MAX = 4.0 / (3.0 * math.sqrt(3.0))


def tanh_L_bound(radius: float, second_moment: float, hidden: int, l2: float) -> float:
    """lambda_max(M) + l2: a bound on ||Hess f||_2 of the tanh MLP over {||W^y||_2 <= radius} (module docstring).

    ``second_moment`` is Lam = ||[X, 1]||_2^2 / n of the training inputs, ``hidden`` the width H,
    ``l2`` the weight of the penalty. M is 2 x 2 with nonnegative entries; its largest eigenvalue is
    (m11 + m22)/2 + sqrt(((m11 - m22)/2)^2 + m12^2).
    """
    r, lam, s2 = float(radius), float(second_moment), hidden + 1.0
    root2, c = math.sqrt(2.0), TANH_D2_MAX
    m11 = 0.5 * r * r * lam + root2 * c * r * lam
    m12 = 0.5 * r * math.sqrt(s2 * lam) + root2 * math.sqrt(lam)
    m22 = 0.5 * s2
    return 0.5 * (m11 + m22) + math.hypot(0.5 * (m11 - m22), m12) + l2


def power_norm(matvec: Callable[[np.ndarray], np.ndarray], v: np.ndarray) -> tuple[float, int]:
    """||M||_2 of a symmetric operator by power iteration: ||M v_k|| with v_{k+1} = M v_k / ||M v_k||.

    For symmetric M the sequence ||M v_k|| is nondecreasing and tends to max |eig(M)|
    (Golub & Van Loan, *Matrix Computations*, 4th ed., sec. 8.2.1) from below.
    """
    v = v / np.linalg.norm(v)
    estimate = 0.0
    for k in range(1, POWER_MAX_ITERS + 1):
        w = matvec(v)
        new = float(np.linalg.norm(w))
        if new == 0.0:
            return 0.0, k
        v = w / new
        if abs(new - estimate) <= POWER_RTOL * new:
            return new, k
        estimate = new
    return estimate, POWER_MAX_ITERS


class MLPCurvature:
    """Second-order facts of the MLP: ``L_estimate`` (lazy), ``in_region``, ``hess`` (see the module docstring).

    Expects on the instance: ``dim``, ``name``, ``L_radius``, ``_x0``, ``_power_rng`` (the initialisation
    stream after the initial weights were drawn), ``_L_estimate = None``, ``_L_estimate_method = None``,
    and the methods ``_views``, ``_hessian_operator``, ``_check_x``.
    """

    @property
    def L_estimate(self) -> float:
        """||Hess f(x0)||_2 by power iteration: a local estimate, not a bound (computed on first access, cached)."""
        if self._L_estimate is None:
            v = copy.deepcopy(self._power_rng).standard_normal(self.dim)
            self._L_estimate, iters = power_norm(self._hessian_operator(self._x0), v)
            self._L_estimate_method = (
                f"power iteration on the full-batch Hessian at x0 ({iters} exact R-operator Hessian-vector "
                f"products, relative tolerance {POWER_RTOL:g}); a lower estimate of ||Hess f(x0)||_2, not a "
                "certified bound"
            )
        return self._L_estimate

    @L_estimate.setter
    def L_estimate(self, value: float | None) -> None:
        """Set (or, with None, reset to lazy) the estimate; ``Problem.__init__`` passes None."""
        self._L_estimate = None if value is None else float(value)
        self._L_estimate_method = None if value is None else "set by the user"

    @property
    def L_estimate_method(self) -> str:
        """How ``L_estimate`` was obtained (computes the estimate if needed)."""
        if self._L_estimate_method is None:
            self.L_estimate  # noqa: B018 - computes the estimate and its method
        return self._L_estimate_method

    @L_estimate_method.setter
    def L_estimate_method(self, value: str | None) -> None:
        if value is not None:
            self._L_estimate_method = str(value)

    def in_region(self, x: np.ndarray) -> bool:
        """Whether ||W^y||_2 <= ``L_radius`` at x (the region ``L_region`` where ``L`` holds); always False for ReLU."""
        x = self._check_x(x)
        if self.L_radius is None:
            return False
        return bool(np.linalg.norm(self._views(x)[2], 2) <= self.L_radius)

    @property
    def has_hess(self) -> bool:
        """Whether ``hess`` is available: for ``dim <= HESS_MAX_DIM``."""
        return self.dim <= HESS_MAX_DIM

    def hess(self, x: np.ndarray) -> np.ndarray:
        """The dense Hessian (dim x dim) from ``dim`` exact Hessian-vector products; only for dim <= HESS_MAX_DIM."""
        self._check_hess_dim()
        return super().hess(x)

    def _check_hess_dim(self) -> None:
        if self.dim > HESS_MAX_DIM:
            raise UserInputError(
                f"{self.name}: hess(x) builds the dense Hessian only for dim <= {HESS_MAX_DIM}, and this network "
                f"has dim = {self.dim} parameters; use hvp(x, v) (exact Hessian-vector products) instead"
            )

    def _hess(self, x: np.ndarray) -> np.ndarray:
        """Columns Hess f(x) e_j by the R-operator, symmetrised (the products are exact up to rounding)."""
        self._check_hess_dim()
        op = self._hessian_operator(x)
        e = np.zeros(self.dim)
        H = np.empty((self.dim, self.dim))
        for j in range(self.dim):
            e[j] = 1.0
            H[:, j] = op(e)
            e[j] = 0.0
        return 0.5 * (H + H.T)
