"""Monitors a spec can ask for: extra history columns evaluated at each recorded iterate.

Monitors are for empirical-risk problems (``logistic``, ``mlp``, ...), which
expose ``accuracy(x, split)`` and ``test_value(x)``. A monitor named in a spec
applies to every problem that supports it and is left out for the others
(their histories simply have no such column); naming a monitor that no
problem of the spec supports is an error. The run loop evaluates monitors
outside the oracle budget and outside ``time_s``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MONITORS", "Monitor", "monitor_functions"]


@dataclass(frozen=True)
class Monitor:
    """A named group of history columns, computed from the problem's own methods."""

    name: str
    columns: tuple[str, ...]
    needs: str
    summary: str

    def supports(self, problem: Any) -> bool:
        """Whether ``problem`` has the method this monitor needs."""
        return callable(getattr(problem, self.needs, None))

    def functions(self, problem: Any) -> dict[str, Callable[[Any], float]]:
        """``{column: fn(x) -> float}`` for :func:`testbed.run`'s ``monitors``."""
        method = getattr(problem, self.needs)
        if self.name == "accuracy":
            return {
                "train_acc": lambda x: float(method(x, split="train")),
                "test_acc": lambda x: float(method(x, split="test")),
            }
        return {self.columns[0]: lambda x: float(method(x))}


#: The monitor catalogue.
MONITORS = {
    "accuracy": Monitor(
        "accuracy", ("train_acc", "test_acc"), "accuracy", "classification accuracy on the train and test splits"
    ),
    "test_loss": Monitor("test_loss", ("test_f",), "test_value", "loss on the held-out test split (no regulariser)"),
}


def monitor_functions(names: list[str], problem: Any) -> dict[str, Callable[[Any], float]]:
    """Column functions of the monitors ``names`` that ``problem`` supports, in the order named."""
    out: dict[str, Callable[[Any], float]] = {}
    for name in names:
        monitor = MONITORS[name]
        if monitor.supports(problem):
            out.update(monitor.functions(problem))
    return out
