"""Turning spec values into problems, schedules and optimizers (shared by the dry validation and the workers).

TOML arrays arrive as Python lists; hyperparameters and problem parameters
get them as tuples (``betas=(0.9, 0.999)``, as torch writes them). A
``schedule`` value is a table ``{ name = "cosine", T_max = 200 }`` built with
:func:`testbed.schedules.make`. ``batch_size`` in an optimizer entry is a run
setting, not a hyperparameter: :func:`split_run_settings` separates it.
"""

from __future__ import annotations

from typing import Any

from problems.errors import UserInputError

__all__ = [
    "RUN_SEED",
    "RUN_SETTINGS",
    "as_call_value",
    "is_seed_key",
    "make_optimizer",
    "make_problem",
    "make_schedule",
    "run_seeded",
    "split_run_settings",
]

#: Keys of an optimizer entry that configure the run rather than the optimizer.
RUN_SETTINGS = ("batch_size",)

#: A problem parameter named ``seed`` or ``*_seed`` (``init_seed``) given as ``"run"`` takes the run's seed:
#: a fresh instance (data, initialisation) for every run seed.
RUN_SEED = "run"


def run_seeded(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """``params`` with every ``seed``/``*_seed`` parameter given as ``"run"`` replaced by ``seed``."""
    if not any(v == RUN_SEED and is_seed_key(k) for k, v in params.items()):
        return params
    return {k: (seed if v == RUN_SEED and is_seed_key(k) else v) for k, v in params.items()}


def is_seed_key(key: str) -> bool:
    """True for parameter names that seed something: ``seed`` and ``*_seed``."""
    return key == "seed" or key.endswith("_seed")


def as_call_value(value: Any) -> Any:
    """TOML value -> call value: arrays become tuples (recursively), tables dicts."""
    if isinstance(value, list):
        return tuple(as_call_value(v) for v in value)
    if isinstance(value, dict):
        return {k: as_call_value(v) for k, v in value.items()}
    return value


def split_run_settings(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(hyperparameters, run settings)`` of an optimizer configuration."""
    hparams = {k: v for k, v in values.items() if k not in RUN_SETTINGS}
    settings = {k: v for k, v in values.items() if k in RUN_SETTINGS}
    return hparams, settings


def make_problem(family: str, params: dict[str, Any]) -> Any:
    """``problems.make(family, **params)`` with TOML arrays as tuples."""
    import problems

    return problems.make(family, **{k: as_call_value(v) for k, v in params.items()})


def make_schedule(table: Any) -> Any:
    """Build a schedule from its spec table ``{ name = ..., <params> }``."""
    from testbed import schedules

    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        raise UserInputError(f'schedule: must be a table like {{ name = "cosine", T_max = 100 }}, got {table!r}')
    params = {k: as_call_value(v) for k, v in table.items() if k != "name"}
    return schedules.make(table["name"], **params)


def make_optimizer(method: str, hparams: dict[str, Any]) -> Any:
    """``testbed.optimizers.make(method, **hparams)``, the ``schedule`` table built first."""
    from testbed import optimizers

    kwargs = {k: as_call_value(v) for k, v in hparams.items() if k != "schedule"}
    if "schedule" in hparams:
        kwargs["schedule"] = make_schedule(hparams["schedule"])
    return optimizers.make(method, **kwargs)
