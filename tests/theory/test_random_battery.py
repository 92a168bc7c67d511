"""Zero false violations: every registered convex family, and hundreds of random quadratics, least-squares and
logistic problems across dimensions and condition numbers, run by the lecture's methods and certified.

Each example is tiny (dimension <= 6, at most 40 iterations) so the battery stays well under 30 s; hypothesis is
derandomised so that the examples (and the suite) are the same on every run.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from theory_helpers import gd

import problems
import testbed
from testbed.testing import assert_certified, assert_descent_lemma, assert_rate
from testbed.theory import certify

make = testbed.optimizers.make
BATTERY = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def _optimizers(p: problems.Problem, h: float) -> list:
    """The methods the catalogue has bounds for that apply to ``p``."""
    if p.is_constrained:
        return [make("projected_gd")]
    opts = [gd(), gd(lr=f"{h}/L"), make("nesterov"), make("gd_backtracking", t0="1/L")]
    if p.mu is not None and p.mu > 0:
        opts.append(make("nesterov", variant="strongly_convex"))
    if p.f_star is not None:
        opts.append(make("polyak"))
    if p.has_hess:
        opts.append(make("newton"))
    return opts


def _certify_all(p: problems.Problem, h: float, iters: int = 30) -> int:
    """Run every applicable method and assert its certification; return how many bounds applied to the first."""
    checked = 0
    for k, opt in enumerate(_optimizers(p, h)):
        run = testbed.run(p, opt, iters=iters)
        assert run.status in ("max_iters", "converged"), (opt, run.message)
        assert_certified(run, p)
        if k == 0:  # the first method's certificate shows the checks were not vacuous
            checked += int(certify(run, p)["applicable"].sum())
    return checked


def _convex_families() -> list[str]:
    out = []
    for name in problems.available():
        info = problems.describe(name)
        if info.get("convex") is True:
            out.append(name)
    return out


@pytest.mark.parametrize("family", _convex_families())
def test_every_registered_convex_family(family):
    p = problems.make(family)
    assert p.convex
    checked = _certify_all(p, h=1.5, iters=40)
    assert checked >= 1, f"no bound applied to any run on {family}"
    if not p.is_constrained and p.L is not None and p.L_region == "global":
        run = testbed.run(p, gd(), iters=40)
        assert_descent_lemma(run, p.L)
        if p.f_star is not None and p.x_star is not None:
            assert_rate(run, "gd_convex_rate", p)
            assert_rate(run, "gd_convex_tight", p)


def test_the_convex_families_include_the_lecture_ones():
    assert {"quadratic", "least_squares", "logistic"} <= set(_convex_families())


@BATTERY
@given(
    dim=st.integers(1, 6),
    log_kappa=st.floats(0.0, 4.0),
    spectrum=st.sampled_from(["linear", "geometric", "log_uniform", "two_cluster"]),
    singular=st.booleans(),
    seed=st.integers(0, 10**6),
    h=st.floats(0.05, 1.95),
)
def test_random_quadratics(dim, log_kappa, spectrum, singular, seed, h):
    rank = max(1, dim - 1) if singular else dim
    kappa = 1.0 if rank == 1 else 10.0**log_kappa
    p = problems.make("quadratic", dim=dim, kappa=kappa, spectrum=spectrum, rank=rank, seed=seed)
    assert _certify_all(p, h) > 0


@BATTERY
@given(
    n=st.integers(2, 15),
    d=st.integers(1, 6),
    ridge=st.sampled_from([0.0, 1e-3, 0.5]),
    scale=st.sampled_from(["sum", "mean"]),
    seed=st.integers(0, 10**6),
    h=st.floats(0.05, 1.95),
)
def test_random_least_squares(n, d, ridge, scale, seed, h):
    p = problems.make("least_squares", n=n, d=d, lam=ridge, scale=scale, seed=seed)
    assert _certify_all(p, h) > 0


@BATTERY
@given(
    n=st.integers(8, 30),
    d=st.integers(1, 4),
    log_lam=st.floats(-3.0, 0.0),
    separation=st.floats(0.0, 4.0),
    seed=st.integers(0, 10**6),
    h=st.floats(0.05, 1.95),
)
def test_random_logistic(n, d, log_lam, separation, seed, h):
    p = problems.make("logistic", n=n, d=d, lam=10.0**log_lam, separation=separation, seed=seed)
    assert math.isfinite(p.f_star)
    assert _certify_all(p, h) > 0
