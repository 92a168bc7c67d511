"""Schedules reproduce torch.optim.lr_scheduler: lr sequences to 1e-14, optimizer + scheduler loops to 1e-10.

torch's loop is ``opt.step(); sched.step()``: the step size used by optimizer
step k+1 is the scheduler's lr after k scheduler steps, which is what
``Schedule.lrs(base_lr)`` yields in position k.
"""

from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pytest

import problems
import testbed
from problems.errors import UnknownNameError, UserInputError
from testbed import optimizers, schedules

STEPS = 300
ITERS = 200

TORCH_CLASS = {"sgd": "SGD", "adagrad": "Adagrad", "adamw": "AdamW", "nadam": "NAdam", "rmsprop": "RMSprop"}


def _lambda_inv_sqrt(k: int) -> float:
    return 1 / math.sqrt(k + 1)


# (schedule name, its parameters, torch scheduler class, its keyword arguments)
SCHEDULES = [
    ("constant", {}, "ConstantLR", {"factor": 1.0}),
    ("step", {"step_size": 30, "gamma": 0.5}, "StepLR", {"step_size": 30, "gamma": 0.5}),
    ("step", {"step_size": 7}, "StepLR", {"step_size": 7}),
    ("exponential", {"gamma": 0.98}, "ExponentialLR", {"gamma": 0.98}),
    ("cosine", {"T_max": 100}, "CosineAnnealingLR", {"T_max": 100}),  # 300 steps: down, up, down again
    ("cosine", {"T_max": 50, "eta_min": 1e-3}, "CosineAnnealingLR", {"T_max": 50, "eta_min": 1e-3}),
    ("cosine", {"T_max": 1}, "CosineAnnealingLR", {"T_max": 1}),
    ("linear_warmup", {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 20}, "LinearLR",
     {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 20}),
    ("linear_warmup", {}, "LinearLR", {}),
    ("linear_warmup", {"start_factor": 1.0, "end_factor": 0.25, "total_iters": 150}, "LinearLR",
     {"start_factor": 1.0, "end_factor": 0.25, "total_iters": 150}),
    ("inv_sqrt", {}, "LambdaLR", {"lr_lambda": _lambda_inv_sqrt}),
]


@pytest.fixture(scope="module")
def torch64():
    """torch with float64 as default dtype, restored afterwards."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def torch_lrs(torch, sched_cls: str, sched_kwargs: dict, base_lr: float, steps: int) -> np.ndarray:
    """The lr torch's optimizer uses at steps 1..steps under the scheduler (read before each opt.step())."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = getattr(torch.optim.lr_scheduler, sched_cls)(opt, **sched_kwargs)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def _id(case) -> str:
    return case[0] + "".join(f"-{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", SCHEDULES, ids=[_id(c) for c in SCHEDULES])
def test_lr_sequence_matches_torch(torch64, case):
    name, params, sched_cls, sched_kwargs = case
    base_lr = 0.1
    ref = torch_lrs(torch64, sched_cls, sched_kwargs, base_lr, STEPS)
    ours = np.array(list(itertools.islice(schedules.make(name, **params).lrs(base_lr), STEPS)))
    np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=1e-14 * base_lr)
    assert np.ptp(ref) > 0 or name == "constant"  # the schedule really varies


def test_cosine_goes_back_up_beyond_T_max(torch64):
    ref = torch_lrs(torch64, "CosineAnnealingLR", {"T_max": 10}, 1.0, 31)
    ours = np.array(list(itertools.islice(schedules.make("cosine", T_max=10).lrs(1.0), 31)))
    np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=1e-15)
    assert ours[10] < 1e-15 and abs(ours[20] - 1.0) < 1e-12 and ours[30] < 1e-12


def test_lr_sequence_comparison_detects_the_closed_form(torch64):
    """The recursion is torch's: a closed-form cosine is a different sequence at this tolerance."""
    T, eta_min, base = 50, 1e-3, 0.1
    ref = torch_lrs(torch64, "CosineAnnealingLR", {"T_max": T, "eta_min": eta_min}, base, STEPS)
    closed = np.array([eta_min + (base - eta_min) * (1 + math.cos(math.pi * k / T)) / 2 for k in range(STEPS)])
    rel = np.abs(closed - ref) / np.abs(ref)
    assert np.max(rel) > 1e-16  # not bit-identical ...
    assert np.max(rel) < 1e-12  # ... though mathematically the same


@pytest.mark.parametrize(
    ("name", "torch_cls"),
    [("step", "StepLR"), ("exponential", "ExponentialLR"), ("cosine", "CosineAnnealingLR"),
     ("linear_warmup", "LinearLR")],
)
def test_schedule_defaults_equal_torch(name, torch_cls):
    import torch

    sig = inspect.signature(getattr(torch.optim.lr_scheduler, torch_cls))
    torch_defaults = {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}
    for k, v in schedules.describe(name)["parameters"].items():
        if v is not None:
            assert torch_defaults[k] == v, (name, k)


