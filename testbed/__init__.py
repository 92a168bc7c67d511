"""optim-testbed: run, compare, plot and prove optimizers against theory.

>>> import problems, testbed
>>> p = problems.make("rosenbrock")
>>> run = testbed.run(p, testbed.optimizers.make("adam", lr=1e-2), iters=2000)

Submodules load on first use (``testbed.theory``, ``testbed.sweep``,
``testbed.plots``, ...), so importing ``testbed`` stays fast: cvxpy,
matplotlib/seaborn and dask are imported only where they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

from testbed import optimizers, schedules
from testbed.result import Run
from testbed.run import run

__version__ = "0.1.0"

__all__ = [
    "Run",
    "__version__",
    "load_results",
    "optimizers",
    "plots",
    "report",
    "run",
    "schedules",
    "sweep",
    "testing",
    "theory",
]

_LAZY_MODULES = {"theory", "testing", "sweep", "plots", "report", "storage", "bench"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"testbed.{name}")
    if name == "load_results":
        from testbed.storage import load_results

        return load_results
    raise AttributeError(f"module 'testbed' has no attribute {name!r}")
