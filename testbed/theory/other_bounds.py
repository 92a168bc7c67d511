"""Bounds for Polyak's step, projected gradient, line searches and damped Newton.

Projected gradient (``projected_gd``, x_{t+1} = P_C(x_t - grad f(x_t)/L)), f convex L-smooth on a closed convex
C: ``projected_gd_rate`` f(x_t) - f* <= L ||x_0 - x*||^2 / (2t) for t >= 1 (Beck 2017, Thm 10.21).

Polyak step (``polyak``: h_t = gamma (f(x_t) - f*) / ||g_t||^2, gamma in (0, 2)), f convex:

* ``polyak_distance``: ||x_{t+1} - x*||^2 <= ||x_t - x*||^2 - gamma (2 - gamma) (f(x_t) - f*)^2 / ||g_t||^2
  (Polyak 1987, Introduction to Optimization, Sect. 5.3, Thm 1's proof).
* ``polyak_smooth_rate``: if f is also L-smooth, ||g||^2 <= 2L (f - f*) (Nesterov 2004, Thm 2.1.5) turns the
  above into min_{k<t} f(x_k) - f* <= 2L ||x_0 - x*||^2 / (gamma (2 - gamma) t) (summing over k < t).

Line searches on a mu-strongly convex L-smooth f (Boyd & Vandenberghe 2004, Sect. 9.3.1): with
``exact_line_search`` f(x_{t+1}) - f* <= (1 - mu/L)(f(x_t) - f*), eq. (9.18); with ``gd_backtracking``
(Armijo parameter alpha, reduction beta, first trial t0) every accepted step satisfies h >= min(t0, beta/L) and
f decreases by alpha h ||g||^2 >= 2 mu alpha h (f - f*), so c = 1 - 2 mu alpha min(t0, beta/L) (B&V take
t0 = 1): ``line_search_linear_rate`` checks f(x_t) - f* <= c^t (f(x_0) - f*).

Damped Newton (``newton`` with Cholesky solves, B&V Algorithm 9.5) on f with m I <= Hess f <= M I whose Hessian
is L_H-Lipschitz (B&V Sect. 9.5.3; B&V call L_H "L"). With eta = min(1, 3(1 - 2 alpha)) m^2 / L_H and
gamma = alpha beta eta^2 m / M^2:

* ``newton_damped_phase``: if ||grad f(x_k)|| >= eta then f(x_{k+1}) <= f(x_k) - gamma;
* ``newton_quadratic_phase``: if ||grad f(x_k)|| < eta then ||grad f(x_{k+1})|| <= L_H / (2 m^2) ||grad f(x_k)||^2.

These need m = mu, M = L and L_H known. The problem contract has no Hessian-Lipschitz constant, so a problem
declares it with the attribute ``hess_lipschitz`` (a float); a problem declaring ``is_quadratic = True``
(constant Hessian, see :mod:`testbed.optimizers.line_search`) has L_H = 0 (then eta = inf: every step is in the
quadratic phase and lands on x*). Otherwise the Newton bounds do not apply.
"""

from __future__ import annotations

import math

import numpy as np

from testbed.theory import assumptions as req
from testbed.theory.catalogue import Bound, Evaluation, register_bound
from testbed.theory.facts import RunFacts

__all__ = ["hessian_lipschitz", "newton_constants"]

_F_TOL = "max(|f(x_t)|, |f*|) (f values subtracted)"
_D_TOL = "max(||x*||^2, ||x_0 - x*||^2) (squared distances)"


# ----------------------------------------------------------------------------- Polyak
def _polyak_target(facts: RunFacts) -> str:
    given = facts.hparam("f_star")
    if given is not None and facts.f_star is not None and float(given) != facts.f_star:
        return f"the run's Polyak steps aim at f_star = {given:.10g}, not at the problem's f* = {facts.f_star:.10g}"
    return ""


def _polyak_steps(facts: RunFacts) -> str:
    """The recorded steps are gamma (f(x_t) - f*)/||g_t||^2 (what the bounds' proofs use)."""
    rows = facts.step_rows
    gamma = float(facts.hparam("gamma", 1.0))
    expected = gamma * facts.f_gap[rows] / facts.gnorm[rows] ** 2
    bad = np.flatnonzero(~(np.abs(facts.lr[rows] - expected) <= req.STEP_RTOL * np.abs(expected)))
    if bad.size:
        i = int(rows[bad[0]])
        return (
            f"step {facts.lr[i]:.6g} at iteration {facts.it[i]} is not the Polyak step gamma (f - f*)/||g||^2 = "
            f"{expected[bad[0]]:.6g}"
        )
    return ""


