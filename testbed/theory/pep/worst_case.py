"""``worst_case``: the exact worst case of a fixed-step first-order method, as a Gram-matrix SDP solved by CVXPY.

For ``method`` run ``iters`` = N steps on the class of L-smooth mu-strongly convex functions (mu = 0: convex),
from a start with ||x_0 - x*||^2 <= R^2 (``initial="dist"``) or f(x_0) - f* <= R (``initial="f_gap"``; R is then
the initial gap Delta), the value is

    max  metric(x_N)   over every function of the class and every dimension,

where metric is f(x_N) - f* (``"f_gap"``), ||x_N - x*||^2 (``"dist"``), ||grad f(x_N)||^2 (``"grad_norm2"``) or
min_k ||grad f(x_k)||^2 over the points where the method queried a gradient (``"min_grad_norm2"``). The SDP is
the one of :mod:`testbed.theory.pep.formulation` (Drori & Teboulle 2014; Taylor, Hendrickx & Glineur 2017) and
its value is the tight worst case (Taylor et al. 2017, Thm 5).

Function classes (``function_class``): ``"convex"`` (the default) is F_{mu,L}; ``"nonconvex"`` is the class of
L-smooth functions without convexity (interpolation of Taylor et al. 2017, Thm 7), used by default for
``metric="min_grad_norm2"`` with mu = 0. It has no minimiser in the basis, so it needs ``initial="f_gap"``: the
functions' lower bound f_* with f(x_0) - f_* <= R is imposed at the evaluated points (f(x_k) >= f_* for every
queried point). That is a relaxation of "f >= f_* everywhere", so the value is an upper bound on the worst case
of the class -- still a valid bound, tight whenever the worst interpolating function can be extended above f_*.

mu = L: the class is the single quadratic f* + L/2 ||x - x*||^2 (up to shifts), on which every method here is
linear: x_k - x* = c_k (x_0 - x*) with scalars c_k. The worst case is then evaluated exactly, without an SDP
(:func:`single_quadratic`): f_gap = L/2 c_N^2 r^2, dist = c_N^2 r^2, grad_norm2 = L^2 c_N^2 r^2,
min_grad_norm2 = L^2 min_k c_k^2 r^2, with r^2 = R^2 (``initial="dist"``) or 2R/L (``initial="f_gap"``).
(The SDP of this degenerate class has a rank-one feasible set that Clarabel resolves only to "optimal_inaccurate"
or to slightly negative values.)

Rules decided before any solve (the step range (0, 2/L) of GD: Nesterov 2004, Thm 2.1.14):

* *Non-convergent constant steps are refused.* Constant-step ``gd`` (``step`` a number h, in units of 1/L) with
  h >= 2 does not converge on the class: on f = L/2 ||x||^2 (which belongs to every class here, mu <= L) it gives
  x_N = (1 - h)^N x_0 with |1 - h| >= 1, and for mu > 0 the contraction factor max(|1 - h mu/L|, |1 - h|) is >= 1
  exactly when h >= 2. For a fixed N the worst case is *finite* (every iterate is within (1 + h)^N R of x*) but
  does not tend to 0: f_gap, dist and grad_norm2 are at least |1 - h|^(2N) times their starting value (growing
  exponentially in N for h > 2), and min_grad_norm2 stays at its trivial k = 0 value (L^2 R^2, or 2 L R on the
  nonconvex class). The SDP is then badly scaled or, for the nonconvex relaxation, unbounded (Clarabel ends
  "optimal_inaccurate", "unbounded" or fails). So a constant step h >= 2 raises
  :class:`~problems.errors.UserInputError` naming the range (0, 2). A step *sequence* is solved as given
  (patterns with some h_k > 2 can converge: Altschuler & Parrilo 2023).
* *Infinite worst cases are returned as* ``math.inf``. On the convex class with mu = 0, ``metric="dist"`` with
  ``initial="f_gap"`` is unbounded for every method: with eps -> 0, the Huber function
  f(x) = eps |x| - eps^2/(2L) (|x| >= eps/L), L/2 x^2 otherwise, is L-smooth and convex with x* = 0, f* = 0;
  from x_0 = R/eps (f(x_0) <= R) every gradient has size <= eps, so a fixed-step method moves by O(N eps / L)
  and ||x_N - x*||^2 >= (R/eps - O(N eps/L))^2 -> infinity. No SDP is solved for it.

Round-off: every metric is nonnegative, so a negative SDP value is solver round-off around a true value of 0. A
value in [-NEGATIVE_RTOL * scale, 0) is returned as 0.0, where scale = max(1, R^2, L R^2, L^2 R^2) for
``initial="dist"`` and max(1, R, L R, R/L) for ``initial="f_gap"`` (the sizes of the quantities the SDP
compares); a more negative value raises :class:`~problems.errors.SolverError` (status "optimal" with a detail).

Solved with Clarabel through CVXPY (imported here, not at start-up); any status other than "optimal" raises
:class:`problems.errors.SolverError`. Results are cached on disk (:mod:`testbed.theory.pep.cache`).
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from problems._validate import check_float, check_int
from problems.errors import SolverError, UnknownNameError, UserInputError
from testbed.theory.pep import cache
from testbed.theory.pep.formulation import PointSet, interpolation_matrices
from testbed.theory.pep.methods import METHODS, points_for

__all__ = [
    "CLASSES",
    "INITIALS",
    "METRICS",
    "NEGATIVE_RTOL",
    "SOLVER_OPTIONS",
    "benchmark",
    "is_infinite",
    "nonnegative",
    "single_quadratic",
    "solve",
    "solver_settings",
    "worst_case",
]

#: Performance measures.
METRICS = ("f_gap", "dist", "grad_norm2", "min_grad_norm2")
#: Initial conditions.
INITIALS = ("dist", "f_gap")
#: Function classes.
CLASSES = ("convex", "nonconvex")
#: Clarabel settings of every solve (the fallbacks below are applied on top of them). Clarabel's defaults (gap
#: and feasibility tolerances 1e-8) already reproduce the closed forms to ~1e-7 relative (1/(4N+2) for N = 1..10
#: within 6e-8); tightening them to 1e-10 ends some solves "optimal_inaccurate", so they are left as they are.
#: ``max_threads=1``: for gd from N = 12 on, Clarabel's (0.11) "auto" linear solver is faer, which by default
#: uses every core; on this SDP (one dense 22 x 22 PSD block, a KKT system of ~1000 rows at N = 20) a second
#: thread costs more than it gains: N = 20 takes 0.13 s with 2 threads and 0.07 s with 1 on an idle 2-core
#: machine, and up to 0.32 s against 0.13-0.16 s while another process keeps one core busy. Up to N = 10 "auto" picks
#: QDLDL, which is single-threaded, so nothing changes there. Only the time changes: faer with 1 and with 2
#: threads gave bit-identical values, statuses and iteration counts (gd, N in {12, 15, 20, 25}, h in {0.5, 1,
#: 1.5, 1.9, 1.95, 1.99}); tolerances, and so accuracy, stay Clarabel's defaults.
SOLVER_OPTIONS: dict[str, Any] = {"max_threads": 1}
#: Tried in order, each merged over SOLVER_OPTIONS, when the first solve ends "optimal_inaccurate" (steps close
#: to 2/L make the SDP badly scaled): without equilibration, then QDLDL without static regularisation. Only
#: "optimal" is accepted.
FALLBACK_OPTIONS: tuple[dict[str, Any], ...] = (
    {"equilibrate_enable": False},
    {"direct_solve_method": "qdldl", "static_regularization_enable": False},
)
#: A negative SDP value no larger in size than NEGATIVE_RTOL * scale is round-off and returned as 0.0 (module
#: docstring); Clarabel's default gap tolerances are 1e-8.
NEGATIVE_RTOL = 1e-7


def _check_steps(method: str, step: object, iters: int) -> list[float]:
    """Steps in units of 1/L, one per iteration."""
    if isinstance(step, numbers.Real) and not isinstance(step, bool):
        value = check_float("step", step, low=0.0, low_open=True)
        return [value] * iters
    if isinstance(step, str) or not isinstance(step, (Sequence, np.ndarray)):
        raise UserInputError(f"step: must be a number > 0 (in units of 1/L) or a sequence of them, got {step!r}")
    if method != "gd":
        raise UserInputError(f"step: a sequence of steps is supported for gd only, not {method}")
    steps = list(step)
    if len(steps) != iters:
        raise UserInputError(f"step: the sequence must have one step per iteration ({iters}), got {len(steps)}")
    return [check_float(f"step[{k}]", s, low=0.0, low_open=True) for k, s in enumerate(steps)]


def _check_momentum(method: str, momentum: object) -> float | None:
    if method == "gd":
        if momentum is not None:
            raise UserInputError(f"momentum: gd has no momentum, got {momentum!r}")
        return None
    if momentum is None:
        if method == "heavy_ball":
            raise UserInputError("momentum: heavy_ball needs its momentum beta in [0, 1), got None")
        return None
    return check_float("momentum", momentum, low=0.0, high=1.0, high_open=True)


def _validate(
    method: object, iters: object, L: object, mu: object, step: object, metric: object, initial: object,
    R: object, momentum: object, function_class: object,
) -> dict[str, Any]:
    """Check every argument (clear errors naming the field); return them normalised (the cache key)."""
    if method not in METHODS:
        raise UnknownNameError("PEP method", method, METHODS)
    if metric not in METRICS:
        raise UnknownNameError("PEP metric", metric, METRICS)
    if initial not in INITIALS:
        raise UnknownNameError("PEP initial condition", initial, INITIALS)
    iters = check_int("iters", iters, low=1)
    L = check_float("L", L, low=0.0, low_open=True)
    mu = check_float("mu", mu, low=0.0)
    if mu > L:
        raise UserInputError(f"mu: must be <= L = {L:g}, got {mu:g}")
    R = check_float("R", R, low=0.0, low_open=True)
    if function_class is None:
        function_class = "nonconvex" if metric == "min_grad_norm2" and mu == 0.0 else "convex"
    if function_class not in CLASSES:
        raise UnknownNameError("PEP function class", function_class, CLASSES)
    if function_class == "nonconvex":
        if mu != 0.0:
            raise UserInputError(f"mu: the nonconvex class (L-smooth functions) has no strong convexity; got mu={mu:g}")
        if initial != "f_gap":
            raise UserInputError(
                "initial: the nonconvex class has no minimiser to measure ||x_0 - x*|| from; use initial='f_gap' "
                "(f(x_0) - f_* <= R)"
            )
        if metric == "dist":
            raise UserInputError("metric: 'dist' needs a minimiser; the nonconvex class has none")
    steps = _check_steps(method, step, iters)
    momentum = _check_momentum(method, momentum)
    constant = isinstance(step, numbers.Real) and not isinstance(step, bool)
    if method == "gd" and constant and steps[0] >= 2.0:
        raise UserInputError(
            f"step: constant-step gd converges on "
            f"{'L-smooth' if function_class == 'nonconvex' else 'L-smooth (strongly) convex'} functions only for a "
            f"step h in (0, 2) (units of 1/L), got {steps[0]:g}: on f = L/2 x^2 its iterates are (1 - h)^t x_0 "
            f"with |1 - h| = {abs(1.0 - steps[0]):g} >= 1, so the worst case of {metric} does not tend to 0 (it is "
            "at least |1 - h|^(2t) times its starting value, or the trivial k = 0 value for min_grad_norm2); the SDP "
            "is not solved for such a step"
        )
    return {
        "method": method, "iters": iters, "L": L, "mu": mu, "steps": steps, "metric": metric, "initial": initial,
        "R": R, "momentum": momentum, "function_class": function_class,
    }


def _quadratic_form(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """vec of the symmetric matrix of <a, b> (of ||a||^2 if b is None)."""
    b = a if b is None else b
    m = np.outer(a, b)
    return (0.5 * (m + m.T)).reshape(-1)


def is_infinite(args: dict[str, Any]) -> bool:
    """Whether theory says the worst case is +infinity for validated ``args`` (module docstring): ``dist`` from
    ``initial="f_gap"`` on convex functions that are not strongly convex."""
    return (
        args["function_class"] == "convex" and args["mu"] == 0.0 and args["metric"] == "dist"
        and args["initial"] == "f_gap"
    )


def single_quadratic(args: dict[str, Any]) -> float:
    """The exact worst case when mu = L: the method run on f = L/2 ||x||^2 (module docstring).

    With x* = 0 every point is c_k x_0 and every gradient L c_k x_0. The basis b = [x_0, g_0, ...] then solves
    b = e_0 + L Gr^T X b (gradient k is basis entry Gr[k] and equals L times point k), a unit-triangular system.
    """
    L, R = args["L"], args["R"]
    pts: PointSet = points_for(args["method"], args["steps"], L, args["momentum"])
    e0 = np.zeros(pts.dim)
    e0[0] = 1.0
    b = np.linalg.solve(np.eye(pts.dim) - L * pts.Gr.T @ pts.X, e0)
    c = pts.X @ b  # x_k = c_k x_0
    r2 = R * R if args["initial"] == "dist" else 2.0 * R / L
    metric = args["metric"]
    if metric == "f_gap":
        return 0.5 * L * c[pts.last] ** 2 * r2
    if metric == "dist":
        return c[pts.last] ** 2 * r2
    if metric == "grad_norm2":
        return L * L * c[pts.last] ** 2 * r2
    return L * L * min(c[k] ** 2 for k in pts.sampled) * r2


def nonnegative(value: float, args: dict[str, Any], what: str) -> float:
    """``value`` with round-off below 0 clamped to 0.0; a clearly negative value raises ``SolverError``."""
    if value >= 0.0:
        return value
    L, R = args["L"], args["R"]
    if args["initial"] == "dist":
        scale = max(1.0, R * R, L * R * R, L * L * R * R)
    else:
        scale = max(1.0, R, L * R, R / L)
    if value >= -NEGATIVE_RTOL * scale:
        return 0.0
    raise SolverError(
        what, "CLARABEL", "optimal",
        f"negative worst case {value:.3g} of a nonnegative metric (beyond round-off {NEGATIVE_RTOL:g} * {scale:g})",
    )


def solver_settings() -> list[dict[str, Any]]:
    """The Clarabel settings ``solve`` tries in order: SOLVER_OPTIONS, then each FALLBACK_OPTIONS entry over them.

    ``max_threads`` is left out when the installed Clarabel does not know it (pyproject allows Clarabel >= 0.7;
    a version without the setting has no thread count to limit). Any other unknown setting is an error of these
    constants and is passed on, so that CVXPY raises.
    """
    import clarabel

    threads = hasattr(clarabel.DefaultSettings(), "max_threads")
    ladder = [SOLVER_OPTIONS, *({**SOLVER_OPTIONS, **fallback} for fallback in FALLBACK_OPTIONS)]
    return [{key: value for key, value in options.items() if threads or key != "max_threads"} for options in ladder]


def solve(args: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Build and solve the SDP for validated ``args`` (exactly, without an SDP, when mu = L); return (value,
    solver facts). No cache; the infinite cases of :func:`is_infinite` are the caller's."""
    import cvxpy as cp

    L, mu, R = args["L"], args["mu"], args["R"]
    convex = args["function_class"] == "convex"
    if convex and mu == L:
        return float(single_quadratic(args)), {"status": "exact", "solver": "closed form (mu = L)", "solve_time": 0.0}
    pts: PointSet = points_for(args["method"], args["steps"], L, args["momentum"])
    if convex:
        pts = pts.with_optimum()
    d = pts.dim
    G = cp.Variable((d, d), PSD=True)
    F = cp.Variable(pts.n_values)
    g = cp.vec(G, order="F")
    constraints = []
    A, B = interpolation_matrices(pts, L, mu if convex else -L)
    constraints.append(A @ g + B @ F <= 0)
    if not convex:
        constraints.append(F >= 0)  # the lower bound f_* = 0 at every evaluated point
    if args["initial"] == "dist":
        constraints.append(G[0, 0] <= R * R)
    else:
        constraints.append(pts.Fc[pts.start] @ F <= R)
    metric, last = args["metric"], pts.last
    tau = None
    if metric == "f_gap":
        objective = pts.Fc[last] @ F
    elif metric == "dist":
        objective = _quadratic_form(pts.X[last]) @ g
    elif metric == "grad_norm2":
        objective = _quadratic_form(pts.Gr[last]) @ g
    else:
        tau = cp.Variable()
        Q = np.array([_quadratic_form(pts.Gr[k]) for k in pts.sampled])
        constraints.append(Q @ g >= tau)
        objective = tau
    problem = cp.Problem(cp.Maximize(objective), constraints)
    what = f"PEP worst case of {args['method']} ({args['iters']} steps, {metric})"
    status = "not solved"
    for options in solver_settings():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "Solution may be inaccurate": judged by status below
                problem.solve(solver="CLARABEL", **options)
        except cp.error.SolverError as exc:
            status = f"solver_error ({exc})"
            continue
        status = str(problem.status)
        if status == cp.OPTIMAL:
            break
    else:
        raise SolverError(what, "CLARABEL", status, "also after the fallback settings FALLBACK_OPTIONS")
    stats = problem.solver_stats
    value = nonnegative(float(problem.value), args, what)
    return value, {"status": status, "solver": "CLARABEL", "solve_time": stats.solve_time}


