"""PEP worst cases: closed forms, the methods' step matrices against the optimizers, errors, cache, table."""

from __future__ import annotations

import importlib
import json
import math
import os

import numpy as np
import pytest

import problems
import testbed
from problems.errors import SolverError, UnknownNameError, UserInputError
from testbed.theory import pep
from testbed.theory.gd_bounds import gd_tight_value
from testbed.theory.pep import cache as pep_cache

wc_module = importlib.import_module("testbed.theory.pep.worst_case")  # the module (the package exports the function)


@pytest.mark.parametrize("t", range(1, 11))
def test_gd_step_one_over_L_reproduces_the_tight_bound(t):
    assert pep.worst_case("gd", t, L=1.0, R=1.0) == pytest.approx(1.0 / (4 * t + 2), rel=1e-5)


@pytest.mark.parametrize(("h", "t"), [(0.5, 3), (1.5, 2), (1.5, 6), (1.9, 4)])
def test_gd_any_constant_step_matches_the_closed_form(h, t):
    assert pep.worst_case("gd", t, step=h, L=2.0, R=0.5) == pytest.approx(
        float(gd_tight_value(t, h, L=2.0, R2=0.25)), rel=1e-5
    )


@pytest.mark.parametrize(("mu", "h", "t"), [(0.1, 1.0, 3), (0.1, 1.8, 5), (0.5, 0.3, 4), (0.2, 2 / 1.2, 2)])
def test_strongly_convex_distance_contraction_is_tight(mu, h, t):
    q = max(abs(1 - h * mu), abs(1 - h))
    assert pep.worst_case("gd", t, mu=mu, step=h, metric="dist") == pytest.approx(q ** (2 * t), rel=1e-5)


def test_step_sequence_equals_constant_steps_and_scaling_in_L_and_R():
    assert pep.worst_case("gd", 3, step=[1.0, 1.0, 1.0]) == pytest.approx(pep.worst_case("gd", 3), rel=1e-6)
    assert pep.worst_case("gd", 3, L=3.0, R=2.0) == pytest.approx(3.0 * 4.0 / 14, rel=1e-5)


def test_nesterov_beats_its_textbook_bound_and_gd():
    for t in (2, 5, 8):
        value = pep.worst_case("nesterov", t)
        assert value <= 2.0 / (t + 1) ** 2 * (1 + 1e-6)
        assert value <= pep.worst_case("gd", t) * (1 + 1e-6)
    assert pep.worst_case("nesterov", 8) < 0.8 * pep.worst_case("gd", 8)


def test_nonconvex_min_gradient_is_below_the_catalogue_bound():
    for t in (1, 3, 6):
        value = pep.worst_case("gd", t, metric="min_grad_norm2", initial="f_gap", R=1.0)
        assert 0 < value <= 2.0 / t


def test_other_metrics_and_mu_equal_L():
    g2 = pep.worst_case("gd", 3, metric="grad_norm2")
    assert 0 < g2 <= pep.worst_case("gd", 2, metric="grad_norm2") * (1 + 1e-6)
    assert pep.worst_case("gd", 3, mu=1.0, step=0.5, metric="dist") == pytest.approx(0.5**6, rel=1e-12)
    # f-gap contraction of GD with step 1/L: (1 - mu/L)^(2t) (tight), tighter than the lecture's (1 - mu/L)^t
    assert pep.worst_case("gd", 2, mu=0.5, metric="f_gap", initial="f_gap", R=1.0) == pytest.approx(0.5**4, rel=1e-4)


def _coefficients_match(points, iterates, grads, sampled_x):
    """x_k = X[k] @ [x0, g_0, ..., g_N] for the optimizer's own iterates and gradients."""
    basis = np.vstack([iterates[0], *grads])
    for k, x in enumerate(sampled_x):
        np.testing.assert_allclose(points.X[k] @ basis, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("method", "kw"), [("heavy_ball", {"momentum": 0.6}), ("nesterov", {})])
def test_step_matrices_are_the_optimizers_updates(method, kw):
    p = problems.make("quadratic", dim=4, kappa=10.0, seed=5)
    n = 6
    run = testbed.run(p, testbed.optimizers.make(method, lr="1/L", **kw), iters=n, keep_iterates=True)
    xs = run.iterates
    points = pep.points_for(method, [1.0] * n, p.L, kw.get("momentum"))
    if method == "heavy_ball":
        grads = [p.grad(x) for x in xs]
        _coefficients_match(points, xs, grads, xs)
    else:
        betas = pep.fista_momenta(n)
        np.testing.assert_allclose(run.history["momentum"].to_numpy()[:n], betas, rtol=1e-14)
        ys, x_prev = [], xs[0]
        for k in range(n):
            ys.append(xs[k] + betas[k] * (xs[k] - x_prev))
            x_prev = xs[k]
        grads = [p.grad(y) for y in ys] + [p.grad(xs[n])]
        _coefficients_match(points, xs, grads, [*ys, xs[n]])