def _gamma_factor(facts: RunFacts) -> float:
    gamma = float(facts.hparam("gamma", 1.0))
    return gamma * (2.0 - gamma)


def _eval_polyak_distance(facts: RunFacts) -> Evaluation:
    rows = facts.consecutive
    rows = rows[np.isfinite(facts.lr[rows])]
    d0, d1 = facts.dist[rows] ** 2, facts.dist[rows + 1] ** 2
    gap, g2 = facts.f_gap[rows], facts.gnorm[rows] ** 2
    decrease = _gamma_factor(facts) * gap**2 / g2
    # An error e in the computed gap f(x_t) - f* moves x_{t+1} and adds 2 gamma |gap| |e| / ||g||^2 to the
    # right-hand side (expand ||x_t - h g - x*||^2 with h = gamma gap / ||g||^2); |e| is the f round-off
    # RTOL max(1, |f(x_t)|, |f*|), so the scale includes that amplified term.
    gamma = float(facts.hparam("gamma", 1.0))
    f_scale = np.maximum(1.0, np.maximum(np.abs(facts.f[rows]), abs(facts.f_star)))
    scale = np.maximum(facts.dist_scale, 2.0 * gamma * np.abs(gap) * f_scale / g2)
    return Evaluation(iters=facts.it[rows + 1], bound=d0 - decrease, observed=d1, scale=scale)


def _eval_polyak_rate(facts: RunFacts) -> Evaluation:
    gaps = facts.f_gap
    running_min = np.minimum.accumulate(gaps)[:-1]
    t = facts.it[1:].astype(np.float64)
    bound = 2.0 * facts.L * facts.R2 / (_gamma_factor(facts) * t)
    scale = np.maximum(np.abs(facts.f[:-1]), abs(facts.f_star))
    return Evaluation(iters=facts.it[1:].copy(), bound=bound, observed=running_min, scale=scale)


def _complete(facts: RunFacts) -> str:
    if facts.complete:
        return ""
    return "the history skips iterations (record_every > 1), so the bound's per-step quantities are not observable"


_POLYAK = (
    req.method_is("polyak"), req.full_batch, req.unconstrained, req.convex, req.known_f_star, req.known_x_star,
    _polyak_target,
)

register_bound(
    Bound(
        name="polyak_distance",
        statement="||x_{t+1} - x*||^2 <= ||x_t - x*||^2 - gamma (2 - gamma) (f(x_t) - f*)^2 / ||grad f(x_t)||^2",
        source="Polyak 1987, Introduction to Optimization, Sect. 5.3 (Polyak step size)",
        assumptions="f convex; Polyak steps h_t = gamma (f(x_t) - f*)/||grad f(x_t)||^2, gamma in (0, 2), aimed at "
        "the problem's f*; f*, x* known; full batch",
        applies_to="polyak",
        observed="||x_{t+1} - x*||^2",
        formula="||x_t-x*||^2 - gamma(2-gamma)(f(x_t)-f*)^2/||grad f(x_t)||^2",
        tolerance=_D_TOL + " and 2 gamma |f(x_t) - f*| max(1, |f(x_t)|, |f*|) / ||grad f(x_t)||^2 (the f round-off "
        "amplified by the Polyak step)",
        requires=(*_POLYAK, _polyak_steps),
        evaluate=_eval_polyak_distance,
        constants=("gamma",),
    )
)

register_bound(
    Bound(
        name="polyak_smooth_rate",
        statement="min_{k<t} f(x_k) - f* <= 2L ||x_0 - x*||^2 / (gamma (2 - gamma) t)",
        source="Polyak 1987, Sect. 5.3 with ||grad f||^2 <= 2L (f - f*) (Nesterov 2004, Thm 2.1.5); cf. Hazan & "
        "Kakade 2019, Revisiting the Polyak step size",
        assumptions="f convex and L-smooth; Polyak steps with gamma in (0, 2) aimed at the problem's f*; f*, x* "
        "known; every iteration recorded; full batch",
        applies_to="polyak",
        observed="min_{k<t} f(x_k) - f*",
        formula="2L||x0-x*||^2/(gamma(2-gamma)t)",
        tolerance=_F_TOL,
        requires=(*_POLYAK, req.smooth, _complete, _polyak_steps),
        evaluate=_eval_polyak_rate,
        constants=("L", "gamma"),
    )
)


