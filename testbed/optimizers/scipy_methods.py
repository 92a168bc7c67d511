"""``scipy.optimize.minimize`` methods as driver optimizers: scipy runs its own loop, the run loop records.

========== ================= ========================================================================
name       scipy method      hyperparameters (scipy's options, same defaults)
========== ================= ========================================================================
lbfgs      ``L-BFGS-B``      maxcor, ftol, gtol, maxls
bfgs       ``BFGS``          gtol, norm, xrtol, c1, c2
cg         ``CG``            gtol, norm, c1, c2
newton_cg  ``Newton-CG``     xtol, c1, c2
trust_ncg  ``trust-ncg``     gtol, initial_trust_radius, max_trust_radius, eta
========== ================= ========================================================================

Each method is called as ``minimize(oracle.value_and_grad, x0, jac=True, method=..., hessp=oracle.hvp,
callback=...)`` (``hessp`` for Newton-CG and trust-ncg only), so every evaluation scipy asks for goes through
the counting oracle: with ``jac=True`` one call computes f and grad f together, so the run's ``f_evals`` =
``grad_evals`` = scipy's ``nfev`` (scipy's ``njev`` counts gradient *requests*, some answered from its cache,
so njev <= nfev), and ``hvp_evals`` = the number of ``hessp`` calls.

The history has one row per scipy iteration: scipy's callback hands each new iterate to the run loop (for
trust-ncg an iteration whose step is rejected repeats the iterate). When the run loop's budget is reached the
callback raises ``StopIteration``, which ``minimize`` honours since scipy 1.11 (status 99). Scipy's own
``maxiter``/``maxfun`` are set beyond reach so that only the run's budgets stop a run early.

A run ending without scipy's ``success`` (precision loss in the line search, NaN, a failed trust-region model)
raises :class:`~problems.errors.SolverError` with scipy's status and message; the run records status
``"error"`` and keeps the last iterate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from problems import Problem
from problems._validate import check_float, check_int
from problems.errors import SolverError, UserInputError
from testbed.optimizers.base import DriverOptimizer, register

__all__ = ["BFGS", "CG", "LBFGS", "NewtonCG", "ScipyMinimize", "TrustNCG"]

#: ``maxiter``/``maxfun`` passed to scipy: never reached, so the run loop's budgets decide.
_UNLIMITED = 2**62


def _check_wolfe(c1: object, c2: object) -> tuple[float, float]:
    """The Wolfe line-search constants: 0 < c1 < c2 < 1."""
    c1 = check_float("c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
    c2 = check_float("c2", c2, low=0.0, high=1.0, low_open=True, high_open=True)
    if not c1 < c2:
        raise UserInputError(f"c2: must be > c1 = {c1:g} (0 < c1 < c2 < 1), got {c2:g}")
    return c1, c2


def _check_norm(norm: object) -> float:
    """The order of the gradient norm in scipy's stopping test: a number >= 1 or inf."""
    if isinstance(norm, (int, float)) and not isinstance(norm, bool) and norm == math.inf:
        return math.inf
    return check_float("norm", norm, low=1.0)


class ScipyMinimize(DriverOptimizer):
    """Base class: one ``scipy.optimize.minimize`` method with its validated options (see the module docstring)."""

    #: scipy's method name.
    method: ClassVar[str] = ""
    #: Whether the method needs Hessian-vector products (``hessp``).
    needs_hvp: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.options = dict(options)

    def init(self, x0: np.ndarray, problem: Problem) -> None:
        """Refuse constrained problems, and problems without Hessian-vector products where they are needed."""
        if callable(getattr(problem, "inequalities", None)) or callable(getattr(problem, "project", None)):
            raise UserInputError(
                f"{self.name}: {problem.name} is a constrained problem and scipy's {self.method} is unconstrained; "
                "use 'barrier' or 'projected_gd'"
            )
        if self.needs_hvp and not problem.has_hvp:
            raise UserInputError(
                f"{self.name}: scipy's {self.method} needs Hessian-vector products, and {problem.name} provides "
                "neither hvp nor hess"
            )
        return None

    def drive(
        self, x0: np.ndarray, oracle: Any, callback: Callable[[np.ndarray], bool], max_iters: int | None
    ) -> tuple[np.ndarray, str]:
        """Run ``scipy.optimize.minimize`` from x0; return its final x and message (SolverError if not success)."""
        from scipy.optimize import minimize

        def stop_when_asked(xk: np.ndarray) -> None:
            if callback(xk):
                raise StopIteration

        options = dict(self.options, maxiter=_UNLIMITED)
        if self.method == "L-BFGS-B":
            options["maxfun"] = _UNLIMITED
        extra = {"hessp": oracle.hvp} if self.needs_hvp else {}
        res = minimize(
            oracle.value_and_grad, x0, jac=True, method=self.method, callback=stop_when_asked, options=options,
            **extra,
        )
        message = str(res.message)
        if not res.success and res.status != 99:
            raise SolverError(f"scipy.optimize.minimize(method={self.method!r})", "scipy", str(res.status), message)
        return np.asarray(res.x, dtype=np.float64), message


