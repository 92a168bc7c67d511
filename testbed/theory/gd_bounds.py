"""Bounds for gradient descent x_{t+1} = x_t - h_t grad f(x_t) (``gd``; also ``gd_backtracking`` and plain ``sgd``
where the bound allows any step; see :func:`testbed.theory.assumptions.gradient_step_method`).

Notation: L the Lipschitz constant of grad f, mu the strong-convexity constant, R^2 = ||x_0 - x*||^2,
h the step, q(h) = max(|1 - h mu|, |1 - h L|).

* ``descent_lemma``: f(x_{t+1}) <= f(x_t) - ||grad f(x_t)||^2 / (2L) for h = 1/L (lecture 8; Nesterov 2004,
  Sect. 2.1.5); from f(y) <= f(x) + <grad f(x), y - x> + L/2 ||y - x||^2 (Nesterov 2004, Lemma 1.2.3).
* ``descent_lemma_step``: f(x_{t+1}) <= f(x_t) - h_t (1 - L h_t / 2) ||grad f(x_t)||^2, the same lemma at any
  step; a guaranteed decrease for h_t in (0, 2/L), the range where the bound is applied.
* ``gd_convex_rate``: f(x_t) - f* <= 2L R^2 / (t + 4), h = 1/L, convex (lecture 8; Nesterov 2004, Cor. 2.1.2).
* ``gd_convex_tight``: f(x_t) - f* <= L R^2 / (4t + 2), h = 1/L, convex; attained by a Huber-like function
  (Drori & Teboulle 2014, Thm 3.1 and 3.2).
* ``gd_convex_tight_step``: f(x_t) - f* <= (L R^2 / 2) max(1 / (2 t hL + 1), (1 - hL)^{2t}) for a constant
  h in (0, 2/L): Drori & Teboulle 2014 (Thm 3.1, hL <= 1; conjectured for hL in (1, 2)), proved for all
  hL in (0, 2) by Rotaru, Glineur & Patrinos 2024; the PEP of :mod:`testbed.theory.pep` reproduces it.
* ``gd_strongly_convex_dist``: ||x_t - x*||^2 <= q(h)^{2t} R^2, constant h in (0, 2/L), convex with mu >= 0
  (x -> x - h grad f(x) is q(h)-Lipschitz on mu-strongly convex L-smooth functions: Polyak 1987, Ch. 1
  Sect. 4, Thm 3; Nesterov 2004, Thm 2.1.15 gives the weaker (1 - 2h mu L/(mu + L))^t for h <= 2/(mu + L); tight,
  Taylor, Hendrickx & Glineur 2017).
* ``gd_strongly_convex_f``: f(x_t) - f* <= (L/2) q(h)^{2t} R^2 (the distance bound and f(x) - f* <=
  L/2 ||x - x*||^2; with h = 2/(mu + L) this is Nesterov 2004, Thm 2.1.15).
* ``gd_strongly_convex_ck``: f(x_t) - f* <= (1 - mu/L)^t (f(x_0) - f*), h = 1/L (the lecture's c^k with
  c = 1 - mu/L: descent lemma plus ||grad f(x)||^2 >= 2 mu (f(x) - f*); Boyd & Vandenberghe 2004, Sect. 9.3.1).
* ``gd_nonconvex_grad``: min_{k<t} ||grad f(x_k)||^2 <= 2L (f(x_0) - f*) / t, h = 1/L, L-smooth, no convexity
  (Nesterov 2004, Sect. 1.2.3). When f* is unknown the bound uses f(x_t) >= f* in its place
  (the telescoped descent lemma gives min_{k<t} ||grad f(x_k)||^2 <= 2L (f(x_0) - f(x_t)) / t, which is the
  stronger statement), so it needs no f*.
"""

from __future__ import annotations

import numpy as np

from testbed.theory import assumptions as req
from testbed.theory.catalogue import Bound, Evaluation, register_bound
from testbed.theory.facts import RunFacts

__all__ = ["contraction_factor", "gd_tight_value"]

_F_TOL = "max(|f(x_t)|, |f*|) (f values subtracted)"
_STEP_TOL = "max(|f(x_t)|, |f(x_{t+1})|) (f values subtracted)"
_D_TOL = "max(||x*||^2, ||x_0 - x*||^2) (squared distances)"


def contraction_factor(h: float, L: float, mu: float) -> float:
    """q(h) = max(|1 - h mu|, |1 - h L|): the Lipschitz constant of x -> x - h grad f(x) on F_{mu, L}."""
    return max(abs(1.0 - h * mu), abs(1.0 - h * L))


