"""Parity with torch.optim: our iterates equal torch's (float64, foreach=False) to 1e-10 relative over 200 steps.

torch is driven on the same objective with gradients computed by OUR problem
(``p.grad = problem.grad(x)``), so only the optimizers differ. The deviation of
a trajectory is max_t ||x_t - y_t||_inf / max_t ||y_t||_inf (y: torch's iterates).
Every hyperparameter option of every optimizer is exercised on a quadratic, on
Rosenbrock and on a small MLP.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import problems
import testbed
from testbed import optimizers
from testbed.optimizers import torch_common, torch_kernels
from testbed.oracle import Oracle

ITERS = 200
RTOL = 1e-10

TORCH_CLASS = {
    "sgd": "SGD",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adadelta": "Adadelta",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "NAdam",
    "radam": "RAdam",
}


# ----------------------------------------------------------------- objectives
@functools.cache
def quadratic() -> problems.Problem:
    """A 20-dimensional quadratic with condition number 100 and L = 1 (nonzero minimizer)."""
    return problems.make("quadratic", dim=20, kappa=100.0, L=1.0, seed=3)


@functools.cache
def rosenbrock() -> problems.Problem:
    """The 2-D Rosenbrock function from the classical start (-1.2, 1)."""
    return problems.make("rosenbrock")


@functools.cache
def mlp() -> problems.Problem:
    """The lecture's tanh MLP on two moons (full batch)."""
    return problems.make("mlp", data="moons", n=80, hidden=8, seed=0)


def negated(p: problems.Problem) -> problems.Problem:
    """-f: maximizing it with ``maximize=True`` walks the same path as minimizing f."""
    return problems.custom(value=lambda x: -p.value(x), grad=lambda x: -p.grad(x), x0=p.x0, name=f"neg_{p.name}")


OBJECTIVES = {"quadratic": quadratic, "rosenbrock": rosenbrock, "mlp": mlp}

#: Base step sizes per objective (an explicit lr in a case overrides them).
LR = {
    "quadratic": {"sgd": 0.5, "adagrad": 0.5, "rmsprop": 3e-3, "adadelta": 1.0,
                  "adam": 0.05, "adamw": 0.05, "nadam": 0.02, "radam": 0.02},
    "rosenbrock": {"sgd": 1e-3, "adagrad": 0.1, "rmsprop": 1e-3, "adadelta": 1.0,
                   "adam": 1e-2, "adamw": 1e-2, "nadam": 1e-2, "radam": 1e-3},
    "mlp": {"sgd": 0.5, "adagrad": 0.1, "rmsprop": 1e-3, "adadelta": 1.0,
            "adam": 3e-3, "adamw": 3e-3, "nadam": 3e-3, "radam": 3e-3},
}