@register("lbfgs", source="scipy.optimize.minimize(method='L-BFGS-B')", kind="scipy")
class LBFGS(ScipyMinimize):
    """L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995; Nocedal & Wright 2006, Alg. 7.5) without bounds, via scipy.

    ``maxcor`` >= 1 stored correction pairs, ``ftol`` >= 0 relative reduction of f, ``gtol`` >= 0 on the
    largest projected-gradient component, ``maxls`` >= 1 line-search steps per iteration.
    """

    name = "lbfgs"
    source = "scipy.optimize.minimize(method='L-BFGS-B')"
    method = "L-BFGS-B"

    def __init__(self, *, maxcor: int = 10, ftol: float = 2.220446049250313e-09, gtol: float = 1e-5,
                 maxls: int = 20) -> None:
        super().__init__(
            maxcor=check_int("maxcor", maxcor, low=1),
            ftol=check_float("ftol", ftol, low=0.0),
            gtol=check_float("gtol", gtol, low=0.0),
            maxls=check_int("maxls", maxls, low=1),
        )


@register("bfgs", source="scipy.optimize.minimize(method='BFGS')", kind="scipy")
class BFGS(ScipyMinimize):
    """BFGS with a Wolfe line search (Nocedal & Wright 2006, Alg. 6.1), via scipy.

    ``gtol`` >= 0 on ||grad f||_norm, ``norm`` >= 1 or inf, ``xrtol`` >= 0 relative step tolerance,
    Wolfe constants 0 < ``c1`` < ``c2`` < 1.
    """

    name = "bfgs"
    source = "scipy.optimize.minimize(method='BFGS')"
    method = "BFGS"

    def __init__(self, *, gtol: float = 1e-5, norm: float = math.inf, xrtol: float = 0.0, c1: float = 1e-4,
                 c2: float = 0.9) -> None:
        c1, c2 = _check_wolfe(c1, c2)
        super().__init__(
            gtol=check_float("gtol", gtol, low=0.0), norm=_check_norm(norm), xrtol=check_float("xrtol", xrtol, low=0.0),
            c1=c1, c2=c2,
        )


@register("cg", source="scipy.optimize.minimize(method='CG')", kind="scipy")
class CG(ScipyMinimize):
    """Nonlinear conjugate gradients, Polak-Ribiere (Nocedal & Wright 2006, sec. 5.2), via scipy.

    ``gtol`` >= 0 on ||grad f||_norm, ``norm`` >= 1 or inf, Wolfe constants 0 < ``c1`` < ``c2`` < 1
    (scipy's default c2 = 0.4).
    """

    name = "cg"
    source = "scipy.optimize.minimize(method='CG')"
    method = "CG"

    def __init__(self, *, gtol: float = 1e-5, norm: float = math.inf, c1: float = 1e-4, c2: float = 0.4) -> None:
        c1, c2 = _check_wolfe(c1, c2)
        super().__init__(gtol=check_float("gtol", gtol, low=0.0), norm=_check_norm(norm), c1=c1, c2=c2)


@register("newton_cg", source="scipy.optimize.minimize(method='Newton-CG')", kind="scipy")
class NewtonCG(ScipyMinimize):
    """Line-search Newton-CG (Nocedal & Wright 2006, Alg. 7.1) on Hessian-vector products, via scipy.

    ``xtol`` > 0 average relative step tolerance, Wolfe constants 0 < ``c1`` < ``c2`` < 1.
    Needs a problem with ``hvp`` (or ``hess``).
    """

    name = "newton_cg"
    source = "scipy.optimize.minimize(method='Newton-CG')"
    method = "Newton-CG"
    needs_hvp = True

    def __init__(self, *, xtol: float = 1e-5, c1: float = 1e-4, c2: float = 0.9) -> None:
        c1, c2 = _check_wolfe(c1, c2)
        super().__init__(xtol=check_float("xtol", xtol, low=0.0, low_open=True), c1=c1, c2=c2)


@register("trust_ncg", source="scipy.optimize.minimize(method='trust-ncg')", kind="scipy")
class TrustNCG(ScipyMinimize):
    """Trust-region Newton-CG, Steihaug's CG (Nocedal & Wright 2006, Alg. 4.1 and 7.2), via scipy.

    ``gtol`` >= 0 on ||grad f||, ``initial_trust_radius`` > 0 below ``max_trust_radius``, acceptance
    threshold ``eta`` in [0, 1/4). Needs a problem with ``hvp`` (or ``hess``).
    """

    name = "trust_ncg"
    source = "scipy.optimize.minimize(method='trust-ncg')"
    method = "trust-ncg"
    needs_hvp = True

    def __init__(self, *, gtol: float = 1e-4, initial_trust_radius: float = 1.0, max_trust_radius: float = 1000.0,
                 eta: float = 0.15) -> None:
        r0 = check_float("initial_trust_radius", initial_trust_radius, low=0.0, low_open=True)
        rmax = check_float("max_trust_radius", max_trust_radius, low=0.0, low_open=True)
        if not r0 < rmax:
            raise UserInputError(
                f"initial_trust_radius: must be < max_trust_radius = {rmax:g}, got {r0:g}"
            )
        super().__init__(
            gtol=check_float("gtol", gtol, low=0.0), initial_trust_radius=r0, max_trust_radius=rmax,
            eta=check_float("eta", eta, low=0.0, high=0.25, high_open=True),
        )
