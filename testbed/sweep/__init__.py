"""Experiment sweeps: a TOML spec expanded into runs, executed locally or on dask, stored as Parquet.

>>> from testbed import sweep
>>> spec = sweep.load_spec("experiments/quickstart.toml")      # parse + validate (every error at once)
>>> outcome = sweep.run_sweep(spec, "reports/quickstart", n_jobs=2)
>>> testbed.storage.load_results("reports/quickstart")
>>> sweep.run_spec({"name": "mini", ...})                       # or a path; the same checks and files

The spec grammar is documented in ``experiments/README.md``; the grid rule
in :mod:`testbed.sweep.grid`; the results layout in :mod:`testbed.storage`.
"""

from __future__ import annotations

from testbed.sweep.api import run_spec
from testbed.sweep.plan import plan_runs
from testbed.sweep.runner import SweepOutcome, output_dir, run_sweep
from testbed.sweep.spec import Spec, SpecError, load_spec, parse_spec

__all__ = [
    "Spec",
    "SpecError",
    "SweepOutcome",
    "load_spec",
    "output_dir",
    "parse_spec",
    "plan_runs",
    "run_spec",
    "run_sweep",
]
