"""Bounds for Nesterov's accelerated gradient (the ``nesterov`` optimizer of :mod:`testbed.optimizers.lecture`).

* ``nesterov_convex``: variant "convex" (FISTA's t_k sequence, y_{k+1} = x_k + (t_k - 1)/t_{k+1} (x_k - x_{k-1}),
  x_{k+1} = y_{k+1} - grad f(y_{k+1}) / L). The history's x_t is FISTA's x_t, and for convex L-smooth f

      f(x_t) - f* <= 2L ||x_0 - x*||^2 / (t + 1)^2      (Beck & Teboulle 2009, Thm 4.4).

* ``nesterov_strongly_convex``: variant "strongly_convex" with the constant momentum
  beta = (sqrt(L) - sqrt(mu)) / (sqrt(L) + sqrt(mu)) and step 1/L (constant step scheme III):

      f(x_t) - f* <= (1 - sqrt(mu/L))^t (f(x_0) - f* + mu/2 ||x_0 - x*||^2)   (Nesterov 2004, Thm 2.2.3, gamma_0 = mu).

  The momentum is read from the history's ``momentum`` column (the optimizer's extra column), so a run with
  another momentum is not held to this bound.
"""

from __future__ import annotations

import math

import numpy as np

from testbed.theory import assumptions as req
from testbed.theory.catalogue import Bound, Evaluation, register_bound
from testbed.theory.facts import RunFacts

__all__: list[str] = []

_F_TOL = "max(|f(x_t)|, |f*|) (f values subtracted)"


def _variant(name: str):
    def check(facts: RunFacts) -> str:
        variant = facts.hparam("variant", "convex")
        if variant != name:
            return f"the bound is for nesterov variant={name!r}, and this run used variant={variant!r}"
        return ""

    return check


def _optimal_momentum(facts: RunFacts) -> str:
    L, mu = facts.L, facts.mu
    target = (math.sqrt(L) - math.sqrt(mu)) / (math.sqrt(L) + math.sqrt(mu))
    beta = facts.extra.get("momentum")
    if beta is None:
        given = facts.hparam("momentum")
        beta = np.array([target if given is None else float(given)])
    beta = beta[np.isfinite(beta)]
    bad = np.flatnonzero(np.abs(beta - target) > req.STEP_RTOL * max(target, 1e-300))
    if bad.size:
        return (
            f"momentum {beta[bad[0]]:.6g} is not (sqrt(L) - sqrt(mu))/(sqrt(L) + sqrt(mu)) = {target:.6g} "
            f"(L = {L:.6g}, mu = {mu:.6g})"
        )
    return ""


def _f_gap(facts: RunFacts, rhs: np.ndarray) -> Evaluation:
    return Evaluation(
        iters=facts.it.copy(),
        bound=rhs,
        observed=facts.f_gap.copy(),
        scale=np.maximum(np.maximum(np.abs(facts.f), abs(facts.f_star)), abs(facts.f[0])),
    )


def _eval_convex(facts: RunFacts) -> Evaluation:
    t = facts.it.astype(np.float64)
    return _f_gap(facts, 2.0 * facts.L * facts.R2 / (t + 1.0) ** 2)


def _eval_strongly_convex(facts: RunFacts) -> Evaluation:
    t = facts.it.astype(np.float64)
    rate = 1.0 - math.sqrt(facts.mu / facts.L)
    start = float(facts.f_gap[0]) + 0.5 * facts.mu * facts.R2
    return _f_gap(facts, rate**t * start)


_COMMON = (
    req.method_is("nesterov"), req.full_batch, req.unconstrained, req.convex, req.smooth, req.known_f_star,
    req.known_x_star,
)

register_bound(
    Bound(
        name="nesterov_convex",
        statement="f(x_t) - f* <= 2L ||x_0 - x*||^2 / (t + 1)^2",
        source="Beck & Teboulle 2009, SIAM J. Imaging Sci. 2(1), Thm 4.4 (FISTA); Nesterov 1983",
        assumptions="f convex and L-smooth; nesterov variant='convex' (t_k momentum) with constant step h = 1/L; "
        "f*, x* known; full batch",
        applies_to="nesterov (variant='convex')",
        observed="f(x_t) - f*",
        formula="2L||x0-x*||^2/(t+1)^2",
        tolerance=_F_TOL,
        requires=(*_COMMON, _variant("convex"), req.constant_step(1.0)),
        evaluate=_eval_convex,
    )
)

register_bound(
    Bound(
        name="nesterov_strongly_convex",
        statement="f(x_t) - f* <= (1 - sqrt(mu/L))^t (f(x_0) - f* + mu/2 ||x_0 - x*||^2)",
        source="Nesterov 2004, Introductory Lectures, Thm 2.2.3 with gamma_0 = mu (constant step scheme III, "
        "Sect. 2.2.1)",
        assumptions="f mu-strongly convex (mu > 0) and L-smooth; nesterov variant='strongly_convex' with momentum "
        "(sqrt(L) - sqrt(mu))/(sqrt(L) + sqrt(mu)) and constant step h = 1/L; f*, x* known; full batch",
        applies_to="nesterov (variant='strongly_convex')",
        observed="f(x_t) - f*",
        formula="(1 - sqrt(mu/L))^t (f(x0) - f* + mu/2 ||x0-x*||^2)",
        tolerance=_F_TOL + " and |f(x_0)|",
        requires=(
            *_COMMON, req.strongly_convex, _variant("strongly_convex"), req.constant_step(1.0), _optimal_momentum,
        ),
        evaluate=_eval_strongly_convex,
        constants=("L", "mu"),
    )
)