def gd_tight_value(t: np.ndarray | int, hL: float, L: float = 1.0, R2: float = 1.0) -> np.ndarray:
    """(L R^2 / 2) max(1 / (2 t hL + 1), (1 - hL)^{2t}): the exact worst case of f(x_t) - f* for GD with constant
    step h = hL / L, hL in (0, 2), on L-smooth convex functions with ||x_0 - x*||^2 <= R^2 (Drori & Teboulle 2014;
    Rotaru, Glineur & Patrinos 2024)."""
    t = np.asarray(t, dtype=np.float64)
    return 0.5 * L * R2 * np.maximum(1.0 / (2.0 * t * hL + 1.0), (1.0 - hL) ** (2.0 * t))


# ----------------------------------------------------------------------------- evaluations
def _per_step(facts: RunFacts, decrease: np.ndarray) -> Evaluation:
    """f(x_{t+1}) <= f(x_t) - decrease_t on every recorded consecutive pair (t, t+1) with a step from x_t."""
    rows = facts.consecutive
    rows = rows[np.isfinite(facts.lr[rows])]
    f0, f1 = facts.f[rows], facts.f[rows + 1]
    return Evaluation(
        iters=facts.it[rows + 1],
        bound=f0 - decrease[rows],
        observed=f1,
        scale=np.maximum(np.abs(f0), np.abs(f1)),
    )


def _eval_descent_lemma(facts: RunFacts) -> Evaluation:
    return _per_step(facts, facts.gnorm**2 / (2.0 * facts.L))


def _eval_descent_lemma_step(facts: RunFacts) -> Evaluation:
    h = facts.lr
    return _per_step(facts, h * (1.0 - facts.L * h / 2.0) * facts.gnorm**2)


def _f_gap_rate(facts: RunFacts, rhs: np.ndarray) -> Evaluation:
    """f(x_t) - f* <= rhs_t at every recorded t."""
    return Evaluation(
        iters=facts.it.copy(),
        bound=rhs,
        observed=facts.f_gap.copy(),
        scale=np.maximum(np.abs(facts.f), abs(facts.f_star)),
    )


def _first_step(facts: RunFacts) -> float:
    steps = facts.lr[np.isfinite(facts.lr)]
    return float(steps[0]) if steps.size else 1.0 / facts.L


def _eval_convex_rate(facts: RunFacts) -> Evaluation:
    t = facts.it.astype(np.float64)
    return _f_gap_rate(facts, 2.0 * facts.L * facts.R2 / (t + 4.0))


def _eval_convex_tight(facts: RunFacts) -> Evaluation:
    t = facts.it.astype(np.float64)
    return _f_gap_rate(facts, facts.L * facts.R2 / (4.0 * t + 2.0))


def _eval_convex_tight_step(facts: RunFacts) -> Evaluation:
    hL = _first_step(facts) * facts.L
    return _f_gap_rate(facts, gd_tight_value(facts.it, hL, facts.L, facts.R2))


def _eval_sc_dist(facts: RunFacts) -> Evaluation:
    q = contraction_factor(_first_step(facts), facts.L, facts.mu)
    t = facts.it.astype(np.float64)
    return Evaluation(
        iters=facts.it.copy(),
        bound=q ** (2.0 * t) * facts.R2,
        observed=facts.dist**2,
        scale=np.full(facts.n_rows, facts.dist_scale),
    )


def _eval_sc_f(facts: RunFacts) -> Evaluation:
    q = contraction_factor(_first_step(facts), facts.L, facts.mu)
    t = facts.it.astype(np.float64)
    return _f_gap_rate(facts, 0.5 * facts.L * q ** (2.0 * t) * facts.R2)


def _eval_sc_ck(facts: RunFacts) -> Evaluation:
    c = 1.0 - facts.mu / facts.L
    t = facts.it.astype(np.float64)
    gap0 = float(facts.f_gap[0])
    ev = _f_gap_rate(facts, c**t * gap0)
    return Evaluation(ev.iters, ev.bound, ev.observed, np.maximum(ev.scale, abs(facts.f[0])))


def _eval_nonconvex_grad(facts: RunFacts) -> Evaluation:
    """min_{k<t} ||g_k||^2 <= 2L (f(x_0) - f_low_t) / t for t = 1..T (needs every iteration recorded)."""
    g2 = facts.gnorm**2
    running_min = np.minimum.accumulate(g2)[:-1]
    t = facts.it[1:].astype(np.float64)
    f_low = np.full(t.size, facts.f_star) if facts.f_star is not None else facts.f[1:]
    f0 = float(facts.f[0])
    bound = 2.0 * facts.L * (f0 - f_low) / t
    scale = np.maximum(2.0 * facts.L * np.maximum(abs(f0), np.abs(f_low)) / t, np.abs(running_min))
    return Evaluation(iters=facts.it[1:].copy(), bound=bound, observed=running_min, scale=scale)


