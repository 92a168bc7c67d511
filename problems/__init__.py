"""The objective registry of optim-testbed.

>>> import problems
>>> p = problems.make("least_squares", n=200, d=50, seed=0)
>>> f, g = p.value_and_grad(p.x0)

``problems`` depends on numpy, scipy and (lazily, for reference optima) cvxpy;
it never imports ``testbed``.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import Parameter
from typing import Any

import numpy as np

from problems._registry import Registry
from problems.base import CustomProblem, Problem
from problems.errors import SolverError, UnknownNameError, UserInputError
from problems.reference import Reference

__all__ = [
    "REGISTRY",
    "Problem",
    "Reference",
    "SolverError",
    "UnknownNameError",
    "UserInputError",
    "available",
    "custom",
    "describe",
    "make",
    "register",
]

__version__ = "0.1.0"

#: The registry of problem families; third-party packages extend it through the
#: entry-point group ``optim_testbed.problems``.
REGISTRY = Registry("problem family", entry_point_group="optim_testbed.problems")


def register(name: str, *, summary: str = "", replace: bool = False, **info: Any) -> Callable:
    """Decorator registering a problem factory (a callable taking keyword parameters, returning a ``Problem``).

    ``info`` documents the family in the catalogue: ``convex`` (bool or
    "depends"), ``L`` (how it is obtained), ``mu``, ``f_star`` (how f* is known).

    >>> @problems.register("my_quad", convex=True, L="2", mu="2", f_star="closed form")
    ... def my_quad(dim: int = 3):
    ...     return problems.custom(value=lambda x: x @ x, grad=lambda x: 2 * x, x0=np.ones(dim), L=2.0, mu=2.0)
    """
    return REGISTRY.register(name, summary=summary, replace=replace, **info)


def _load_builtin() -> None:
    # Importing the family modules registers them.
    from problems import families  # noqa: F401


def available() -> list[str]:
    """Sorted names of the registered problem families."""
    _load_builtin()
    return REGISTRY.names()


def make(name: str, **params: Any) -> Problem:
    """Build the problem family ``name`` with keyword ``params`` (see :func:`describe`)."""
    _load_builtin()
    problem = REGISTRY.make(name, **params)
    if not isinstance(problem, Problem):
        raise TypeError(f"factory of {name!r} returned {type(problem).__name__}, not a Problem")
    return problem


def describe(name: str) -> dict[str, Any]:
    """Catalogue entry of a family: summary, parameters with defaults, convexity, how L, mu and f* are obtained."""
    _load_builtin()
    entry = REGISTRY.get(name)
    params = {k: (None if v is Parameter.empty else v) for k, v in entry.parameters().items()}
    return {"name": entry.name, "summary": entry.summary, "parameters": params, **entry.info}


def custom(
    *,
    value: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    L: float | None = None,
    mu: float | None = None,
    f_star: float | None = None,
    x_star: np.ndarray | None = None,
    convex: bool | None = None,
    name: str = "custom",
    value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
    hess: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Problem:
    """Wrap the user's own objective as a ``Problem`` (not registered).

    ``L`` must be a valid Lipschitz constant of ``grad`` if given (theory checks
    trust it); ``mu`` is 0.0 for convex, None for nonconvex; ``convex`` defaults
    to ``mu is not None``.
    """
    return CustomProblem(
        value=value, grad=grad, x0=x0, L=L, mu=mu, f_star=f_star, x_star=x_star,
        convex=convex, name=name, value_and_grad=value_and_grad, hess=hess,
    )