# ----------------------------------------------------------------------------- projected gradient
def _eval_projected(facts: RunFacts) -> Evaluation:
    rows = np.flatnonzero(facts.it >= 1)
    t = facts.it[rows].astype(np.float64)
    return Evaluation(
        iters=facts.it[rows],
        bound=facts.L * facts.R2 / (2.0 * t),
        observed=facts.f_gap[rows],
        scale=np.maximum(np.abs(facts.f[rows]), abs(facts.f_star)),
    )


register_bound(
    Bound(
        name="projected_gd_rate",
        statement="f(x_t) - f* <= L ||x_0 - x*||^2 / (2t)  (t >= 1)",
        source="Beck 2017, First-Order Methods in Optimization, Thm 10.21 (proximal gradient, constant step 1/L)",
        assumptions="f convex and L-smooth on a closed convex feasible set C (f*, x* the constrained optimum); "
        "projected_gd with constant step h = 1/L; full batch; from t = 1 on (x_0 need not be feasible)",
        applies_to="projected_gd",
        observed="f(x_t) - f*",
        formula="L||x0-x*||^2/(2t)",
        tolerance=_F_TOL,
        requires=(
            req.method_is("projected_gd"), req.full_batch, req.convex, req.smooth, req.known_f_star,
            req.known_x_star, req.constant_step(1.0),
        ),
        evaluate=_eval_projected,
    )
)


# ----------------------------------------------------------------------------- line searches
def _line_search_factor(facts: RunFacts) -> float:
    """c of ``line_search_linear_rate`` for the run's method."""
    if facts.method == "exact_line_search":
        return 1.0 - facts.mu / facts.L
    alpha, beta = float(facts.hparam("alpha")), float(facts.hparam("beta"))
    t0 = facts.run.base_lr if facts.run.base_lr is not None else 1.0
    return 1.0 - 2.0 * facts.mu * alpha * min(float(t0), beta / facts.L)


def _eval_line_search(facts: RunFacts) -> Evaluation:
    c = _line_search_factor(facts)
    t = facts.it.astype(np.float64)
    gap0 = float(facts.f_gap[0])
    return Evaluation(
        iters=facts.it.copy(),
        bound=c**t * gap0,
        observed=facts.f_gap.copy(),
        scale=np.maximum(np.maximum(np.abs(facts.f), abs(facts.f_star)), abs(facts.f[0])),
    )


def _exact_needs_quadratic(facts: RunFacts) -> str:
    if facts.method == "exact_line_search" and not getattr(facts.problem, "is_quadratic", False):
        return f"{facts.problem.name} does not declare is_quadratic = True (the exact step assumes a quadratic)"
    return ""


register_bound(
    Bound(
        name="line_search_linear_rate",
        statement="f(x_t) - f* <= c^t (f(x_0) - f*), c = 1 - mu/L (exact) or 1 - 2 mu alpha min(t0, beta/L) "
        "(backtracking)",
        source="Boyd & Vandenberghe 2004, Convex Optimization, Sect. 9.3.1 (exact and backtracking line search)",
        assumptions="f mu-strongly convex (mu > 0) and L-smooth; exact_line_search (quadratic f) or "
        "gd_backtracking (Armijo alpha, reduction beta, first trial t0); f* known; full batch",
        applies_to="exact_line_search, gd_backtracking",
        observed="f(x_t) - f*",
        formula="c^t (f(x0) - f*)",
        tolerance=_F_TOL + " and |f(x_0)|",
        requires=(
            req.method_is("exact_line_search", "gd_backtracking"), req.full_batch, req.unconstrained,
            req.strongly_convex, req.smooth,
            req.known_f_star, _exact_needs_quadratic,
        ),
        evaluate=_eval_line_search,
        constants=("L", "mu"),
    )
)


# ----------------------------------------------------------------------------- damped Newton
def hessian_lipschitz(problem: object) -> float | None:
    """L_H of a problem: its ``hess_lipschitz`` attribute, 0.0 if it declares ``is_quadratic``, else None."""
    value = getattr(problem, "hess_lipschitz", None)
    if value is not None:
        return float(value)
    if getattr(problem, "is_quadratic", False):
        return 0.0
    return None


