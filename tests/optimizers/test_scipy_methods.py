"""scipy.optimize.minimize drivers (testbed/optimizers/scipy_methods.py): optima, iterates and counts against an
independent scipy run, budgets through the callback's StopIteration, failures, bad hyperparameters, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import problems
import testbed
from problems.errors import UserInputError
from testbed.optimizers import make

METHODS = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "cg": "CG", "newton_cg": "Newton-CG", "trust_ncg": "trust-ncg"}
NEEDS_HVP = {"newton_cg", "trust_ncg"}
TIGHT = {
    "lbfgs": {"gtol": 1e-10, "ftol": 1e-15},
    "bfgs": {"gtol": 1e-8},
    "cg": {"gtol": 1e-8},
    "newton_cg": {"xtol": 1e-12},
    "trust_ncg": {"gtol": 1e-8},
}


@pytest.fixture(scope="module")
def quad():
    return problems.make("quadratic", dim=8, kappa=10.0, seed=2)


@pytest.fixture(scope="module")
def rosen():
    return problems.make("rosenbrock")


def scipy_reference(problem, name, options):
    """An independent scipy run on the raw problem: (result, iterates, fun calls, hessp calls)."""
    calls = {"fun": 0, "hessp": 0}
    xs = []

    def fun(x):
        calls["fun"] += 1
        return problem.value_and_grad(x)

    def hessp(x, v):
        calls["hessp"] += 1
        return problem.hvp(x, v)

    kw = {"hessp": hessp} if name in NEEDS_HVP else {}
    res = minimize(fun, problem.x0, jac=True, method=METHODS[name], callback=lambda xk: xs.append(xk.copy()),
                   options=options, **kw)
    return res, np.array(xs), calls


@pytest.mark.parametrize("name", list(METHODS))
def test_reaches_the_optimum_of_a_quadratic(quad, name):
    r = testbed.run(quad, make(name, **TIGHT[name]), iters=500)
    assert r.status == "converged", r.message
    np.testing.assert_allclose(r.x_final, quad.x_star, atol=1e-6)
    assert r.history["f_gap"].iloc[-1] <= 1e-10


@pytest.mark.parametrize("name", list(METHODS))
def test_rosenbrock_iterates_and_counts_match_scipy(rosen, name):
    r = testbed.run(rosen, make(name), iters=10_000, keep_iterates=True)
    res, xs, calls = scipy_reference(rosen, name, {})
    assert r.status == "converged" and r.message == res.message
    np.testing.assert_allclose(r.x_final, [1.0, 1.0], atol=1e-4)
    # one history row per scipy iteration (callback), identical iterates
    assert r.iterations == res.nit == len(xs)
    np.testing.assert_array_equal(r.iterates[1:], xs)
    np.testing.assert_array_equal(r.x_final, res.x)
    # every call of fun computes f and grad f together: f_evals = grad_evals = nfev; njev counts cached requests too
    last = r.final
    assert last["f_evals"] == last["grad_evals"] == res.nfev == calls["fun"]
    assert res.njev <= res.nfev
    assert last["hvp_evals"] == calls["hessp"] and last["hess_evals"] == 0
    if name == "newton_cg":
        assert last["hvp_evals"] == res.nhev


@pytest.mark.parametrize("name", list(METHODS))
def test_respects_the_iteration_budget(rosen, name):
    r = testbed.run(rosen, make(name), iters=5, keep_iterates=True)
    _, xs, _ = scipy_reference(rosen, name, {})
    assert r.status == "max_iters" and r.iterations == 5
    assert r.history["iter"].tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_array_equal(r.iterates[1:], xs[:5])  # stopping early does not change the path


def test_zero_iterations_and_grad_budget(rosen):
    r0 = testbed.run(rosen, make("bfgs"), iters=0)
    assert r0.status == "max_iters" and r0.iterations == 0 and len(r0.history) == 1
    r = testbed.run(rosen, make("lbfgs"), max_grad_evals=10)
    assert r.status == "max_grad_evals" and r.final["grad_evals"] >= 10
    assert r.history["grad_evals"].iloc[-2] < 10  # stopped at the first iteration past the budget


def test_hyperparameters_reach_scipy(rosen):
    loose = testbed.run(rosen, make("lbfgs", gtol=1e-2, ftol=1e-3), iters=1000)
    tight = testbed.run(rosen, make("lbfgs"), iters=1000)
    assert loose.iterations < tight.iterations
    m3 = testbed.run(rosen, make("lbfgs", maxcor=3), iters=1000)
    res, _, _ = scipy_reference(rosen, "lbfgs", {"maxcor": 3})
    assert m3.iterations == res.nit
    tr = testbed.run(rosen, make("trust_ncg", initial_trust_radius=0.1, max_trust_radius=10.0), iters=1000)
    res, _, _ = scipy_reference(rosen, "trust_ncg", {"initial_trust_radius": 0.1, "max_trust_radius": 10.0})
    assert tr.iterations == res.nit


def test_scipy_failure_is_an_error_run(quad):
    # gtol = 0 cannot be met: BFGS ends with a line-search failure at machine precision (scipy status 2)
    r = testbed.run(quad, make("bfgs", gtol=0.0), iters=10_000)
    assert r.status == "error" and "SolverError" in r.message and "precision loss" in r.message
    assert r.history["f_gap"].iloc[-1] <= 1e-12  # the last recorded iterate is kept


@pytest.mark.parametrize(
    ("name", "kw", "field"),
    [
        ("lbfgs", {"maxcor": 0}, "maxcor"),
        ("lbfgs", {"gtol": -1.0}, "gtol"),
        ("lbfgs", {"maxls": 0}, "maxls"),
        ("bfgs", {"c1": 0.9, "c2": 0.5}, "c2"),
        ("bfgs", {"norm": 0.5}, "norm"),
        ("cg", {"c1": 0.0}, "c1"),
        ("newton_cg", {"xtol": 0.0}, "xtol"),
        ("trust_ncg", {"eta": 0.25}, "eta"),
        ("trust_ncg", {"initial_trust_radius": 5.0, "max_trust_radius": 1.0}, "initial_trust_radius"),
        ("bfgs", {"lr": 0.1}, "lr"),
    ],
)
def test_bad_hyperparameters_name_the_field(name, kw, field):
    with pytest.raises(ValueError, match=field):
        make(name, **kw)


def test_inapplicable_problems_are_refused():
    no_hvp = problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.ones(2))
    for name in NEEDS_HVP:
        with pytest.raises(UserInputError, match="Hessian-vector products"):
            testbed.run(no_hvp, make(name), iters=3)
    assert testbed.run(no_hvp, make("bfgs"), iters=50).status == "converged"  # first-order methods are fine
    with pytest.raises(UserInputError, match="constrained"):
        testbed.run(problems.make("nnls", n=6, d=3), make("lbfgs"), iters=3)


def test_catalogue_entries():
    for name, method in METHODS.items():
        info = testbed.optimizers.describe(name)
        assert info["kind"] == "scipy" and info["source"] == f"scipy.optimize.minimize(method='{method}')"
