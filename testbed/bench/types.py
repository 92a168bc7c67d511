"""The row every benchmark returns, and the table they make together."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BenchRow", "rows_to_frame"]


@dataclass(frozen=True)
class BenchRow:
    """One measured comparison: our time, the reference's, their ratio and the target it is held to."""

    benchmark: str
    case: str
    ours_s: float
    reference_s: float
    ratio: float
    target: str
    met: bool | None
    note: str = ""


def rows_to_frame(rows: list[BenchRow]) -> Any:
    """A pandas DataFrame of the rows, in order."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in rows])