def worst_case(
    method: str,
    iters: int,
    L: float = 1.0,
    mu: float = 0.0,
    step: float | Sequence[float] = 1.0,
    metric: str = "f_gap",
    initial: str = "dist",
    R: float = 1.0,
    momentum: float | None = None,
    *,
    function_class: str | None = None,
) -> float:
    """The tight worst case of ``metric`` after ``iters`` steps of ``method`` (see the module docstring).

    ``step`` is in units of 1/L (1.0 = the step 1/L): a number, or for ``gd`` one step per iteration.
    ``momentum`` is heavy ball's beta (required) or nesterov's constant beta (None = FISTA's t_k sequence, the
    ``nesterov`` optimizer's convex variant). Example: ``worst_case("gd", 10)`` = 1/42 = L R^2/(4N + 2).

    Returns ``math.inf`` where the worst case is infinite (``metric="dist"`` from ``initial="f_gap"`` with mu = 0),
    0.0 for a negative round-off value, and raises ``UserInputError`` for a constant gd step h >= 2 (not
    convergent; see the module docstring) and ``SolverError`` when the SDP is not solved to "optimal".
    """
    args = _validate(method, iters, L, mu, step, metric, initial, R, momentum, function_class)
    if is_infinite(args):
        return math.inf
    cached = cache.load(args)
    if cached is not None:
        return cached
    value, meta = solve(args)
    cache.store(args, value, meta)
    return value


def benchmark(iters_list: Iterable[int] = (*range(1, 11), 20), method: str = "gd", repeat: int = 3) -> dict[int, float]:
    """Seconds per worst-case computation (GD, step 1/L, f_gap, dist; no cache), best of ``repeat``, per N.

    Includes building the matrices, CVXPY's compilation and Clarabel's solve: what a cache miss costs.
    """
    repeat = check_int("repeat", repeat, low=1)
    out: dict[int, float] = {}
    for n in iters_list:
        args = _validate(method, n, 1.0, 0.0, 1.0, "f_gap", "dist", 1.0, 0.9 if method == "heavy_ball" else None,
                         None)
        best = math.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            solve(args)
            best = min(best, time.perf_counter() - t0)
        out[int(n)] = best
    return out
