"""Progress of a sweep (a rich progress bar on stderr) and the summary table printed at its end."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress", "summary_table"]


class Progress:
    """Runs done/total, failures and ETA while a sweep runs; silent when ``quiet`` or when stderr is not a terminal.

    Use as a context manager; call :meth:`advance` with each finished run's summary.
    """

    def __init__(self, total: int, skipped: int = 0, quiet: bool = False, description: str = "runs") -> None:
        self.total = total
        self.skipped = skipped
        self.failed = 0
        self.quiet = quiet
        self.description = description
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.quiet or self.total == 0:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        console = Console(stderr=True)
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed: {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self._bar.__enter__()
        self._task = self._bar.add_task(self.description, total=self.total, failed=0)
        return self

    def advance(self, summary: dict[str, Any]) -> None:
        """Count one finished run (``summary["status"] == "error"`` counts as a failure)."""
        if summary.get("status") == "error":
            self.failed += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _fmt(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v != v:
        return "-"
    return f"{v:.3g}"


def summary_table(runs: Any, title: str = "", max_rows: int | None = 40) -> Any:
    """A rich Table of ``load_runs`` output: one row per (problem, config) with run counts,
    statuses and medians of the final f - f*, ||grad f|| and gradient evaluations."""
    from rich.table import Table

    table = Table(title=title or None, show_lines=False)
    for col, justify in (
        ("problem", "left"),
        ("config", "left"),
        ("runs", "right"),
        ("status", "left"),
        ("f - f*", "right"),
        ("||grad f||", "right"),
        ("grad evals", "right"),
    ):
        table.add_column(col, justify=justify)
    if runs is None or not len(runs):
        return table
    groups = runs.groupby(["problem", "config"], sort=False, dropna=False)
    for i, ((problem, config), g) in enumerate(groups):
        if max_rows is not None and i >= max_rows:
            table.add_row(f"... {groups.ngroups - max_rows} more (see `testbed results DIR`)", "", "", "", "", "", "")
            break
        counts = g["status"].value_counts()
        status = ", ".join(f"{s} {n}" if len(counts) > 1 or n > 1 else str(s) for s, n in counts.items())
        table.add_row(
            str(problem),
            str(config),
            str(len(g)),
            status,
            _fmt(g["f_gap"].median()),
            _fmt(g["grad_norm"].median()),
            _fmt(g["grad_evals"].median()),
        )
    return table


def print_table(table: Any, file: Any = None) -> None:
    """Print a rich renderable to ``file`` (stdout by default), plain text when not a terminal."""
    from rich.console import Console

    Console(file=file or sys.stdout, width=160 if not (file or sys.stdout).isatty() else None).print(table)
