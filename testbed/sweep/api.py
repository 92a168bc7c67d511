"""``run_spec``: a whole sweep from Python, as ``testbed run`` does it from the shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from testbed.sweep.runner import SweepOutcome, run_sweep
from testbed.sweep.spec import Spec, load_spec, parse_spec

__all__ = ["run_spec"]


def run_spec(
    spec: str | os.PathLike | dict[str, Any] | Spec,
    out: str | os.PathLike | None = None,
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    quiet: bool = True,
    report: bool = False,
) -> SweepOutcome:
    """Validate and run a sweep: ``spec`` is a path to a TOML file, a dict (the TOML document as
    ``tomllib`` returns it) or a parsed :class:`Spec`.

    Results go to ``out`` (default ``reports/<name>``); finished runs are
    skipped unless ``force``. ``report=True`` also writes the HTML/Markdown
    report (``outcome.out_dir / "index.html"``). Raises :class:`SpecError` (every
    error of the spec at once) before anything is written.

    >>> testbed.sweep.run_spec({"name": "mini", "budget": {"iters": 50},
    ...     "problems": [{"family": "quadratic", "dim": 5}],
    ...     "optimizers": [{"name": "gd", "lr": "1/L"}]}, out="reports/mini")
    """
    if isinstance(spec, Spec):
        parsed = spec
    elif isinstance(spec, dict):
        parsed = parse_spec(spec, source="<dict spec>")
    else:
        parsed = load_spec(Path(spec))
    outcome = run_sweep(parsed, out, n_jobs=n_jobs, scheduler=scheduler, force=force, quiet=quiet)
    if report:
        from testbed.report import write_report

        write_report(outcome.out_dir)
    return outcome
