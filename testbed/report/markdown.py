"""``report.md``: the same document as the HTML page in Markdown, figures as PNG files in ``figures/`` beside it.

Text is escaped for CommonMark/GFM (characters that could start inline markup
are backslash-escaped, as are list or heading markers at the start; "&" only
where it would begin an entity; line breaks inside table cells become spaces), and the spec
goes in a fenced block whose fence is longer than any backtick run inside it.
"""

from __future__ import annotations

import re
from pathlib import Path

from testbed.report.document import CodeBlock, FigureBlock, Report, Section, TableBlock, TextBlock

__all__ = ["FIGURE_DIR", "render_markdown", "write_markdown"]

#: Folder (beside report.md) holding the figures.
FIGURE_DIR = "figures"

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def _md(text: object) -> str:
    """Escape ``text`` for inline Markdown (one line)."""
    out = _ENTITY.sub("&amp;", _SPECIAL.sub(r"\\\1", " ".join(str(text).split())))
    # At the start, "- ", "+ ", "= ", "# " or "1. " would make a list, a heading or an underline.
    out = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", out)
    return re.sub(r"^([-+=#])(?=[\s=#-]|$)", r"\\\1", out)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _table(block: TableBlock) -> list[str]:
    out = [f"### {_md(block.title)}", ""]
    if block.frame.empty:
        return [*out, f"*{_md(block.empty_note)}*", ""]
    out.append("| " + " | ".join(_md(c) if str(c) else " " for c in block.frame.columns) + " |")
    out.append("|" + "|".join(" --- " for _ in block.frame.columns) + "|")
    for values in block.frame.itertuples(index=False):
        out.append("| " + " | ".join(_md(v) for v in values) + " |")
    out.append("")
    if block.caption:
        out += [f"*{_md(block.caption)}*", ""]
    return out


def _figure(block: FigureBlock) -> list[str]:
    if block.png is None:
        return [f"> **{_md(block.title)}**: {_md(block.note)}", ""]
    return [f"![{_md(block.title)}]({FIGURE_DIR}/{block.key}.png)", "", f"*{_md(block.title)}.* {_md(block.caption)}",
            ""]


def _section(section: Section) -> list[str]:
    out = [f'<a id="{section.key}"></a>', "", f"## {_md(section.title)}", ""]
    for block in section.blocks:
        if isinstance(block, TextBlock):
            out += [_md(block.text), ""]
        elif isinstance(block, CodeBlock):
            fence = _fence(block.text)
            out += [f"{fence}{block.language}", block.text.rstrip("\n"), fence, ""]
        elif isinstance(block, TableBlock):
            out += _table(block)
        elif isinstance(block, FigureBlock):
            out += _figure(block)
        else:
            raise TypeError(f"unknown report block {type(block).__name__}")
    return out


def render_markdown(report: Report) -> str:
    """The report as Markdown text (figures referenced as ``figures/<key>.png``)."""
    lines = [f"# {_md(report.title)}", ""]
    lines += [f"{_md(line)}  " for line in report.subtitle]
    lines += [f"Generated {_md(report.generated)}", "", "## Contents", ""]
    lines += [f"{i}. [{_md(s.title)}](#{s.key})" for i, s in enumerate(report.sections, 1)]
    lines.append("")
    for section in report.sections:
        lines += _section(section)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_markdown(report: Report, directory: str | Path) -> Path:
    """Write ``report.md`` and ``figures/<key>.png`` into ``directory``; return the path of report.md.

    PNG files of figures no longer in the report are removed from ``figures/``, so the folder matches the text.
    """
    directory = Path(directory)
    fig_dir = directory / FIGURE_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    wanted = {f"{b.key}.png": b.png for b in report.figures() if b.png is not None}
    for stale in fig_dir.glob("*.png"):
        if stale.name not in wanted:
            stale.unlink()
    for name, png in sorted(wanted.items()):
        (fig_dir / name).write_bytes(png)
    path = directory / "report.md"
    path.write_text(render_markdown(report), encoding="utf-8")
    return path
