"""A description of the machine and software a sweep ran on, for manifests and run records.

Results are only comparable when the environment is known: numpy/scipy
versions change BLAS kernels and so the last bits of a floating-point
history. :func:`describe` reports the interpreter, the platform and the
versions of the packages that can change a number, read from the installed
distributions' metadata (nothing is imported, so this stays cheap).
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from importlib import metadata
from typing import Any

__all__ = ["PACKAGES", "describe", "package_version"]

#: Distributions whose versions are recorded (those that can change a result or a report).
PACKAGES = (
    "optim-testbed",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "cvxpy",
    "clarabel",
    "scikit-learn",
    "joblib",
    "dask",
    "distributed",
    "threadpoolctl",
    "matplotlib",
    "seaborn",
    "torch",
)


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": _cpu_count(),
        "packages": {name: package_version(name) for name in PACKAGES},
    }


def describe(host: bool = False) -> dict[str, Any]:
    """``{python, implementation, platform, machine, cpu_count, packages{name: version or None}}``.

    ``host=True`` adds the host name (run records carry it, so that a run
    executed on a dask worker says where it ran). Cached per process.
    """
    out = dict(_static())
    out["packages"] = dict(out["packages"])
    if host:
        out["host"] = platform.node()
    return out
