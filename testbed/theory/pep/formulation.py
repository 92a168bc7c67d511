r"""The Gram-matrix SDP of a performance estimation problem (Drori & Teboulle 2014; Taylor, Hendrickx & Glineur 2017).

A fixed-step first-order method run for N steps is described by the points where it queries the oracle. With
x* = 0, g* = 0, f* = 0 (no loss of generality) every point x_i and gradient g_i is a known linear combination of
the basis P = [x_0, g_0, ..., g_N] (coefficient rows ``X[i]``, ``Gr[i]``), and every inner product is linear in
the Gram matrix G = P^T P (PSD): <a, b> = a^T G b. The function values are further variables F.

Interpolation (Taylor, Hendrickx & Glineur 2017, Math. Program. 161, Thm 4): values and gradients
{(x_i, g_i, f_i)} are those of an L-smooth mu-strongly convex function (0 <= mu < L) iff for every ordered pair
i != j

.. math::

    f_j - f_i + \langle g_j, x_i - x_j\rangle + \frac{1}{2(1 - \mu/L)}\Bigl(\tfrac1L\|g_i - g_j\|^2
    + \mu\|x_i - x_j\|^2 - \tfrac{2\mu}{L}\langle g_j - g_i, x_j - x_i\rangle\Bigr) \le 0 .

The same expression with mu = -L is the interpolation condition of L-smooth functions without convexity
(Taylor et al. 2017, Thm 7; hypoconvex case of the same formula):
f_i >= f_j + 1/2 <g_i + g_j, x_i - x_j> + ||g_i - g_j||^2/(4L) - L/4 ||x_i - x_j||^2.

Each condition is linear in (G, F): for the pair (i, j) it reads <M_ij, G> + (e_j - e_i)^T F <= 0 with the
symmetric matrix

    M_ij = sym(g_j dx^T) + c/L dg dg^T + c mu dx dx^T - (2 c mu / L) sym(dg dx^T),
    dx = x_i - x_j, dg = g_i - g_j, c = 1/(2(1 - mu/L)),

so all P(P-1) conditions are stacked into one vectorised constraint A vec(G) + B F <= 0, with A and B built by
numpy here (:func:`interpolation_matrices`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PointSet", "interpolation_matrices", "sym_outer"]


@dataclass(frozen=True)
class PointSet:
    """Oracle points of a method in the Gram basis.

    ``X[i]`` and ``Gr[i]`` are the coefficients of x_i and g_i over the basis (length d), ``Fc[i]`` the
    coefficients of f_i over the value variables F (a unit row, or zero for the optimum, where f* = 0).
    ``last`` is the index of the final iterate x_N, ``sampled`` the indices whose gradients the method uses
    (for ``min_grad_norm2``), ``start`` the index of x_0.
    """

    X: np.ndarray
    Gr: np.ndarray
    Fc: np.ndarray
    last: int
    sampled: tuple[int, ...]
    start: int = 0

    @property
    def dim(self) -> int:
        """Size d of the Gram basis."""
        return int(self.X.shape[1])

    @property
    def n_values(self) -> int:
        """Number of function-value variables."""
        return int(self.Fc.shape[1])

    def with_optimum(self) -> PointSet:
        """The same points plus x* = 0, g* = 0, f* = 0 (appended last in the arrays)."""
        d, nf = self.dim, self.n_values
        return PointSet(
            X=np.vstack([self.X, np.zeros((1, d))]),
            Gr=np.vstack([self.Gr, np.zeros((1, d))]),
            Fc=np.vstack([self.Fc, np.zeros((1, nf))]),
            last=self.last,
            sampled=self.sampled,
            start=self.start,
        )


def sym_outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise symmetrised outer products (a_n b_n^T + b_n a_n^T) / 2, shape (n, d, d)."""
    ab = np.einsum("na,nb->nab", a, b)
    return 0.5 * (ab + ab.transpose(0, 2, 1))


def interpolation_matrices(points: PointSet, L: float, mu: float) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with one row per ordered pair i != j: A @ vec(G) + B @ F <= 0 is the interpolation condition.

    ``mu`` in [-L, L): mu >= 0 is the L-smooth mu-strongly convex class, mu = -L the L-smooth class.
    vec is either row- or column-major: every M_ij is symmetric.
    """
    P = points.X.shape[0]
    i, j = np.nonzero(~np.eye(P, dtype=bool))
    dx = points.X[i] - points.X[j]
    dg = points.Gr[i] - points.Gr[j]
    gj = points.Gr[j]
    c = 1.0 / (2.0 * (1.0 - mu / L))
    M = sym_outer(gj, dx) + (c / L) * np.einsum("na,nb->nab", dg, dg)
    if mu != 0.0:
        M += (c * mu) * np.einsum("na,nb->nab", dx, dx) - (2.0 * c * mu / L) * sym_outer(dg, dx)
    d = points.dim
    A = M.reshape(len(i), d * d)
    B = points.Fc[j] - points.Fc[i]
    return A, B
