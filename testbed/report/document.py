"""The report as a document: sections of text, code, tables and figures, rendered by ``html`` and ``markdown``.

Building the content (:mod:`testbed.report.build`) and writing a format are
separate, so both formats show the same thing and each renderer only decides
how a block looks. All text is plain (renderers escape it); tables hold
display strings (:func:`format_value`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["CodeBlock", "FigureBlock", "Report", "Section", "TableBlock", "TextBlock", "display_frame", "format_value"]


@dataclass(frozen=True)
class TextBlock:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class CodeBlock:
    """Preformatted text (the spec), shown verbatim."""

    text: str
    language: str = ""


@dataclass(frozen=True)
class TableBlock:
    """A titled table of display strings; ``empty_note`` is shown instead when it has no rows."""

    title: str
    frame: pd.DataFrame
    caption: str = ""
    empty_note: str = "No rows."


@dataclass(frozen=True)
class FigureBlock:
    """A figure as PNG bytes, or ``png=None`` with a ``note`` saying why it is omitted.

    ``key`` names the file (``figures/<key>.png`` in the Markdown report).
    """

    key: str
    title: str
    caption: str
    png: bytes | None
    note: str = ""


Block = TextBlock | CodeBlock | TableBlock | FigureBlock


@dataclass
class Section:
    """A titled section; ``key`` is its anchor."""

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    """The whole document: title, lines under it, generation time and sections in order."""

    title: str
    subtitle: list[str]
    generated: str
    sections: list[Section]

    def figures(self) -> list[FigureBlock]:
        """Every figure block, in document order."""
        return [b for s in self.sections for b in s.blocks if isinstance(b, FigureBlock)]


def format_value(value: object) -> str:
    """Display string of a table cell: 4 significant digits for floats, "—" for missing, "∞" for inf."""
    if value is None or value is pd.NA:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "—"
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == int(x) and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.4g}"
    return str(value)


def display_frame(df: pd.DataFrame, headers: dict[str, str] | None = None) -> pd.DataFrame:
    """``df`` with every cell formatted by :func:`format_value` and columns renamed by ``headers``
    (columns not in ``headers`` keep their name; with ``headers``, only its columns are kept, in its order)."""
    if headers is not None:
        df = df[[c for c in headers if c in df.columns]].rename(columns=headers)
    out = pd.DataFrame({col: [format_value(v) for v in df[col].tolist()] for col in df.columns}, dtype=object)
    return out.reset_index(drop=True)
