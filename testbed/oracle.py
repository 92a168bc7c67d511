"""The counting oracle an optimizer sees.

An optimizer never touches the problem's functions directly: it asks the
:class:`Oracle`, which counts every value, gradient, Hessian-vector and Hessian
call, applies the current minibatch for stochastic runs, and exposes the
problem's static facts (``L``, ``mu``, ``f_star``, ``project``, constraints)
through ``oracle.problem``.

Recording in the run loop evaluates f and grad f at each recorded iterate; that
evaluation is *not* counted. When the optimizer's first request of a step is
for the very iterate the loop just evaluated (same array object, same bytes,
full batch), the oracle hands back the recorded result and counts it as the
optimizer's call, so gradient descent pays one evaluation per step, not two.
The bytes are compared because an optimizer may update ``x`` in place before
its first request (a look-ahead step): then the request is evaluated afresh.
"""

from __future__ import annotations

import numpy as np

from problems import Problem

__all__ = ["Oracle"]


class Oracle:
    """Counting, minibatch-aware access to a problem's value, gradient and curvature."""

    __slots__ = (
        "_cf",
        "_cg",
        "_cx",
        "_fresh",
        "_g",
        "_n",
        "_snap",
        "_v",
        "_vg",
        "batch",
        "f_evals",
        "grad_evals",
        "hess_evals",
        "hvp_evals",
        "problem",
        "samples",
    )

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.f_evals = 0
        self.grad_evals = 0
        self.hvp_evals = 0
        self.hess_evals = 0
        #: Per-sample gradients computed so far (finite sums), for ``epochs``.
        self.samples = 0
        #: Current minibatch (sample indices) or None for the full objective.
        self.batch: np.ndarray | None = None
        self._n = problem.n_samples
        self._cx: np.ndarray | None = None
        self._cf = 0.0
        self._cg: np.ndarray | None = None
        self._fresh = False
        self._snap = b""
        self._vg = problem._value_and_grad
        self._v = problem._value
        self._g = problem._grad

    # -- facts -----------------------------------------------------------
    @property
    def L(self) -> float | None:
        """The problem's Lipschitz constant of the gradient (None if unknown)."""
        return self.problem.L

    @property
    def mu(self) -> float | None:
        """The problem's strong-convexity constant."""
        return self.problem.mu

    @property
    def dim(self) -> int:
        """Dimension of x."""
        return self.problem.dim

    @property
    def stochastic(self) -> bool:
        """True when the current requests are for a minibatch."""
        return self.batch is not None

    # -- loop side -------------------------------------------------------
    def offer(self, x: np.ndarray, f: float, g: np.ndarray) -> None:
        """Loop side: (f, g) was just computed at ``x`` for recording; the next request at ``x`` may use it."""
        self._cx, self._cf, self._cg, self._fresh = x, f, g, True
        self._snap = x.tobytes()  # a copy of x's bytes: an in-place change of x before the request voids the offer

    def consumed_offer(self) -> bool:
        """Loop side: whether the last offered evaluation was used (and counted) by the optimizer."""
        return self._cx is None and not self._fresh

    def end_step(self) -> None:
        """Loop side: drop any unused offer at the end of a step."""
        self._cx, self._cg, self._fresh, self._snap = None, None, False, b""

    def settle(self) -> bool:
        """Loop side: :meth:`consumed_offer`, then :meth:`end_step`, in one call (the run loop's per-step path)."""
        consumed = self._cx is None and not self._fresh
        self._cx, self._cg, self._fresh, self._snap = None, None, False, b""
        return consumed

    def _take(self, x: np.ndarray) -> bool:
        if self._fresh:
            self._fresh = False
            if x is self._cx and self.batch is None and x.tobytes() == self._snap:
                self._cx = None
                return True
        return False

    def _count_samples(self) -> None:
        if self._n is not None:
            self.samples += self._n if self.batch is None else len(self.batch)

    # -- optimizer side --------------------------------------------------
    def value(self, x: np.ndarray) -> float:
        """f(x) on the current batch; counts one value evaluation."""
        self.f_evals += 1
        if self._take(x):
            return self._cf
        return float(self._v(x, self.batch))

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad f(x) on the current batch; counts one gradient evaluation."""
        # _count_samples and _take inlined: this is the per-step call of every first-order method
        self.grad_evals += 1
        batch = self.batch
        if self._n is not None:
            self.samples += self._n if batch is None else len(batch)
        if self._fresh:
            self._fresh = False
            if x is self._cx and batch is None and x.tobytes() == self._snap:
                self._cx = None
                return self._cg
        return self._g(x, batch)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(f(x), grad f(x)) in one pass; counts one value and one gradient evaluation."""
        self.f_evals += 1
        self.grad_evals += 1
        self._count_samples()
        if self._take(x):
            return self._cf, self._cg
        f, g = self._vg(x, self.batch)
        return float(f), g

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hessian-vector product; counts one hvp evaluation."""
        self.hvp_evals += 1
        self._fresh = False
        return self.problem.hvp(x, v)

    def hess(self, x: np.ndarray) -> np.ndarray:
        """Dense Hessian; counts one Hessian evaluation."""
        self.hess_evals += 1
        self._fresh = False
        return self.problem.hess(x)

    def counts(self) -> dict[str, int]:
        """Evaluation counts so far."""
        return {
            "f_evals": self.f_evals,
            "grad_evals": self.grad_evals,
            "hvp_evals": self.hvp_evals,
            "hess_evals": self.hess_evals,
        }