def test_input_errors_name_the_field():
    with pytest.raises(UnknownNameError, match="did you mean 'nesterov'"):
        pep.worst_case("nesterof", 3)
    with pytest.raises(UnknownNameError, match="PEP metric"):
        pep.worst_case("gd", 3, metric="fgap")
    with pytest.raises(UnknownNameError, match="initial condition"):
        pep.worst_case("gd", 3, initial="x0")
    cases = [
        ({"iters": 0}, "iters: must be >= 1"),
        ({"L": 0.0}, "L: must be > 0"),
        ({"mu": -0.1}, "mu: must be >= 0"),
        ({"mu": 2.0}, "mu: must be <= L"),
        ({"step": -1.0}, "step: must be > 0"),
        ({"step": [1.0, 1.0]}, "one step per iteration"),
        ({"step": "1/L"}, "step: must be a number"),
        ({"R": 0.0}, "R: must be > 0"),
        ({"momentum": 0.5}, "gd has no momentum"),
        ({"metric": "min_grad_norm2"}, "initial='f_gap'"),
    ]
    for kw, message in cases:
        args = {"method": "gd", "iters": 3, **kw}
        with pytest.raises(ValueError, match=message):
            pep.worst_case(**args)
    with pytest.raises(UserInputError, match="heavy_ball needs its momentum"):
        pep.worst_case("heavy_ball", 3)
    with pytest.raises(UserInputError, match="gd only"):
        pep.worst_case("heavy_ball", 2, step=[1.0, 1.0], momentum=0.5)


def test_an_infinite_worst_case_is_inf_without_a_solve(monkeypatch):
    # f(x0) - f* <= 1 does not bound ||x_N - x*|| on convex functions (a flat Huber function far away): +inf.
    def fail(args):
        raise AssertionError("no SDP is solved for a worst case theory says is infinite")

    monkeypatch.setattr(wc_module, "solve", fail)
    for method, kw in (("gd", {}), ("heavy_ball", {"momentum": 0.5}), ("nesterov", {})):
        assert pep.worst_case(method, 2, metric="dist", initial="f_gap", **kw) == math.inf
    monkeypatch.undo()
    # strong convexity bounds it again: ||x_N - x*||^2 <= (1 - mu/L)^(2N) 2 Delta / mu for gd with step 1/L
    assert pep.worst_case("gd", 2, mu=0.5, metric="dist", initial="f_gap") == pytest.approx(0.5**4 * 4, rel=1e-4)


@pytest.mark.parametrize("step", [2.0, 2.5, 3.0])
def test_a_non_convergent_constant_gd_step_is_refused(step):
    for kw in ({}, {"mu": 0.5}, {"mu": 1.0}, {"metric": "dist"}, {"metric": "grad_norm2"},
               {"metric": "min_grad_norm2", "initial": "f_gap"}):
        with pytest.raises(UserInputError, match=r"step: constant-step gd converges .* only for a step h in \(0, 2\)"):
            pep.worst_case("gd", 3, step=step, **kw)
    # just inside the range it is solved, and equals the tight closed form (1 - h)^(2t) / 2 (L = R = 1)
    assert pep.worst_case("gd", 2, step=1.9) == pytest.approx(0.5 * 0.9**4, rel=1e-5)
    # a step *sequence* may contain long steps (it can still converge): solved as given
    assert 0 < pep.worst_case("gd", 2, step=[1.0, 2.5]) < 0.5


