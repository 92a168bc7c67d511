"""The ``Problem`` contract every objective in the registry follows.

A problem is a function f: R^d -> R with its first-order oracle and the
constants theory needs:

* ``L`` -- a *valid* Lipschitz constant of grad f: ||grad f(x) - grad f(y)|| <= L ||x - y||
  for all x, y in ``L_region`` (``"global"`` for globally L-smooth families). A
  heuristic value is never stored in ``L``; it goes to ``L_estimate`` with
  ``L_estimate_method``.
* ``mu`` -- strong-convexity constant (0.0 if convex but not strongly convex,
  None if nonconvex).
* ``L_max`` -- for finite sums f = (1/n) sum_i phi_i, with phi_i(x) = ``value(x, [i])`` (the
  single-sample function, regulariser included): a valid Lipschitz constant of every grad phi_i,
  L_max >= max_i Lip(grad phi_i) (valid where ``L`` is). Stochastic-gradient theory needs it
  (the expected smoothness of minibatches, :mod:`testbed.theory.expectation`); None when not stated.
* ``f_star``, ``x_star`` -- a certified reference optimum (see
  :mod:`problems.reference`), computed lazily on first access and cached.

Subclasses implement the private hooks ``_value_and_grad(x, idx)`` (required)
and, where cheaper, ``_value``, ``_grad``, ``_hvp``, ``_hess``. The public
methods validate their input; the hooks do not, which is what the run loop
calls once it has validated the start point.

Finite sums f(x) = (1/n) sum_i f_i(x) + r(x) set ``n_samples``; then
``value(x, idx)`` is (1/|idx|) sum_{i in idx} f_i(x) + r(x), so that the mean of
minibatch values over a partition into equal-size batches equals ``value(x)``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import numpy as np

from problems._validate import check_bool, check_float, check_vector
from problems.errors import UserInputError
from problems.reference import Reference, cached_reference

__all__ = ["CustomProblem", "Problem"]

Index = np.ndarray | None


class Problem(abc.ABC):
    """Base class of every registered objective; see the module docstring for the contract."""

    #: Family name in the registry (subclasses set it).
    family: str = "problem"
    #: True for families whose f is a quadratic form (constant Hessian): exact line search applies.
    is_quadratic: bool = False
    #: Finite sums only: a valid Lipschitz constant of the gradient of every single-sample function
    #: phi_i(x) = value(x, [i]) (regulariser included); None if the family states none (see the module docstring).
    L_max: float | None = None

    def __init__(
        self,
        *,
        params: dict[str, Any],
        x0: np.ndarray,
        L: float | None,
        mu: float | None,
        convex: bool,
        L_region: str = "global",
        L_estimate: float | None = None,
        L_estimate_method: str | None = None,
        n_samples: int | None = None,
        name: str | None = None,
    ) -> None:
        self.params = dict(params)
        self.name = name or self.family
        self._x0 = np.array(x0, dtype=np.float64).reshape(-1)
        self._x0.setflags(write=False)
        self.dim = int(self._x0.size)
        self.L = None if L is None else float(L)
        self.mu = None if mu is None else float(mu)
        self.convex = bool(convex)
        self.L_region = L_region
        self.L_estimate = L_estimate
        self.L_estimate_method = L_estimate_method
        self.n_samples = n_samples
        self._reference: Reference | None = None

    # ------------------------------------------------------------------ start
    @property
    def x0(self) -> np.ndarray:
        """The family's standard starting point (a fresh float64 copy each time)."""
        return self._x0.copy()

    # ----------------------------------------------------------- the oracle
    def _check_x(self, x: np.ndarray) -> np.ndarray:
        return check_vector("x", x, self.dim)

    def _check_idx(self, idx: Index) -> Index:
        if idx is None:
            return None
        if self.n_samples is None:
            raise UserInputError(f"{self.name}: idx given but this problem is not a finite sum")
        idx = np.asarray(idx)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise UserInputError("idx: must be a non-empty 1-D integer array of sample indices")
        if idx.min() < 0 or idx.max() >= self.n_samples:
            raise UserInputError(f"idx: sample indices must lie in [0, {self.n_samples - 1}]")
        return idx

    def value(self, x: np.ndarray, idx: Index = None) -> float:
        """f(x), or the minibatch value over sample indices ``idx`` for finite sums."""
        return float(self._value(self._check_x(x), self._check_idx(idx)))

    def grad(self, x: np.ndarray, idx: Index = None) -> np.ndarray:
        """grad f(x) (a new array), or the minibatch gradient over ``idx``."""
        return self._grad(self._check_x(x), self._check_idx(idx))

    def value_and_grad(self, x: np.ndarray, idx: Index = None) -> tuple[float, np.ndarray]:
        """(f(x), grad f(x)) computed in one pass."""
        f, g = self._value_and_grad(self._check_x(x), self._check_idx(idx))
        return float(f), g

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hessian-vector product grad^2 f(x) v, for families that provide it."""
        if not self.has_hvp:
            raise UserInputError(f"{self.name}: this problem provides no Hessian-vector product")
        return self._hvp(self._check_x(x), check_vector("v", v, self.dim))

    def hess(self, x: np.ndarray) -> np.ndarray:
        """The dense Hessian grad^2 f(x) (dim x dim), for families that provide it."""
        if not self.has_hess:
            raise UserInputError(f"{self.name}: this problem provides no Hessian")
        return self._hess(self._check_x(x))

    @property
    def has_hvp(self) -> bool:
        """Whether ``hvp`` is available."""
        return type(self)._hvp is not Problem._hvp or self.has_hess

    @property
    def has_hess(self) -> bool:
        """Whether ``hess`` is available."""
        return type(self)._hess is not Problem._hess

    # Hooks for subclasses (no validation) ---------------------------------
    @abc.abstractmethod
    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        """(f, grad f) at x, over the samples ``idx`` (all if None); no input validation."""

    def _value(self, x: np.ndarray, idx: Index) -> float:
        return self._value_and_grad(x, idx)[0]

    def _grad(self, x: np.ndarray, idx: Index) -> np.ndarray:
        return self._value_and_grad(x, idx)[1]

    def _hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._hess(x) @ v

    def _hess(self, x: np.ndarray) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} defines no Hessian")

    # ------------------------------------------------------- the reference
    def _compute_reference(self) -> Reference | None:
        """Compute the reference optimum; families override. None when unknown."""
        return None

    def _reference_cache_key(self) -> dict[str, Any] | None:
        """Parameters identifying the reference on disk; None disables the disk cache."""
        return None

    def _reference_is_valid(self, ref: Reference) -> bool:
        """Whether a reference read back from the disk cache fits this instance; a rejected one is recomputed.

        The default checks shapes and finiteness; families override to also
        check that f(x*) = f* and that x* is optimal.
        """
        if ref.f_star is not None and not np.isfinite(ref.f_star):
            return False
        if ref.x_star is None:
            return True
        return ref.x_star.shape == (self.dim,) and bool(np.all(np.isfinite(ref.x_star)))

    def reference_optimum(self) -> Reference | None:
        """The (lazily computed, disk-cached) reference optimum, or None where f* is unknown."""
        if self._reference is None:
            key = self._reference_cache_key()
            compute = self._compute_reference
            if key is None:
                ref = compute()
            else:
                ref = cached_reference(
                    self.family,
                    key,
                    lambda: compute() or Reference(None, None, "unknown"),
                    validate=self._reference_is_valid,
                )
            self._reference = ref if ref is not None else Reference(None, None, "unknown")
        return None if self._reference.method == "unknown" else self._reference

    @property
    def f_star(self) -> float | None:
        """The optimal value (None if unknown)."""
        ref = self.reference_optimum()
        return None if ref is None else ref.f_star

    @property
    def x_star(self) -> np.ndarray | None:
        """A minimiser (a copy; None if unknown or not unique)."""
        ref = self.reference_optimum()
        return None if ref is None or ref.x_star is None else ref.x_star.copy()

    @property
    def reference(self) -> str:
        """How f*/x* was obtained: "closed form", "cvxpy:CLARABEL", "known", or "unknown"."""
        ref = self.reference_optimum()
        return "unknown" if ref is None else ref.method

    @property
    def reference_certificate(self) -> dict[str, Any]:
        """The certificate of the reference: ||grad f(x*)||, solver status, duality gap, cross-check."""
        ref = self.reference_optimum()
        return {} if ref is None else dict(ref.certificate)

    # ----------------------------------------------------------- misc
    @property
    def is_finite_sum(self) -> bool:
        """True if minibatch oracles ``value(x, idx)``/``grad(x, idx)`` are available."""
        return self.n_samples is not None

    @property
    def is_constrained(self) -> bool:
        """True if the problem has a feasible set (then ``project`` exists)."""
        return hasattr(self, "project")

    def in_region(self, x: np.ndarray) -> bool:
        """Whether x lies in ``L_region``, where ``L`` is valid (always True for "global")."""
        return True

    def in_region_rows(self, X: np.ndarray) -> np.ndarray:
        """``in_region`` of each row of ``X`` (n, dim) as a bool array; families vectorise it where they can."""
        return np.fromiter((self.in_region(x) for x in X), dtype=bool, count=len(X))

    def summary(self) -> dict[str, Any]:
        """Catalogue facts about this instance (no reference is computed)."""
        return {
            "name": self.name,
            "family": self.family,
            "dim": self.dim,
            "convex": self.convex,
            "L": self.L,
            "L_region": self.L_region,
            "mu": self.mu,
            "n_samples": self.n_samples,
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<{type(self).__name__} {self.name}({shown}) dim={self.dim}>"


class CustomProblem(Problem):
    """An objective given by the user's own callables (see :func:`problems.custom`)."""

    family = "custom"

    def __init__(
        self,
        *,
        value: Callable[[np.ndarray], float],
        grad: Callable[[np.ndarray], np.ndarray],
        x0: np.ndarray,
        L: float | None = None,
        mu: float | None = None,
        f_star: float | None = None,
        x_star: np.ndarray | None = None,
        convex: bool | None = None,
        name: str = "custom",
        value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
        hess: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        if not callable(value) or not callable(grad):
            raise UserInputError("custom: value and grad must be callables")
        x0 = np.asarray(x0)
        if x0.ndim != 1 or x0.size == 0 or not np.issubdtype(x0.dtype, np.number):
            raise UserInputError(f"x0: must be a non-empty 1-D numeric array, got shape {x0.shape}")
        L = check_float("L", L, low=0.0, low_open=True, allow_none=True)
        mu = check_float("mu", mu, low=0.0, allow_none=True)
        if mu is not None and L is not None and mu > L:
            raise UserInputError(f"mu: must be <= L = {L:g}, got {mu:g}")
        f_star = check_float("f_star", f_star, allow_none=True)
        if convex is None:
            convex = mu is not None
        convex = check_bool("convex", convex)
        if not isinstance(name, str) or not name:
            raise UserInputError(f"name: must be a non-empty string, got {name!r}")
        super().__init__(
            params={"name": name}, x0=x0.astype(np.float64), L=L, mu=mu, convex=convex, name=name
        )
        self._f, self._g, self._fg, self._h = value, grad, value_and_grad, hess
        if x_star is not None:
            x_star = np.array(x_star, dtype=np.float64).reshape(-1)
            check_vector("x_star", x_star, self.dim)
        if f_star is not None or x_star is not None:
            fs = float(f_star) if f_star is not None else float(value(x_star))
            self._reference = Reference(fs, x_star, "user", {})

    def _value(self, x: np.ndarray, idx: Index) -> float:
        return float(self._f(x))

    def _grad(self, x: np.ndarray, idx: Index) -> np.ndarray:
        return np.asarray(self._g(x), dtype=np.float64)

    def _value_and_grad(self, x: np.ndarray, idx: Index) -> tuple[float, np.ndarray]:
        if self._fg is not None:
            f, g = self._fg(x)
            return float(f), np.asarray(g, dtype=np.float64)
        return float(self._f(x)), np.asarray(self._g(x), dtype=np.float64)

    @property
    def has_hess(self) -> bool:
        """Whether the user supplied a Hessian."""
        return self._h is not None

    def _hess(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._h(x), dtype=np.float64)