# (optimizer, hyperparameters other than the objective's lr); each option of each optimizer appears.
CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "dampening": 0.5}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"weight_decay": 0.1}),
    ("sgd", {"momentum": 0.5, "nesterov": True, "weight_decay": 0.05}),
    ("sgd", {"momentum": 0.9, "maximize": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.01}),
    ("adagrad", {"initial_accumulator_value": 0.5}),
    ("adagrad", {"weight_decay": 0.1}),
    ("adagrad", {"lr_decay": 0.05, "initial_accumulator_value": 0.1, "weight_decay": 0.01, "eps": 1e-6}),
    ("adagrad", {"maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"centered": True, "momentum": 0.5}),
    ("rmsprop", {"weight_decay": 0.1}),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-6}),
    ("rmsprop", {"centered": True, "maximize": True}),
    ("adadelta", {}),
    ("adadelta", {"weight_decay": 0.1}),
    ("adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-4}),
    ("adadelta", {"maximize": True}),
    ("adam", {}),
    ("adam", {"amsgrad": True}),
    ("adam", {"weight_decay": 0.1}),
    ("adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("adam", {"amsgrad": True, "weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("adam", {"lr": 2e-3, "betas": (0.5, 0.9), "eps": 1e-4}),
    ("adam", {"maximize": True, "weight_decay": 0.01}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.1, "amsgrad": True}),
    ("adamw", {"maximize": True}),
    ("nadam", {}),
    ("nadam", {"weight_decay": 0.1}),
    ("nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("nadam", {"lr": 0.03}),  # 15 times the default
    ("nadam", {"lr": 0.03, "momentum_decay": 0.01, "weight_decay": 0.01}),
    ("nadam", {"maximize": True}),
    ("radam", {}),  # beta2 = 0.999: rho_t <= 5 on steps 1-5, then > 5
    ("radam", {"weight_decay": 0.1}),
    ("radam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", {"betas": (0.9, 0.9)}),  # rho_inf = 19: rectified from step 3 on
    ("radam", {"betas": (0.8, 0.5)}),  # rho_inf = 3: rho_t <= 5 on every step (never rectified)
    ("radam", {"maximize": True}),
]


def _case_id(case: tuple[str, dict]) -> str:
    name, hp = case
    return name + "".join(f"-{k}={v}" for k, v in hp.items())


@pytest.fixture(scope="module")
def torch64():
    """torch with float64 as default dtype (so NAdam's scalar state is float64), restored afterwards."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


@pytest.fixture(scope="module", params=sorted(OBJECTIVES))
def objective(request) -> tuple[str, problems.Problem]:
    return request.param, OBJECTIVES[request.param]()


def torch_iterates(torch, name: str, hparams: dict, problem: problems.Problem, iters: int, scheduler=None):
    """x_0 ... x_iters of torch.optim.<name> driven with ``problem.grad``; ``scheduler(opt)`` builds an LR scheduler
    stepped after each ``opt.step()``."""
    x0 = problem.x0
    p = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    opt = getattr(torch.optim, TORCH_CLASS[name])([p], foreach=False, **hparams)
    sched = scheduler(opt) if scheduler is not None else None
    out = np.empty((iters + 1, x0.size))
    out[0] = x0
    for k in range(iters):
        x = p.detach().numpy().copy()
        p.grad = torch.from_numpy(np.array(problem.grad(x), dtype=np.float64, copy=True))
        opt.step()
        if sched is not None:
            sched.step()
        out[k + 1] = p.detach().numpy()
    return out


def deviation(ours: np.ndarray, ref: np.ndarray) -> float:
    """max_t ||x_t - y_t||_inf / max_t ||y_t||_inf."""
    assert ours.shape == ref.shape
    assert np.all(np.isfinite(ref))
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def our_iterates(problem: problems.Problem, name: str, hparams: dict, iters: int = ITERS) -> np.ndarray:
    run = testbed.run(problem, optimizers.make(name, **hparams), iters=iters, keep_iterates=True)
    assert run.status == "max_iters", run.message
    return run.iterates


def _perturbed(problem: problems.Problem) -> problems.Problem:
    """The same objective started one ulp away (used to tell a chaotic setting from a wrong update)."""
    x0 = np.nextafter(problem.x0, np.inf)
    return problems.custom(value=problem.value, grad=problem.grad, x0=x0, name=problem.name)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_iterates_match_torch(torch64, objective, case):
    obj_name, problem = objective
    name, hp = case
    hp = {"lr": LR[obj_name][name], **hp}
    if hp.get("maximize"):
        problem = negated(problem)
    ref = torch_iterates(torch64, name, hp, problem, ITERS)
    ours = our_iterates(problem, name, hp)
    dev = deviation(ours, ref)
    if dev > RTOL:
        # diagnose: a setting where torch itself amplifies a 1-ulp change of x0 beyond RTOL is chaotic
        # (torch's float64 sqrt is not correctly rounded, so no numpy code can follow it there)
        chaos = deviation(torch_iterates(torch64, name, hp, _perturbed(problem), ITERS), ref)
        pytest.fail(f"{name} {hp} on {obj_name}: max relative deviation {dev:.3g} > {RTOL:g} "
                    f"(torch vs torch from x0 moved by 1 ulp: {chaos:.3g})")
    # the trajectory moved: the comparison is not between two stalled runs
    assert np.max(np.abs(ref[-1] - ref[0])) > 1e-2 * np.max(np.abs(ref))


def test_lr_as_multiple_of_one_over_L_matches_torch(torch64):
    """lr="1/L" resolves to 1/problem.L, the float torch is given."""
    p = quadratic()
    ref = torch_iterates(torch64, "sgd", {"lr": 1.0 / p.L, "momentum": 0.5}, p, ITERS)
    run = testbed.run(p, optimizers.make("sgd", lr="1/L", momentum=0.5), iters=ITERS, keep_iterates=True)
    assert run.base_lr == 1.0 / p.L
    assert deviation(run.iterates, ref) <= RTOL


def test_parity_check_detects_a_near_miss(torch64):
    """The tolerance resolves a relative change of 1e-6 in one hyperparameter."""
    p = rosenbrock()
    ref = torch_iterates(torch64, "adam", {"lr": 1e-2}, p, ITERS)
    assert deviation(our_iterates(p, "adam", {"lr": 1e-2}), ref) <= RTOL
    assert deviation(our_iterates(p, "adam", {"lr": 1e-2 * (1 + 1e-6)}), ref) > RTOL


def test_single_rounding_kernels_are_needed_in_sensitive_settings(torch64, monkeypatch):
    """NAdam with lr 0.05 on the quadratic amplifies ulp differences: the fused kernels follow torch there,
    the plain (two-rounding) kernels do not."""
    p = quadratic()
    hp = {"lr": 0.05}
    ref = torch_iterates(torch64, "nadam", hp, p, ITERS)
    with monkeypatch.context() as m:
        m.setattr(torch_kernels, "FUSED_MAX_SIZE", 0)
        plain = our_iterates(p, "nadam", hp)
    assert deviation(plain, ref) > RTOL
    hp = {"lr": 0.03}
    ref = torch_iterates(torch64, "nadam", hp, p, ITERS)
    assert deviation(our_iterates(p, "nadam", hp), ref) <= RTOL


# every option at once, per optimizer: used for the blocked/plain-path checks below
ALL_OPTIONS = [
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01, "maximize": True}),
    ("sgd", {"lr": 0.05, "momentum": 0.5, "nesterov": True, "weight_decay": 0.01}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01,
                 "maximize": True}),
    ("rmsprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.01, "maximize": True}),
    ("adadelta", {"lr": 0.5, "weight_decay": 0.01, "maximize": True}),
    ("adam", {"lr": 3e-3, "amsgrad": True, "weight_decay": 0.01, "maximize": True}),
    ("adam", {"lr": 3e-3, "amsgrad": True, "weight_decay": 0.01, "decoupled_weight_decay": True}),
    ("adamw", {"lr": 3e-3, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("nadam", {"lr": 3e-3, "weight_decay": 0.01, "decoupled_weight_decay": True, "maximize": True}),
    ("nadam", {"lr": 3e-3, "weight_decay": 0.01}),
    ("radam", {"lr": 3e-3, "weight_decay": 0.01, "decoupled_weight_decay": True, "maximize": True}),
    ("radam", {"lr": 3e-3, "weight_decay": 0.01}),
]


def _objective_for(hp: dict) -> problems.Problem:
    p = mlp()
    return negated(p) if hp.get("maximize") else p


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
@pytest.mark.parametrize("case", ALL_OPTIONS, ids=[_case_id(c) for c in ALL_OPTIONS])
def test_blocked_update_is_bit_identical(monkeypatch, case, fused):
    """Walking the vector in blocks (here of 5 entries, with a shorter last block) changes no bit."""
    name, hp = case
    p = _objective_for(hp)
    if not fused:
        monkeypatch.setattr(torch_kernels, "FUSED_MAX_SIZE", 0)
    whole = our_iterates(p, name, hp)
    monkeypatch.setattr(torch_common, "BLOCK_SIZE", 5)
    assert p.dim % 5 != 0
    blocked = our_iterates(p, name, hp)
    np.testing.assert_array_equal(blocked, whole)


@pytest.mark.parametrize("case", ALL_OPTIONS, ids=[_case_id(c) for c in ALL_OPTIONS])
def test_plain_kernels_match_torch_in_calm_settings(torch64, monkeypatch, case):
    """The fast kernels used for vectors above FUSED_MAX_SIZE entries also meet the tolerance (here with
    every option on, on the MLP, in blocks of 16 so that several blocks and a short last block are used)."""
    name, hp = case
    p = _objective_for(hp)
    ref = torch_iterates(torch64, name, hp, p, ITERS)
    monkeypatch.setattr(torch_kernels, "FUSED_MAX_SIZE", 0)
    monkeypatch.setattr(torch_common, "BLOCK_SIZE", 16)
    assert deviation(our_iterates(p, name, hp), ref) <= RTOL


@pytest.mark.parametrize("n", [1, 7, 8, 1000, 1003])
def test_fused_kernels_round_once_like_torch(torch64, n):
    """FusedOps reproduces torch's add(alpha), addcmul and lerp bit for bit; PlainOps is within an ulp."""
    torch = torch64
    rng = np.random.default_rng(n)
    x, y, t1, t2 = (rng.standard_normal(n) * s for s in (1.0, 1e-3, 1e3, 1.0))
    T = torch.from_numpy
    fused, plain = torch_kernels.FusedOps(n), torch_kernels.PlainOps(n)
    for alpha in (0.1, -3.7e-3, 1 - 0.9, 1.0, -1.0):
        ref = T(x).add(T(y), alpha=alpha).numpy()
        out = np.empty(n)
        fused.axpy(out, x, alpha, y)
        np.testing.assert_array_equal(out, ref)
        plain.axpy(out, x, alpha, y)
        np.testing.assert_allclose(out, ref, rtol=0, atol=np.max(np.spacing(np.abs(ref))))
        ref = T(x).addcmul(T(t1), T(t2), value=alpha).numpy()
        out = x.copy()
        fused.addcmul(out, out, alpha, t1, t2)
        np.testing.assert_array_equal(out, ref)
    for w in (0.1, 1 - 0.999, 0.49, 0.5, 0.7, 1.0):
        ref = T(x).lerp(T(y), w).numpy()
        out = x.copy()
        fused.lerp_(out, y, w)
        np.testing.assert_array_equal(out, ref)


def test_plain_kernels_differ_from_torch_somewhere(torch64):
    """Two roundings are not one: on 1000 entries the plain lerp differs from torch's in some of them
    (the reason FusedOps exists)."""
    torch = torch64
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(1000), rng.standard_normal(1000)
    ref = torch.from_numpy(x).lerp(torch.from_numpy(y), 0.1).numpy()
    out = x.copy()
    torch_kernels.PlainOps(1000).lerp_(out, y, 0.1)
    assert np.any(out != ref)


def test_maximize_on_negated_objective_walks_the_minimizing_path():
    p = quadratic()
    up = our_iterates(negated(p), "adam", {"lr": 0.05, "maximize": True})
    down = our_iterates(p, "adam", {"lr": 0.05})
    np.testing.assert_array_equal(up, down)


def test_radam_cases_cover_both_branches():
    """The default betas give rho_t <= 5 for t <= 5 and > 5 afterwards; betas (0.8, 0.5) never rectify."""

    def rho(beta2: float, t: np.ndarray) -> np.ndarray:
        rho_inf = 2 / (1 - beta2) - 1
        return rho_inf - 2 * t * beta2**t / (1 - beta2**t)

    t = np.arange(1, ITERS + 1, dtype=float)
    r = rho(0.999, t)
    assert np.all(r[:5] <= 5) and np.all(r[5:] > 5)
    assert np.all(rho(0.5, t) <= 5)
    assert np.any(rho(0.9, t) > 5) and np.any(rho(0.9, t) <= 5)


def test_adamw_is_adam_with_decoupled_decay():
    p = mlp()
    a = our_iterates(p, "adamw", {"lr": 0.01, "weight_decay": 0.1})
    b = our_iterates(p, "adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True})
    c = our_iterates(p, "adam", {"lr": 0.01, "weight_decay": 0.1})
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-6


def test_gradient_that_aliases_x_is_not_overwritten(torch64):
    """A problem whose grad returns x itself (f = ||x||^2 / 2): the in-place step must not feed on its own update."""
    x0 = np.linspace(-1.0, 2.0, 7)
    p = problems.custom(value=lambda x: 0.5 * float(x @ x), grad=lambda x: x, x0=x0)
    for name, hp in [("adamw", {"lr": 0.1, "weight_decay": 0.5}), ("sgd", {"lr": 0.1, "momentum": 0.9})]:
        ref = torch_iterates(torch64, name, hp, p, 50)
        assert deviation(our_iterates(p, name, hp, iters=50), ref) <= RTOL


def test_step_is_in_place_and_does_not_touch_the_gradient():
    """step updates x in place and never writes into the array the oracle returned (it may be the problem's)."""
    g_const = np.linspace(-1.0, 1.0, 5)
    g_copy = g_const.copy()
    p = problems.custom(value=lambda x: float(g_const @ x), grad=lambda x: g_const, x0=np.ones(5))
    for name, hp in ALL_OPTIONS:
        opt = optimizers.make(name, **hp)
        x = p.x0
        state = opt.init(x, p)
        oracle = Oracle(p)
        for _ in range(3):
            x_next, state, lr_used = opt.step(x, state, oracle, opt.lr)
            assert x_next is x, name
            assert lr_used > 0
        assert oracle.grad_evals == 3, name
        np.testing.assert_array_equal(g_const, g_copy)
        assert np.any(x != p.x0), name