def test_the_cli_reports_a_non_convergent_step_in_one_line(capsys):
    from testbed.cli import main

    assert main(["bounds", "--pep", "gd", "--iters", "1..3", "--step", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "(0, 2)" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_mu_equal_L_is_exact_and_never_negative(monkeypatch):
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", "off")
    # f = L/2 x^2: gd with step h/L gives x_t = (1 - h)^t x_0
    assert pep.worst_case("gd", 3, mu=1.0, step=1.0) == 0.0  # the SDP gave -9.7e-11
    for t in (1, 3, 5):
        assert pep.worst_case("gd", t, mu=1.0, step=0.5) == pytest.approx(0.5 * 0.25**t, rel=1e-14)
        assert pep.worst_case("gd", t, L=2.0, mu=2.0, step=1.5, R=3.0, metric="grad_norm2") == pytest.approx(
            4.0 * 0.25**t * 9.0, rel=1e-14)
    # f(x0) - f* <= R means ||x0 - x*||^2 <= 2R/L
    assert pep.worst_case("gd", 2, L=4.0, mu=4.0, step=0.5, metric="dist", initial="f_gap", R=2.0) == pytest.approx(
        0.5**4 * 1.0, rel=1e-14)
    # heavy ball (beta = 0.5, step 1/L) on x^2/2: x_1 = 0, x_2 = -x_0/2, x_3 = -x_0/4
    assert pep.worst_case("heavy_ball", 3, mu=1.0, momentum=0.5) == pytest.approx(0.5 / 16, rel=1e-14)
    assert pep.worst_case("heavy_ball", 3, mu=1.0, momentum=0.5, metric="min_grad_norm2") == 0.0
    for method, kw in (("gd", {}), ("heavy_ball", {"momentum": 0.3}), ("nesterov", {})):
        for metric in ("f_gap", "dist", "grad_norm2", "min_grad_norm2"):
            for initial in ("dist", "f_gap"):
                value = pep.worst_case(method, 4, mu=1.0, step=0.7, metric=metric, initial=initial, **kw)
                assert value >= 0.0 and math.isfinite(value)
    # the class shrinks as mu grows: the exact mu = L value lies below the SDP's tight contraction at mu < L
    exact = pep.worst_case("gd", 2, mu=1.0, step=0.5, metric="dist")
    sdp = pep.worst_case("gd", 2, mu=0.9, step=0.5, metric="dist")
    assert sdp == pytest.approx(0.55**4, rel=1e-5) and exact == pytest.approx(0.5**4, rel=1e-14) and exact < sdp


def test_negative_round_off_is_clamped_and_a_real_negative_raises():
    args = wc_module._validate("gd", 3, 1.0, 0.0, 1.0, "f_gap", "dist", 1.0, None, None)
    assert wc_module.nonnegative(0.25, args, "w") == 0.25
    assert wc_module.nonnegative(-9.7e-11, args, "w") == 0.0
    with pytest.raises(SolverError, match="negative worst case"):
        wc_module.nonnegative(-1e-3, args, "w")
    # the tolerance scales with the data: R = 100 makes ||x0 - x*||^2 = 1e4
    big = wc_module._validate("gd", 3, 1.0, 0.0, 1.0, "dist", "dist", 100.0, None, None)
    assert wc_module.nonnegative(-1e-4, big, "w") == 0.0
    with pytest.raises(SolverError):
        wc_module.nonnegative(-1e-2, big, "w")


def test_results_are_cached_atomically_and_the_cache_can_be_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path))
    value = pep.worst_case("gd", 4, step=0.7)
    files = list((tmp_path / "pep").glob("*.json"))
    assert len(files) == 1 and not list((tmp_path / "pep").glob(".tmp-*"))
    entry = json.loads(files[0].read_text())
    assert entry["value"] == value and entry["args"]["steps"] == [0.7] * 4

    def fail(args):
        raise AssertionError("solved again despite the cache")

    monkeypatch.setattr(wc_module, "solve", fail)
    assert pep.worst_case("gd", 4, step=0.7) == value
    files[0].write_text("{not json")
    monkeypatch.undo()
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path))
    assert pep.worst_case("gd", 4, step=0.7) == pytest.approx(value, rel=1e-12)
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", "off")
    assert not pep_cache.cache_enabled()
    before = set(os.listdir(tmp_path / "pep"))
    pep.worst_case("gd", 5, step=0.7)
    assert set(os.listdir(tmp_path / "pep")) == before


def test_compare_table():
    df = pep.compare_table("gd", iters=range(1, 6))
    assert list(df.columns) == ["t", "pep", "tight", "textbook"]
    assert list(df["t"]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(df["pep"], df["tight"], rtol=1e-5)
    assert (df["textbook"] >= df["pep"]).all()
    nes = pep.compare_table("nesterov", iters=[2, 3])
    assert nes["tight"].isna().all() and (nes["textbook"] >= nes["pep"]).all()


def test_benchmark_reports_seconds_per_iteration_count():
    out = pep.benchmark([1, 2], repeat=1)
    assert set(out) == {1, 2} and all(math.isfinite(s) and s > 0 for s in out.values())


@pytest.mark.parametrize(("h", "n"), [(1.9, 20), (1.99, 20), (1.95, 10)])
def test_steps_near_two_over_L_are_solved_by_the_fallback_settings(h, n, monkeypatch):
    """Clarabel's defaults end 'optimal_inaccurate' here; the fallback ladder must reach 'optimal' and the
    known tight value (L R^2 / 2) max(1/(2Nh+1), (1-h)^(2N))."""
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", "off")
    value = pep.worst_case("gd", iters=n, step=h)
    exact = 0.5 * max(1 / (2 * n * h + 1), (1 - h) ** (2 * n))
    assert value == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("t", [12, 20])
def test_gd_tight_bound_on_the_multithreadable_linear_solver(t, monkeypatch):
    """From t = 12 on Clarabel's "auto" picks faer (multi-threaded by default); run single-threaded, the value is
    still 1/(4t + 2)."""
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", "off")
    assert pep.worst_case("gd", t) == pytest.approx(1.0 / (4 * t + 2), rel=1e-5)


def test_solver_settings_are_single_threaded_with_the_fallbacks_on_top(monkeypatch):
    ladder = wc_module.solver_settings()
    assert ladder[0] == {"max_threads": 1}
    assert ladder[1:] == [{"max_threads": 1, **fallback} for fallback in wc_module.FALLBACK_OPTIONS]
    assert ladder[-1]["direct_solve_method"] == "qdldl"

    class OldSettings:  # a Clarabel without the thread setting
        verbose = True

    import clarabel

    monkeypatch.setattr(clarabel, "DefaultSettings", OldSettings)
    old = wc_module.solver_settings()
    assert old[0] == {} and all("max_threads" not in options for options in old)
    assert old[1:] == [dict(fallback) for fallback in wc_module.FALLBACK_OPTIONS]