def torch_iterates(torch, name: str, hparams: dict, problem: problems.Problem, sched_cls: str, sched_kwargs: dict,
                   iters: int) -> tuple[np.ndarray, np.ndarray]:
    """torch.optim.<name> + scheduler driven with ``problem.grad``: iterates x_0..x_iters and the lr of each step."""
    x0 = problem.x0
    p = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    opt = getattr(torch.optim, TORCH_CLASS[name])([p], foreach=False, **hparams)
    sched = getattr(torch.optim.lr_scheduler, sched_cls)(opt, **sched_kwargs)
    xs, lrs = [x0], []
    for _ in range(iters):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.from_numpy(np.array(problem.grad(p.detach().numpy().copy()), copy=True))
        opt.step()
        sched.step()
        xs.append(p.detach().numpy().copy())
    return np.array(xs), np.array(lrs)


# (optimizer, hyperparameters, schedule, its parameters, torch scheduler, its keywords, objective)
WITH_SCHEDULES = [
    ("sgd", {"lr": 0.5, "momentum": 0.9}, "cosine", {"T_max": 80}, "CosineAnnealingLR", {"T_max": 80}, "quadratic"),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1}, "step", {"step_size": 40, "gamma": 0.5}, "StepLR",
     {"step_size": 40, "gamma": 0.5}, "mlp"),
    ("adagrad", {"lr": 0.5, "lr_decay": 0.01}, "exponential", {"gamma": 0.99}, "ExponentialLR", {"gamma": 0.99},
     "quadratic"),
    ("nadam", {"lr": 0.01}, "linear_warmup", {"start_factor": 0.1, "total_iters": 50}, "LinearLR",
     {"start_factor": 0.1, "total_iters": 50}, "mlp"),
    ("rmsprop", {"lr": 3e-3, "centered": True}, "inv_sqrt", {}, "LambdaLR", {"lr_lambda": _lambda_inv_sqrt},
     "rosenbrock"),
]

OBJECTIVES = {
    "quadratic": lambda: problems.make("quadratic", dim=20, kappa=100.0, L=1.0, seed=3),
    "rosenbrock": lambda: problems.make("rosenbrock"),
    "mlp": lambda: problems.make("mlp", data="moons", n=80, hidden=8, seed=0),
}


@pytest.mark.parametrize("case", WITH_SCHEDULES, ids=[f"{c[0]}+{c[2]}" for c in WITH_SCHEDULES])
def test_optimizer_with_schedule_matches_torch_loop(torch64, case):
    name, hp, sched, sched_params, sched_cls, sched_kwargs, obj = case
    problem = OBJECTIVES[obj]()
    ref, ref_lrs = torch_iterates(torch64, name, hp, problem, sched_cls, sched_kwargs, ITERS)
    opt = optimizers.make(name, **hp, schedule=schedules.make(sched, **sched_params))
    run = testbed.run(problem, opt, iters=ITERS, keep_iterates=True)
    assert run.status == "max_iters", run.message
    dev = np.max(np.abs(run.iterates - ref)) / np.max(np.abs(ref))
    assert dev <= 1e-10, f"{name}+{sched}: max relative deviation {dev:.3g}"
    # the history records the scheduled lr of each step (for Adagrad: the decayed lr / (1 + (t-1) lr_decay))
    lr_col = run.history["lr"].to_numpy()[:-1]
    expected = ref_lrs
    if name == "adagrad":
        expected = ref_lrs / (1 + np.arange(ITERS) * hp["lr_decay"])
    np.testing.assert_allclose(lr_col, expected, rtol=1e-14)


def test_schedule_changes_the_trajectory(torch64):
    """Sanity: without the scheduler the same optimizer walks elsewhere (the parity above is not vacuous)."""
    problem = OBJECTIVES["quadratic"]()
    ref, _ = torch_iterates(torch64, "sgd", {"lr": 0.5, "momentum": 0.9}, problem, "CosineAnnealingLR",
                            {"T_max": 80}, ITERS)
    run = testbed.run(problem, optimizers.make("sgd", lr=0.5, momentum=0.9), iters=ITERS, keep_iterates=True)
    assert np.max(np.abs(run.iterates - ref)) / np.max(np.abs(ref)) > 1e-3


BAD = [
    ("step", {"step_size": 0}, "step_size"),
    ("step", {"step_size": 10, "gamma": 0.0}, "gamma"),
    ("exponential", {"gamma": -0.5}, "gamma"),
    ("cosine", {"T_max": 0}, "T_max"),
    ("cosine", {"T_max": 10, "eta_min": -1.0}, "eta_min"),
    ("linear_warmup", {"start_factor": 0.0}, "start_factor"),
    ("linear_warmup", {"end_factor": 1.5}, "end_factor"),
    ("linear_warmup", {"total_iters": 0}, "total_iters"),
]


@pytest.mark.parametrize(("name", "params", "field"), BAD, ids=[f"{n}-{f}" for n, _, f in BAD])
def test_bad_schedule_parameter_names_it(name, params, field):
    with pytest.raises(UserInputError, match=rf"^{field}:"):
        schedules.make(name, **params)


def test_unknown_schedule_suggests_closest():
    with pytest.raises(UnknownNameError) as info:
        schedules.make("cosin", T_max=3)
    assert info.value.suggestion == "cosine"
