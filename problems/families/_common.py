"""Helpers shared by the problem families: the CVXPY solve, cache checks, small array utilities.

* :func:`solve_cvxpy` solves a ``cvxpy.Problem`` with Clarabel at tightened
  tolerances and raises :class:`~problems.errors.SolverError` unless the status is
  exactly ``"optimal"`` -- a reference optimum is never taken from an inaccurate,
  infeasible or unbounded solve.
* :func:`reference_matches` is the check a family runs on a reference read back from
  the disk cache (shape, f(x*) = f*, optimality residual), so a stale or tampered
  file is recomputed rather than trusted.
* :func:`readonly`, :func:`rel_diff`, :func:`check_seed` -- small utilities.

cvxpy is imported inside :func:`solve_cvxpy` only (importing it costs about a second).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from problems._validate import check_int
from problems.errors import SolverError
from problems.reference import Reference

__all__ = [
    "AGREEMENT_FLOOR",
    "CLARABEL_OPTIONS",
    "REFERENCE_SOLVER",
    "check_seed",
    "cvxpy_method",
    "readonly",
    "reference_matches",
    "rel_diff",
    "solve_cvxpy",
]

#: The solver of every CVXPY reference optimum.
REFERENCE_SOLVER = "CLARABEL"

#: Clarabel settings for reference solves: gap and feasibility tolerances 1e-10
#: (Clarabel's defaults are 1e-8), so that a reference agrees with an independent
#: cross-check to ~1e-10 in f. A solve that cannot reach them ends "optimal_inaccurate"
#: and raises.
CLARABEL_OPTIONS: dict[str, Any] = {
    "tol_gap_abs": 1e-10,
    "tol_gap_rel": 1e-10,
    "tol_feas": 1e-10,
    "tol_ktratio": 1e-8,
}


#: Floor, as a fraction of f(0), of the denominator of a reference's relative f agreement
#: |f_cvxpy - f_check| / max(|f_cvxpy|, |f_check|, AGREEMENT_FLOOR f(0)); without it the
#: measure is meaningless when f* = 0 (an interior-point solve is accurate in absolute terms).
AGREEMENT_FLOOR = 1e-8


def cvxpy_method(solver: str | None = None) -> str:
    """The ``Problem.reference`` string of a CVXPY reference, e.g. ``"cvxpy:CLARABEL"`` (default solver)."""
    return f"cvxpy:{solver or REFERENCE_SOLVER}"


def solve_cvxpy(problem: Any, what: str, *, solver: str | None = None) -> dict[str, Any]:
    """Solve the ``cvxpy.Problem`` ``problem``; raise ``SolverError`` unless its status is "optimal".

    ``what`` names the solve in the error (e.g. "least_squares reference"); ``solver``
    defaults to :data:`REFERENCE_SOLVER`, with :data:`CLARABEL_OPTIONS` for Clarabel.
    A solver that is missing or crashes raises ``SolverError`` with status "solver_error".
    Returns certificate entries: solver, status, solver_iterations, solver_objective.
    """
    import cvxpy as cp

    solver = solver or REFERENCE_SOLVER
    options = dict(CLARABEL_OPTIONS) if solver == "CLARABEL" else {}
    try:
        with warnings.catch_warnings():  # an inaccurate solve raises below; its warning would only repeat that
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=solver, **options)
    except cp.error.SolverError as exc:
        raise SolverError(what, solver, "solver_error", str(exc)) from exc
    status = str(problem.status)
    if status != cp.OPTIMAL:
        raise SolverError(what, solver, status)
    stats = problem.solver_stats
    iters = getattr(stats, "num_iters", None)
    return {
        "solver": solver,
        "status": status,
        "solver_iterations": -1 if iters is None else int(iters),
        "solver_objective": float(problem.value),
    }


def reference_matches(
    ref: Reference, *, method: str, dim: int, value: Any, residual: Any, residual_tol: float
) -> bool:
    """Whether a cached reference fits the instance it is read for.

    Checks the method string, that x* is a finite vector of length ``dim``, that
    ``value(x*)`` reproduces f* to 1e-10 relative, and that ``residual(x*)`` (the
    optimality residual: ||grad f|| or a KKT residual) is at most ``residual_tol``.
    """
    x = ref.x_star
    if ref.method != method or ref.f_star is None or x is None:
        return False
    if x.shape != (dim,) or not np.all(np.isfinite(x)) or not np.isfinite(ref.f_star):
        return False
    f = float(value(x))
    if abs(f - ref.f_star) > 1e-10 * max(abs(f), abs(ref.f_star), np.finfo(float).tiny):
        return False
    return float(residual(x)) <= residual_tol


def readonly(array: np.ndarray) -> np.ndarray:
    """A float64 copy of ``array`` that cannot be written to (problem data are immutable)."""
    out = np.array(array, dtype=np.float64)
    out.setflags(write=False)
    return out


def rel_diff(a: float, b: float, floor: float = 0.0) -> float:
    """|a - b| / max(|a|, |b|, floor); 0.0 when all three are zero."""
    den = max(abs(a), abs(b), floor)
    return 0.0 if den == 0.0 else abs(a - b) / den


def check_seed(seed: object) -> int:
    """Validate a seed: an integer >= 0 (the seed of ``numpy.random.default_rng``)."""
    return check_int("seed", seed, low=0)
