"""Problem family ``quadratic``: f(x) = 1/2 x'Qx - b'x with a chosen spectrum.

Q = V diag(lambda) V' is symmetric positive semidefinite with eigenbasis V (a
Haar-random orthogonal matrix drawn from the seed, or the identity for
``basis="diagonal"``) and eigenvalues

* ``rank`` of them nonzero, in [L/kappa, L], the two ends attained exactly, laid out by ``spectrum``:

  - ``"linear"``      evenly spaced;
  - ``"geometric"``   log-evenly spaced (``numpy.geomspace``);
  - ``"log_uniform"`` the ends plus rank-2 values drawn log-uniformly from the seed;
  - ``"two_cluster"`` floor(rank/2) values log-evenly in [L/kappa, L/kappa * kappa^0.05],
    the rest in [L kappa^-0.05, L] (two tight clusters, the setting where conjugate
    gradients beat their kappa bound);

* ``dim - rank`` of them zero: the convex but not strongly convex variant.

Constants (Nesterov, *Lectures on Convex Optimization*, 2nd ed., 2018, Sec. 2.1):
grad f = Qx - b and grad^2 f = Q, so L = lambda_max(Q) is the exact (tight) Lipschitz
constant of the gradient and mu = lambda_min(Q) (0.0 when rank < dim). Because forming
Q in floating point perturbs its eigenvalues by ~1e-16 L, the stored L is the larger of
the requested L and the top eigenvalue of the computed Q (mu the smaller of L/kappa and
the computed bottom one), so rounding can never make L invalid.

Data and start: z and g are standard Gaussian vectors from the seed; b = Qz, so b lies in
the range of Q and a minimiser exists; the reference is the minimum-norm minimiser
x* = Q^+ b = V diag(1/lambda on the nonzero eigenvalues) V' b ("closed form"),
f* = -b'x*/2. The start x0 is the projection of g onto range(Q) (g itself when Q is
nonsingular): every method whose iterates stay in x0 + range(Q) -- gradient descent,
heavy ball, Nesterov, conjugate gradients -- then converges to this x* and
``dist_to_opt`` goes to zero also in the singular case.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems import register
from problems._linalg import random_orthogonal
from problems._validate import check_choice, check_float, check_int
from problems.base import Index, Problem
from problems.errors import UserInputError
from problems.families._common import check_seed, readonly
from problems.reference import Reference

__all__ = ["SPECTRA", "Quadratic", "quadratic", "quadratic_spectrum"]

#: Spectrum layouts accepted by ``spectrum``.
SPECTRA = ("linear", "geometric", "log_uniform", "two_cluster")

#: Largest dimension (Q is stored densely).
MAX_DIM = 4096


def quadratic_spectrum(rank: int, kappa: float, L: float, spectrum: str, rng: np.random.Generator) -> np.ndarray:
    """The ``rank`` nonzero eigenvalues, ascending, in [L/kappa, L] with both ends attained exactly."""
    lo, hi = L / kappa, L
    if rank == 1:
        return np.array([hi])
    if spectrum == "linear":
        lam = np.linspace(lo, hi, rank)
    elif spectrum == "geometric":
        lam = np.geomspace(lo, hi, rank)
    elif spectrum == "log_uniform":
        inner = np.exp(rng.uniform(np.log(lo), np.log(hi), size=rank - 2))
        lam = np.concatenate(([lo], np.sort(inner), [hi]))
    else:  # two_cluster
        m = rank // 2
        width = kappa**0.05
        lam = np.concatenate((np.geomspace(lo, lo * width, m), np.geomspace(hi / width, hi, rank - m)))
    lam = np.clip(np.sort(lam), lo, hi)
    lam[0], lam[-1] = lo, hi
    return lam


class Quadratic(Problem):
    """f(x) = 1/2 x'Qx - b'x with Q PSD of prescribed spectrum (see the module docstring).

    Public attributes beyond the contract: ``Q`` and ``b`` (read-only arrays),
    ``eigenvalues`` (all dim eigenvalues used to build Q, ascending, zeros first),
    ``eigenvectors`` (V, read-only), ``kappa`` (lambda_max / smallest nonzero eigenvalue),
    ``rank`` (number of nonzero eigenvalues).
    """

    family = "quadratic"
    #: f is a quadratic form: the exact line-search step and Newton's one-step convergence apply.
    is_quadratic = True

    def __init__(
        self,
        *,
        Q: np.ndarray,
        b: np.ndarray,
        eigenvalues: np.ndarray,
        eigenvectors: np.ndarray,
        x0: np.ndarray,
        L: float,
        mu: float,
        kappa: float,
        params: dict[str, Any],
    ) -> None:
        super().__init__(params=params, x0=x0, L=L, mu=mu, convex=True)
        self.Q = readonly(Q)
        self.b = readonly(b)
        self.eigenvalues = readonly(eigenvalues)
        self.eigenvectors = readonly(eigenvectors)
        self.kappa = float(kappa)
        self.rank = int(np.count_nonzero(eigenvalues))

    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        qx = self.Q @ x
        return float(x @ (0.5 * qx - self.b)), qx - self.b

    def _value(self, x: np.ndarray, idx: Index) -> float:
        return float(x @ (0.5 * (self.Q @ x) - self.b))

    def _grad(self, x: np.ndarray, idx: Index) -> np.ndarray:
        return self.Q @ x - self.b

    def _hess(self, x: np.ndarray) -> np.ndarray:
        return np.array(self.Q)

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.Q @ v

    def _compute_reference(self) -> Reference:
        lam, V = self.eigenvalues, self.eigenvectors
        inv = np.zeros_like(lam)
        nz = lam > 0
        inv[nz] = 1.0 / lam[nz]
        x_star = V @ (inv * (V.T @ self.b))
        f_star = -0.5 * float(self.b @ x_star)
        grad_norm = float(np.linalg.norm(self._grad(x_star, None)))
        return Reference(
            f_star,
            x_star,
            "closed form",
            {
                "grad_norm": grad_norm,
                "grad_norm_rel": grad_norm / max(float(np.linalg.norm(self.b)), np.finfo(float).tiny),
                "formula": "x* = V diag(1/lambda_i on nonzero lambda_i) V' b (minimum-norm), f* = -b'x*/2",
                "unique": self.rank == self.dim,
            },
        )


@register(
    "quadratic",
    summary="Quadratic 1/2 x'Qx - b'x with chosen dimension, condition number and spectrum shape",
    convex=True,
    L="exact: lambda_max(Q) (the L parameter; rounding-safe)",
    mu="exact: lambda_min(Q) = L/kappa; 0.0 when rank < dim",
    f_star="closed form: x* = Q^+ b (minimum norm), f* = -b'x*/2",
)
def quadratic(
    dim: int = 20,
    kappa: float = 100.0,
    spectrum: str = "geometric",
    L: float = 1.0,
    rank: int | None = None,
    basis: str = "random",
    seed: int = 0,
) -> Quadratic:
    """Quadratic f(x) = 1/2 x'Qx - b'x; Q has ``rank`` nonzero eigenvalues in [L/kappa, L].

    ``dim`` in [1, 4096]; ``kappa`` >= 1 is lambda_max over the smallest nonzero
    eigenvalue; ``spectrum`` one of "linear", "geometric", "log_uniform", "two_cluster";
    ``L`` > 0 the largest eigenvalue; ``rank`` in [1, dim] (None: dim; below dim gives the
    convex, not strongly convex variant with mu = 0); ``basis`` "random" (seeded Haar
    eigenbasis) or "diagonal"; ``seed`` >= 0.
    """
    dim = check_int("dim", dim, low=1, high=MAX_DIM)
    kappa = check_float("kappa", kappa, low=1.0)
    spectrum = check_choice("spectrum", spectrum, SPECTRA)
    L = check_float("L", L, low=0.0, low_open=True)
    rank = dim if rank is None else check_int("rank", rank, low=1, high=dim)
    basis = check_choice("basis", basis, ("random", "diagonal"))
    seed = check_seed(seed)
    if rank == 1 and kappa != 1.0:
        raise UserInputError(f"kappa: must be 1 when only one eigenvalue is nonzero (rank = 1), got {kappa:g}")
    if L / kappa == 0.0:
        raise UserInputError(f"kappa: L/kappa underflows to 0 (L={L:g}, kappa={kappa:g}); use a smaller kappa")

    rng = np.random.default_rng(seed)
    nonzero = quadratic_spectrum(rank, kappa, L, spectrum, rng)
    lam = np.concatenate((np.zeros(dim - rank), nonzero))
    V = random_orthogonal(rng, dim) if basis == "random" else np.eye(dim)
    Q = (V * lam) @ V.T
    Q = 0.5 * (Q + Q.T)
    z = rng.standard_normal(dim)
    g = rng.standard_normal(dim)
    b = Q @ z
    if rank < dim:
        Vr = V[:, dim - rank :]
        x0 = Vr @ (Vr.T @ g)
    else:
        x0 = g

    computed = np.linalg.eigvalsh(Q)
    L_valid = max(L, float(computed[-1]))
    mu = max(0.0, min(L / kappa, float(computed[0]))) if rank == dim else 0.0
    params = {"dim": dim, "kappa": kappa, "spectrum": spectrum, "L": L, "rank": rank, "basis": basis, "seed": seed}
    return Quadratic(
        Q=Q, b=b, eigenvalues=lam, eigenvectors=V, x0=x0, L=L_valid, mu=mu, kappa=kappa, params=params
    )