def _complete(facts: RunFacts) -> str:
    if facts.complete:
        return ""
    return "the history skips iterations (record_every > 1): min over all k < t of ||grad f(x_k)|| is not observable"


# ----------------------------------------------------------------------------- the catalogue entries
_GD = req.gradient_step_method
_COMMON_GD = (_GD, req.full_batch, req.unconstrained, req.smooth)

register_bound(
    Bound(
        name="descent_lemma",
        statement="f(x_{t+1}) <= f(x_t) - ||grad f(x_t)||^2 / (2L)",
        source="lecture 8 (descent step 1/L); Nesterov 2004, Introductory Lectures, Lemma 1.2.3 at "
        "y = x_t - grad f(x_t)/L",
        assumptions="f L-smooth (convexity not needed); gradient descent with step h = 1/L; full batch",
        applies_to="gd",
        observed="f(x_{t+1})",
        formula="f(x_t) - ||grad f(x_t)||^2/(2L)",
        tolerance=_STEP_TOL,
        requires=(*_COMMON_GD, req.constant_step(1.0)),
        evaluate=_eval_descent_lemma,
    )
)

register_bound(
    Bound(
        name="descent_lemma_step",
        statement="f(x_{t+1}) <= f(x_t) - h_t (1 - L h_t / 2) ||grad f(x_t)||^2",
        source="Nesterov 2004, Introductory Lectures, Lemma 1.2.3 applied to y = x_t - h_t grad f(x_t)",
        assumptions="f L-smooth (convexity not needed); gradient descent with steps h_t in (0, 2/L) (any schedule, "
        "backtracking included); full batch",
        applies_to="gd, gd_backtracking, sgd (momentum 0, full batch)",
        observed="f(x_{t+1})",
        formula="f(x_t) - h(1 - Lh/2)||grad f(x_t)||^2",
        tolerance=_STEP_TOL,
        requires=(*_COMMON_GD, req.steps_in(0.0, 2.0)),
        evaluate=_eval_descent_lemma_step,
        constants=("L", "h"),
    )
)

_CONVEX_GD = (_GD, req.full_batch, req.unconstrained, req.convex, req.smooth, req.known_f_star, req.known_x_star)

register_bound(
    Bound(
        name="gd_convex_rate",
        statement="f(x_t) - f* <= 2L ||x_0 - x*||^2 / (t + 4)",
        source="lecture 8; Nesterov 2004, Introductory Lectures, Cor. 2.1.2",
        assumptions="f convex and L-smooth; gradient descent with constant step h = 1/L; f*, x* known; full batch",
        applies_to="gd",
        observed="f(x_t) - f*",
        formula="2L||x0-x*||^2/(t+4)",
        tolerance=_F_TOL,
        requires=(*_CONVEX_GD, req.constant_step(1.0)),
        evaluate=_eval_convex_rate,
    )
)

register_bound(
    Bound(
        name="gd_convex_tight",
        statement="f(x_t) - f* <= L ||x_0 - x*||^2 / (4t + 2)",
        source="Drori & Teboulle 2014, Math. Program. 145, Thm 3.1 (tight: Thm 3.2)",
        assumptions="f convex and L-smooth; gradient descent with constant step h = 1/L; f*, x* known; full batch",
        applies_to="gd",
        observed="f(x_t) - f*",
        formula="L||x0-x*||^2/(4t+2)",
        tolerance=_F_TOL,
        requires=(*_CONVEX_GD, req.constant_step(1.0)),
        evaluate=_eval_convex_tight,
    )
)

register_bound(
    Bound(
        name="gd_convex_tight_step",
        statement="f(x_t) - f* <= (L ||x_0 - x*||^2 / 2) max(1 / (2t hL + 1), (1 - hL)^(2t))",
        source="Drori & Teboulle 2014, Thm 3.1 (hL <= 1) and their conjecture for hL in (1, 2), proved by Rotaru, "
        "Glineur & Patrinos 2024 (exact worst case of constant-step GD); reproduced by testbed.theory.pep",
        assumptions="f convex and L-smooth; gradient descent with a constant step h in (0, 2/L); f*, x* known; "
        "full batch",
        applies_to="gd",
        observed="f(x_t) - f*",
        formula="(L||x0-x*||^2/2) max(1/(2thL+1), (1-hL)^(2t))",
        tolerance=_F_TOL,
        requires=(*_CONVEX_GD, req.steps_in(0.0, 2.0, constant=True)),
        evaluate=_eval_convex_tight_step,
        constants=("L", "h"),
    )
)