def newton_constants(facts: RunFacts) -> tuple[float, float]:
    """(eta, gamma) of B&V Sect. 9.5.3 for the run's alpha, beta and the problem's m = mu, M = L, L_H."""
    m, M, LH = facts.mu, facts.L, hessian_lipschitz(facts.problem)
    alpha, beta = float(facts.hparam("alpha", 0.25)), float(facts.hparam("beta", 0.5))
    eta = math.inf if LH == 0 else min(1.0, 3.0 * (1.0 - 2.0 * alpha)) * m * m / LH
    gamma = alpha * beta * (eta * eta if math.isfinite(eta) else math.inf) * m / (M * M)
    return eta, gamma


def _newton_method(facts: RunFacts) -> str:
    reason = req.method_is("newton")(facts)
    if reason:
        return reason
    solver = facts.hparam("solver", "auto")
    if solver == "cg" or (solver == "auto" and not (facts.problem.has_hess and facts.problem.dim <= 1000)):
        return "Newton-CG solves the Newton system inexactly; B&V's analysis is for exact Newton steps"
    shift = facts.extra.get("hess_shift")
    if shift is not None and np.any(np.nan_to_num(shift) != 0.0):
        return "the run modified the Hessian (hess_shift > 0): its steps are not Newton steps"
    return ""


def _known_hess_lipschitz(facts: RunFacts) -> str:
    if hessian_lipschitz(facts.problem) is None:
        return (
            f"{facts.problem.name} states no Lipschitz constant of its Hessian (attribute hess_lipschitz), which "
            "B&V's Newton analysis needs"
        )
    return ""


def _newton_pairs(facts: RunFacts, damped: bool) -> np.ndarray:
    rows = facts.consecutive
    rows = rows[np.isfinite(facts.lr[rows])]
    eta, _ = newton_constants(facts)
    in_phase = facts.gnorm[rows] >= eta
    return rows[in_phase] if damped else rows[~in_phase]


def _eval_newton_damped(facts: RunFacts) -> Evaluation:
    rows = _newton_pairs(facts, damped=True)
    _, gamma = newton_constants(facts)
    f0, f1 = facts.f[rows], facts.f[rows + 1]
    return Evaluation(facts.it[rows + 1], f0 - gamma, f1, np.maximum(np.abs(f0), np.abs(f1)))


def _eval_newton_quadratic(facts: RunFacts) -> Evaluation:
    rows = _newton_pairs(facts, damped=False)
    LH, m, M = hessian_lipschitz(facts.problem), facts.mu, facts.L
    g0, g1 = facts.gnorm[rows], facts.gnorm[rows + 1]
    return Evaluation(facts.it[rows + 1], LH / (2.0 * m * m) * g0**2, g1, (M / m) ** 2 * g0)


_NEWTON = (_newton_method, req.full_batch, req.unconstrained, req.strongly_convex, req.smooth, _known_hess_lipschitz)

register_bound(
    Bound(
        name="newton_damped_phase",
        statement="||grad f(x_k)|| >= eta  =>  f(x_{k+1}) <= f(x_k) - gamma,  eta = min(1, 3(1 - 2 alpha)) m^2/L_H, "
        "gamma = alpha beta eta^2 m / M^2",
        source="Boyd & Vandenberghe 2004, Convex Optimization, Sect. 9.5.3 (damped Newton phase)",
        assumptions="m I <= Hess f <= M I (m = mu > 0, M = L), Hessian L_H-Lipschitz (problem.hess_lipschitz, or 0 "
        "for is_quadratic problems); newton with exact (Cholesky) steps, no Hessian shift, backtracking alpha, "
        "beta; full batch",
        applies_to="newton",
        observed="f(x_{k+1})",
        formula="f(x_k) - gamma",
        tolerance="max(|f(x_k)|, |f(x_{k+1})|) (f values subtracted)",
        requires=_NEWTON,
        evaluate=_eval_newton_damped,
        constants=("L", "mu"),
    )
)

register_bound(
    Bound(
        name="newton_quadratic_phase",
        statement="||grad f(x_k)|| < eta  =>  ||grad f(x_{k+1})|| <= L_H / (2 m^2) ||grad f(x_k)||^2",
        source="Boyd & Vandenberghe 2004, Convex Optimization, Sect. 9.5.3 (quadratically convergent phase)",
        assumptions="as newton_damped_phase",
        applies_to="newton",
        observed="||grad f(x_{k+1})||",
        formula="L_H/(2m^2) ||grad f(x_k)||^2",
        tolerance="(M/m)^2 ||grad f(x_k)|| (round-off of a Newton step solved in float64)",
        requires=_NEWTON,
        evaluate=_eval_newton_quadratic,
        constants=("L", "mu"),
    )
)
