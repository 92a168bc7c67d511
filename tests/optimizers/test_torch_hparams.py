"""Hyperparameters of the torch-exact optimizers: names and defaults equal torch's, bad values are refused clearly."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import problems
import testbed
from problems.errors import UnknownNameError, UserInputError
from testbed import optimizers

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
#: torch keywords about execution (device paths, autograd), not about the update rule
TORCH_EXECUTION_KEYWORDS = {"params", "foreach", "capturable", "differentiable", "fused"}


@pytest.mark.parametrize("name", sorted(TORCH_CLASS))
def test_hyperparameters_and_defaults_equal_torch(name):
    import torch

    torch_sig = inspect.signature(getattr(torch.optim, TORCH_CLASS[name]))
    expected = {k: p.default for k, p in torch_sig.parameters.items() if k not in TORCH_EXECUTION_KEYWORDS}
    info = optimizers.describe(name)
    ours = dict(info["hyperparameters"])
    assert ours.pop("schedule") is None
    assert ours == expected
    assert [type(v) for v in ours.values()] == [type(v) for v in expected.values()]
    assert info["source"] == f"torch.optim.{TORCH_CLASS[name]}"
    assert info["kind"] == "torch"
    assert info["summary"]


def test_describe_adam_lists_its_defaults():
    hp = optimizers.describe("adam")["hyperparameters"]
    assert hp["lr"] == 1e-3 and hp["betas"] == (0.9, 0.999) and hp["eps"] == 1e-8
    assert hp["weight_decay"] == 0 and hp["amsgrad"] is False and hp["decoupled_weight_decay"] is False
    assert optimizers.describe("adamw")["hyperparameters"]["weight_decay"] == 1e-2
    assert optimizers.describe("nadam")["hyperparameters"]["lr"] == 2e-3


@pytest.mark.parametrize("name", sorted(TORCH_CLASS))
def test_every_torch_optimizer_is_registered_and_builds_with_defaults(name):
    assert name in optimizers.available()
    opt = optimizers.make(name)
    assert opt.name == name
    assert opt.lr == optimizers.describe(name)["hyperparameters"]["lr"]


BAD = [
    ("sgd", {"lr": -0.1}, "lr", "> 0"),
    ("sgd", {"lr": 0.0}, "lr", "> 0"),
    ("sgd", {"lr": float("nan")}, "lr", "finite"),
    ("sgd", {"lr": None}, "lr", "number"),
    ("sgd", {"lr": "fast"}, "lr", "1/L"),
    ("sgd", {"lr": "-1/L"}, "lr", "1/L"),
    ("sgd", {"momentum": -0.1}, "momentum", ">= 0"),
    ("sgd", {"dampening": -0.1}, "dampening", "[0, 1]"),
    ("sgd", {"dampening": 1.5}, "dampening", "[0, 1]"),
    ("sgd", {"weight_decay": -1e-4}, "weight_decay", ">= 0"),
    ("sgd", {"nesterov": True}, "nesterov", "momentum > 0"),
    ("sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov", "dampening = 0"),
    ("sgd", {"nesterov": "yes"}, "nesterov", "true or false"),
    ("sgd", {"maximize": 1}, "maximize", "true or false"),
    ("adagrad", {"lr_decay": -0.1}, "lr_decay", ">= 0"),
    ("adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value", ">= 0"),
    ("adagrad", {"eps": -1e-10}, "eps", ">= 0"),
    ("adagrad", {"weight_decay": -1.0}, "weight_decay", ">= 0"),
    ("rmsprop", {"alpha": -0.1}, "alpha", "[0, 1]"),
    ("rmsprop", {"alpha": 1.01}, "alpha", "[0, 1]"),
    ("rmsprop", {"eps": -1.0}, "eps", ">= 0"),
    ("rmsprop", {"momentum": -0.5}, "momentum", ">= 0"),
    ("rmsprop", {"weight_decay": -1.0}, "weight_decay", ">= 0"),
    ("rmsprop", {"centered": "no"}, "centered", "true or false"),
    ("adadelta", {"rho": 1.1}, "rho", "[0, 1]"),
    ("adadelta", {"rho": -0.1}, "rho", "[0, 1]"),
    ("adadelta", {"eps": -1e-6}, "eps", ">= 0"),
    ("adadelta", {"weight_decay": -1.0}, "weight_decay", ">= 0"),
    ("adam", {"betas": (1.0, 0.999)}, "betas[0]", "[0, 1)"),
    ("adam", {"betas": (-0.1, 0.999)}, "betas[0]", "[0, 1)"),
    ("adam", {"betas": (0.9, 1.0)}, "betas[1]", "[0, 1)"),
    ("adam", {"betas": 0.9}, "betas", "pair"),
    ("adam", {"betas": (0.9, 0.99, 0.999)}, "betas", "pair"),
    ("adam", {"betas": ("a", 0.9)}, "betas[0]", "number"),
    ("adam", {"eps": -1e-8}, "eps", ">= 0"),
    ("adam", {"weight_decay": -0.01}, "weight_decay", ">= 0"),
    ("adam", {"amsgrad": "true"}, "amsgrad", "true or false"),
    ("adam", {"decoupled_weight_decay": None}, "decoupled_weight_decay", "true or false"),
    ("adamw", {"weight_decay": -0.01}, "weight_decay", ">= 0"),
    ("adamw", {"betas": (0.9, 1.5)}, "betas[1]", "[0, 1)"),
    ("nadam", {"momentum_decay": -4e-3}, "momentum_decay", ">= 0"),
    ("nadam", {"betas": (1.0, 0.9)}, "betas[0]", "[0, 1)"),
    ("nadam", {"decoupled_weight_decay": 0}, "decoupled_weight_decay", "true or false"),
    ("radam", {"betas": (0.9, -0.1)}, "betas[1]", "[0, 1)"),
    ("radam", {"eps": -1.0}, "eps", ">= 0"),
    ("radam", {"weight_decay": -1.0}, "weight_decay", ">= 0"),
    ("adam", {"schedule": "cosine"}, "schedule", "testbed.schedules.make"),
    ("adam", {"beta": (0.9, 0.99)}, "beta", "allowed"),
]


@pytest.mark.parametrize(("name", "hp", "field", "allowed"), BAD, ids=[f"{n}-{f}-{hp}" for n, hp, f, _ in BAD])
def test_bad_hyperparameter_raises_naming_it(name, hp, field, allowed):
    with pytest.raises(ValueError) as info:
        optimizers.make(name, **hp)
    assert isinstance(info.value, UserInputError)
    msg = str(info.value)
    assert msg.startswith(f"{field}:") or f"{field!r}" in msg, msg
    assert allowed in msg, msg


def test_boundary_values_are_accepted():
    """The closed ends of the allowed ranges are legal (torch accepts them too)."""
    optimizers.make("adam", betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    optimizers.make("adadelta", rho=1.0)
    optimizers.make("adadelta", rho=0.0)
    optimizers.make("rmsprop", alpha=0.0, momentum=0.0)
    optimizers.make("sgd", dampening=1.0, momentum=0.9)
    optimizers.make("sgd", nesterov=True, momentum=1e-3)


def test_unknown_optimizer_suggests_the_closest_name():
    with pytest.raises(UnknownNameError) as info:
        optimizers.make("adma")
    assert info.value.suggestion == "adam"
    assert "did you mean 'adam'" in str(info.value)
    assert "rmsprop" in str(info.value)  # lists what is available
    with pytest.raises(UnknownNameError) as info:
        optimizers.describe("rmsprp")
    assert info.value.suggestion == "rmsprop"


def test_lr_as_multiple_of_one_over_L():
    p = problems.make("quadratic", dim=10, kappa=10.0, L=4.0, seed=1)
    opt = optimizers.make("sgd", lr="0.5/L")
    assert opt.resolve_lr(p) == 0.5 / p.L
    assert opt.config()["lr"] == "0.5/L"
    run = testbed.run(p, opt, iters=3)
    assert run.base_lr == 0.5 / p.L
    assert np.allclose(run.history["lr"].to_numpy()[:-1], 0.5 / p.L)


def test_lr_one_over_L_without_L_is_a_clear_error():
    p = problems.custom(value=lambda x: float(np.sum(np.cosh(x))), grad=np.sinh, x0=np.ones(3))
    assert p.L is None
    with pytest.raises(UserInputError, match=r"lr: '1/L' needs a problem with a known L"):
        testbed.run(p, optimizers.make("adam", lr="1/L"), iters=5)


def test_hyperparameters_are_stored_validated_and_round_trip():
    opt = optimizers.make("adam", lr=np.float64(0.01), betas=np.array([0.8, 0.99]), amsgrad=np.bool_(True))
    assert opt.hparams["betas"] == (0.8, 0.99) and type(opt.hparams["betas"][0]) is float
    assert opt.hparams["amsgrad"] is True
    cfg = opt.config()
    assert cfg["betas"] == [0.8, 0.99]  # JSON-friendly
    again = optimizers.make("adam", **cfg)
    assert again.config() == cfg
    for name in TORCH_CLASS:
        opt = optimizers.make(name)
        assert optimizers.make(name, **opt.config()).config() == opt.config()
    assert "decoupled_weight_decay" not in optimizers.make("adamw").config()


def test_schedule_is_kept_in_the_config():
    sched = testbed.schedules.make("cosine", T_max=10)
    opt = optimizers.make("adamw", lr=0.1, schedule=sched)
    assert opt.schedule is sched
    assert opt.config()["schedule"] == {"name": "cosine", "T_max": 10, "eta_min": 0.0}