_SC_GD = (_GD, req.full_batch, req.unconstrained, req.convex, req.smooth, req.known_x_star)


def _known_mu(facts: RunFacts) -> str:
    if facts.mu is None:
        return f"{facts.problem.name} has no known strong-convexity constant mu"
    return ""


register_bound(
    Bound(
        name="gd_strongly_convex_dist",
        statement="||x_t - x*||^2 <= max(|1 - h mu|, |1 - h L|)^(2t) ||x_0 - x*||^2",
        source="Polyak 1987, Introduction to Optimization, Ch. 1 Sect. 4 Thm 3; Nesterov 2004, Thm 2.1.15 (h <= "
        "2/(mu+L)); tight by PEP (Taylor, Hendrickx & Glineur 2017)",
        assumptions="f mu-strongly convex (mu >= 0 known; mu = 0 gives non-expansiveness) and L-smooth; gradient "
        "descent with a constant step h in (0, 2/L); x* known; full batch",
        applies_to="gd",
        observed="||x_t - x*||^2",
        formula="max(|1-h mu|,|1-hL|)^(2t) ||x0-x*||^2",
        tolerance=_D_TOL,
        requires=(*_SC_GD, _known_mu, req.steps_in(0.0, 2.0, constant=True)),
        evaluate=_eval_sc_dist,
        constants=("L", "mu", "h"),
    )
)

register_bound(
    Bound(
        name="gd_strongly_convex_f",
        statement="f(x_t) - f* <= (L/2) max(|1 - h mu|, |1 - h L|)^(2t) ||x_0 - x*||^2",
        source="Nesterov 2004, Thm 2.1.15 (h = 2/(mu+L)); gd_strongly_convex_dist with f(x) - f* <= "
        "L/2 ||x - x*||^2 (Nesterov 2004, Thm 2.1.5) for any constant h in (0, 2/L)",
        assumptions="f mu-strongly convex (mu >= 0 known) and L-smooth; gradient descent with a constant step h in "
        "(0, 2/L); f*, x* known; full batch",
        applies_to="gd",
        observed="f(x_t) - f*",
        formula="(L/2) max(|1-h mu|,|1-hL|)^(2t) ||x0-x*||^2",
        tolerance=_F_TOL,
        requires=(*_SC_GD, req.known_f_star, _known_mu, req.steps_in(0.0, 2.0, constant=True)),
        evaluate=_eval_sc_f,
        constants=("L", "mu", "h"),
    )
)

register_bound(
    Bound(
        name="gd_strongly_convex_ck",
        statement="f(x_t) - f* <= (1 - mu/L)^t (f(x_0) - f*)",
        source="lecture 8 (c^k with c = 1 - mu/L); Boyd & Vandenberghe 2004, Convex Optimization, Sect. 9.3.1",
        assumptions="f mu-strongly convex (mu > 0) and L-smooth; gradient descent with constant step h = 1/L; "
        "f* known; full batch",
        applies_to="gd",
        observed="f(x_t) - f*",
        formula="(1 - mu/L)^t (f(x0) - f*)",
        tolerance=_F_TOL + " and |f(x_0)|",
        requires=(_GD, req.full_batch, req.unconstrained, req.strongly_convex, req.smooth, req.known_f_star,
                  req.constant_step(1.0)),
        evaluate=_eval_sc_ck,
        constants=("L", "mu"),
    )
)

register_bound(
    Bound(
        name="gd_nonconvex_grad",
        statement="min_{k<t} ||grad f(x_k)||^2 <= 2L (f(x_0) - f*) / t  (f(x_t) in place of f* when f* is unknown)",
        source="Nesterov 2004, Introductory Lectures, Sect. 1.2.3 (gradient method, sum of descent lemmas)",
        assumptions="f L-smooth and bounded below (convexity not needed); gradient descent with constant step "
        "h = 1/L; every iteration recorded; full batch. With f* unknown, f(x_t) >= f* is used: the telescoped "
        "descent lemma gives the stronger min_{k<t} ||grad f(x_k)||^2 <= 2L (f(x_0) - f(x_t)) / t",
        applies_to="gd",
        observed="min_{k<t} ||grad f(x_k)||^2",
        formula="2L(f(x0) - f*)/t",
        tolerance="max(2L max(|f(x_0)|, |f*|) / t, min_k ||grad f(x_k)||^2)",
        requires=(*_COMMON_GD, req.constant_step(1.0), _complete),
        evaluate=_eval_nonconvex_grad,
    )
)
