r"""SGD on smooth convex finite sums: a bound *in expectation*, checked on the mean over seeds.

Setting: f = (1/n) sum_i phi_i with phi_i(x) = ``problem.value(x, [i])`` (the single-sample functions of the
finite-sum contract, regulariser included) each convex and L_max-smooth, f L-smooth; SGD
x_{k+1} = x_k - gamma_k grad f_{B_k}(x_k) with minibatches B_k of b distinct indices drawn uniformly and
independently at every step (``testbed.run(..., batch_size=b, sampling="independent")``), any step sequence
gamma_k (decreasing or not) with gamma_k < 1/(2 L_b).

Theorem. With L_b = n(b - 1)/(b(n - 1)) L + (n - b)/(b(n - 1)) L_max and sigma_b^2 = (n - b)/(b(n - 1)) sigma*^2,
sigma*^2 = (1/n) sum_i ||grad phi_i(x*)||^2 (Gower et al. 2019, ICML, "SGD: general analysis and improved
rates", expected smoothness and Prop. 3.8 for these b-nice constants), w_k = 2 gamma_k (1 - 2 gamma_k L_b):

    E[ A_t ] <= B_t,   A_t = sum_{k<t} w_k (f(x_k) - f*) / sum_{k<t} w_k,
                       B_t = (||x_0 - x*||^2 + 2 sigma_b^2 sum_{k<t} gamma_k^2) / sum_{k<t} w_k.

Proof (the standard one; cf. Garrigos & Gower 2023, Handbook of convergence theorems for (stochastic) gradient
methods, Sect. 5): E_k ||x_{k+1} - x*||^2 = ||x_k - x*||^2 - 2 gamma_k <grad f(x_k), x_k - x*>
+ gamma_k^2 E_k ||g_k||^2; convexity gives <grad f(x_k), x_k - x*> >= f(x_k) - f*; E_k ||g_k||^2 <=
2 E ||grad f_B(x_k) - grad f_B(x*)||^2 + 2 E ||grad f_B(x*)||^2 <= 4 L_b (f(x_k) - f*) + 2 sigma_b^2 (the
variance of a mean of b draws without replacement is (n - b)/(b(n - 1)) times the population variance). Sum over
k < t and take expectations.

The weighted average A_t is observable from one run's history (f and lr at every iteration); its expectation
is estimated by the mean over runs with different seeds. Confidence rule (documented, one-sided): with m >= 3
runs, mean M_t and sample standard deviation S_t of A_t, the bound is *violated* at t when the lower
confidence limit M_t - q S_t / sqrt(m) exceeds B_t + tol_t, where q is the (1 - alpha/K) quantile of
Student's t with m - 1 degrees of freedom and K the number of checked t (Bonferroni over iterations), so that a
true bound is reported violated with probability at most alpha (default 0.01) under the normal approximation.
"Held" therefore means "no significant evidence against the bound", never a proof; one run is never enough.

Runs made with the default per-epoch reshuffling (``sampling="reshuffle"``) are not covered: their minibatches
are not independent of the past, and the theorem above does not apply to them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from problems import Problem
from problems._validate import check_float
from problems.errors import UserInputError
from testbed.result import Run
from testbed.theory import assumptions as req
from testbed.theory.catalogue import RTOL, Bound, Evaluation, register_bound
from testbed.theory.certify import CERTIFICATE_COLUMNS, check_run_matches
from testbed.theory.facts import RunFacts

__all__ = ["MIN_RUNS", "certify_expectation", "sgd_bound", "sgd_constants"]

#: Fewest runs (distinct seeds) :func:`certify_expectation` accepts.
MIN_RUNS = 3

_NAME = "sgd_convex_expectation"
_STATEMENT = (
    "E[sum_{k<t} w_k (f(x_k) - f*) / sum_{k<t} w_k] <= (||x_0 - x*||^2 + 2 sigma_b^2 sum_{k<t} gamma_k^2) / "
    "sum_{k<t} w_k,  w_k = 2 gamma_k (1 - 2 gamma_k L_b)"
)


def sgd_constants(problem: Problem, batch_size: int) -> tuple[float, float]:
    """(L_b, sigma_b^2) of b-nice sampling on ``problem`` (needs ``problem.L_max``, L and x*)."""
    n, b = problem.n_samples, int(batch_size)
    L_max = float(problem.L_max)
    x_star = problem.x_star
    sq = [float(np.sum(problem.grad(x_star, np.array([i])) ** 2)) for i in range(n)]
    sigma2 = float(np.mean(sq))
    c = 0.0 if n == 1 else (n - b) / (b * (n - 1))
    return (1.0 - c) * problem.L + c * L_max, c * sigma2


def sgd_bound(problem: Problem, steps: Sequence[float] | np.ndarray, batch_size: int) -> np.ndarray:
    """B_t for t = 1..len(steps) (see the module docstring); steps gamma_k must be < 1/(2 L_b)."""
    gamma = np.asarray(steps, dtype=np.float64)
    L_b, sigma2 = sgd_constants(problem, batch_size)
    if gamma.size and not np.all((gamma > 0) & (gamma < 1.0 / (2.0 * L_b))):
        bad = gamma[~((gamma > 0) & (gamma < 1.0 / (2.0 * L_b)))][0]
        raise UserInputError(f"steps: must lie in (0, 1/(2 L_b)) = (0, {1 / (2 * L_b):.6g}), got {bad:.6g}")
    R2 = float(np.sum((problem.x0 - problem.x_star) ** 2))
    w = 2.0 * gamma * (1.0 - 2.0 * gamma * L_b)
    return (R2 + 2.0 * sigma2 * np.cumsum(gamma**2)) / np.cumsum(w)


def _weighted_gaps(facts: RunFacts, L_b: float) -> np.ndarray:
    """A_t for t = 1..T of one run."""
    gamma = facts.lr[:-1]
    w = 2.0 * gamma * (1.0 - 2.0 * gamma * L_b)
    return np.cumsum(w * facts.f_gap[:-1]) / np.cumsum(w)


def _run_reason(facts: RunFacts) -> str:
    """Why a single run cannot enter the expectation check ("" if it can)."""
    p = facts.problem
    checks = (req.method_is("sgd", "gd"), req.unconstrained, req.convex, req.smooth, req.known_f_star, req.known_x_star)
    reason = req.first_reason(facts, checks)
    if reason:
        return reason
    if facts.method == "sgd":
        for key, neutral in (("momentum", 0), ("weight_decay", 0), ("maximize", False)):
            if facts.hparam(key, neutral) != neutral:
                return f"sgd with {key}={facts.hparam(key)!r} is not plain SGD (needs {key}={neutral!r})"
    if facts.run.batch_size is None:
        return "the run is full batch (no batch_size): use certify for deterministic bounds"
    if facts.run.extras.get("sampling") != "independent":
        return (
            "the run's minibatches were drawn by per-epoch reshuffling, not independently at each step; run with "
            "sampling='independent'"
        )
    if getattr(p, "L_max", None) is None:
        return f"{p.name} states no L_max (smoothness of its single-sample functions), which the bound needs"
    if not facts.complete:
        return "the history skips iterations (record_every > 1): A_t needs every f(x_k) and step"
    return ""


def _single_run_check(facts: RunFacts) -> str:
    return "an expectation bound: check it on several seeds with testbed.theory.certify_expectation(runs, problem)"


def _never(facts: RunFacts) -> Evaluation:
    raise ValueError("an expectation bound is not evaluated on a single run")


SGD_BOUND = register_bound(
    Bound(
        name=_NAME,
        statement=_STATEMENT,
        source="Gower et al. 2019 (ICML), expected smoothness, Prop. 3.8; Garrigos & Gower 2023, Handbook, Sect. 5 "
        "(proof in testbed.theory.expectation)",
        assumptions="f = mean of convex L_max-smooth phi_i, f L-smooth; SGD (momentum 0) with minibatches of b "
        "distinct indices drawn independently each step (sampling='independent'); steps gamma_k < 1/(2 L_b); "
        "f*, x*, L_max known; checked on the mean over >= 3 seeds with a one-sided Bonferroni t-interval",
        applies_to="sgd, gd (with batch_size)",
        observed="mean over seeds of sum_{k<t} w_k (f(x_k) - f*) / sum_{k<t} w_k",
        formula="(||x0-x*||^2 + 2 sigma_b^2 sum gamma_k^2)/sum w_k",
        tolerance="max(|f(x_t)|, |f*|) (f values subtracted)",
        requires=(_single_run_check,),
        evaluate=_never,
    )
)


def certify_expectation(runs: Sequence[Run], problem: Problem, *, alpha: float = 0.01) -> pd.DataFrame:
    """Check the SGD bound in expectation on several runs of the same configuration with different seeds.

    Returns a one-row certificate (the columns of :func:`testbed.theory.certify`) for ``sgd_convex_expectation``;
    ``df.attrs["curves"]`` holds (bound, iter, bound_value, observed = mean of A_t over runs) and
    ``df.attrs["lower_confidence"]`` the per-t lower confidence limits. See the module docstring for the rule.
    Every run must have been made on ``problem`` (else ``UserInputError``, see
    :func:`testbed.theory.certify.check_run_matches`).
    """
    from scipy import stats

    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    runs = list(runs)
    if not all(isinstance(r, Run) for r in runs):
        raise UserInputError("runs: must be a sequence of testbed.Run")
    if not isinstance(problem, Problem):
        raise UserInputError(f"problem: must be a problems.Problem, got {type(problem).__name__}")
    for r in runs:
        check_run_matches(r, problem)
    reason = ""
    if len(runs) < MIN_RUNS:
        reason = f"needs at least {MIN_RUNS} runs with different seeds, got {len(runs)}"
    elif len({r.seed for r in runs}) != len(runs):
        reason = "the runs must have pairwise different seeds"
    facts = [RunFacts.from_run(r, problem) for r in runs]
    if not reason:
        for fa in facts:
            reason = _run_reason(fa)
            if reason:
                break
    if not reason:
        ref = facts[0]
        for fa in facts[1:]:
            same = (
                fa.method == ref.method and fa.run.batch_size == ref.run.batch_size and fa.n_rows == ref.n_rows
                and np.array_equal(fa.lr, ref.lr, equal_nan=True)
            )
            if not same:
                reason = "the runs differ in method, batch size, length or step sizes (they must differ only in seed)"
                break
    if not reason:
        L_b = sgd_constants(problem, ref.run.batch_size)[0]
        steps = ref.lr[:-1]
        if steps.size == 0:
            reason = "the runs took no steps"
        elif not np.all((steps > 0) & (steps < 1.0 / (2.0 * L_b))):
            reason = f"a step exceeds 1/(2 L_b) = {1.0 / (2.0 * L_b):.6g} (L_b = {L_b:.6g})"
    row = {
        "bound": _NAME, "applicable": False, "reason": reason, "held": pd.NA, "n_checked": 0, "worst_slack": np.nan,
        "worst_rel_slack": np.nan, "worst_iter": -1, "first_violation": -1, "roundoff": False, "statement": _STATEMENT,
    }
    curves = pd.DataFrame(columns=["bound", "iter", "bound_value", "observed"])
    lower = np.zeros(0)
    if not reason:
        samples = np.array([_weighted_gaps(fa, L_b) for fa in facts])
        m = samples.shape[0]
        mean = samples.mean(axis=0)
        sd = samples.std(axis=0, ddof=1)
        K = mean.size
        q = float(stats.t.ppf(1.0 - alpha / K, m - 1))
        lower = mean - q * sd / math.sqrt(m)
        bound = sgd_bound(problem, steps, ref.run.batch_size)
        iters = ref.it[1:]
        scale = np.maximum(np.maximum.accumulate(np.abs(ref.f[:-1])), abs(ref.f_star))
        tol = RTOL * np.maximum(1.0, scale)
        slack = np.where(np.isfinite(lower), bound - lower, -np.inf)
        bad = np.flatnonzero(slack < -tol)
        worst = int(np.argmin(slack))
        row.update(
            applicable=True, held=bad.size == 0, n_checked=int(K), worst_slack=float(slack[worst]),
            worst_rel_slack=float(np.min(slack / np.maximum(np.abs(bound), tol))), worst_iter=int(iters[worst]),
            first_violation=int(iters[bad[0]]) if bad.size else -1, roundoff=bool(bad.size == 0 and np.any(slack < 0)),
        )
        curves = pd.DataFrame({"bound": _NAME, "iter": iters, "bound_value": bound, "observed": mean})
    df = pd.DataFrame([row], columns=list(CERTIFICATE_COLUMNS))
    df["held"] = df["held"].astype("boolean")
    df.attrs["curves"] = curves
    df.attrs["lower_confidence"] = lower
    return df
