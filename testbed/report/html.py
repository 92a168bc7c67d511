"""A self-contained ``index.html``: inline CSS, figures as base64 PNG data URIs, no script, no network.

Every piece of text (spec, labels, messages, table cells) goes through
:func:`html.escape`, so a result can never inject markup into the page. The
page opens from disk in any browser; internal links are in-page anchors.
"""

from __future__ import annotations

import base64
import html
import struct
from pathlib import Path

from testbed.report.document import CodeBlock, FigureBlock, Report, Section, TableBlock, TextBlock

__all__ = ["render_html", "write_html"]

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1f2328;
       max-width: 1280px; margin: 0 auto; padding: 1.5rem 2rem 4rem; line-height: 1.45; }
header h1 { margin-bottom: 0.2rem; font-size: 1.7rem; }
header p { margin: 0.15rem 0; color: #57606a; }
nav ol { columns: 2; padding-left: 1.4rem; }
nav a, a { color: #0a58ca; text-decoration: none; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.25rem; margin-top: 2.4rem; }
h3 { margin: 1.4rem 0 0.4rem; font-size: 1.05rem; }
.table-wrap { overflow-x: auto; margin: 0.4rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.86rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
tbody tr:nth-child(even) { background: #fafbfc; }
tr.bad td { background: #fde7e4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
figure { margin: 1.2rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e7eb; }
figcaption { font-size: 0.9rem; color: #3d444d; margin-top: 0.35rem; max-width: 70rem; }
.note { font-size: 0.88rem; color: #57606a; }
.omitted { border-left: 4px solid #bf8700; background: #fff8c5; padding: 0.5rem 0.8rem; margin: 1rem 0; }
footer { margin-top: 3rem; font-size: 0.8rem; color: #57606a; }
"""

_BAD_CELLS = {"violated", "error", "diverged"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _is_number(cell: str) -> bool:
    text = cell.replace("−", "-").replace("∞", "inf").replace("—", "")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _table(block: TableBlock) -> str:
    parts = [f"<h3>{_e(block.title)}</h3>"]
    if block.frame.empty:
        parts.append(f'<p class="note">{_e(block.empty_note)}</p>')
        return "\n".join(parts)
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in block.frame.columns)
    rows = []
    for values in block.frame.itertuples(index=False):
        cells = [str(v) for v in values]
        cls = ' class="bad"' if any(c in _BAD_CELLS for c in cells) else ""
        tds = "".join(f'<td class="num">{_e(c)}</td>' if _is_number(c) else f"<td>{_e(c)}</td>" for c in cells)
        rows.append(f"<tr{cls}>{tds}</tr>")
    parts.append(f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>')
    parts.extend(rows)
    parts.append("</tbody></table></div>")
    if block.caption:
        parts.append(f'<p class="note">{_e(block.caption)}</p>')
    return "\n".join(parts)


def _figure(block: FigureBlock) -> str:
    if block.png is None:
        title = f"<strong>{_e(block.title)}</strong>"
        return f'<div class="omitted" id="fig-{_e(block.key)}">{title}: {_e(block.note)}</div>'
    width, height = _png_size(block.png)
    data = base64.b64encode(block.png).decode("ascii")
    return (
        f'<figure id="fig-{_e(block.key)}"><img src="data:image/png;base64,{data}" alt="{_e(block.title)}" '
        f'width="{width}" height="{height}">'
        f"<figcaption><strong>{_e(block.title)}.</strong> {_e(block.caption)}</figcaption></figure>"
    )


def _section(section: Section) -> str:
    out = [f'<section id="{_e(section.key)}">', f"<h2>{_e(section.title)}</h2>"]
    for block in section.blocks:
        if isinstance(block, TextBlock):
            out.append(f"<p>{_e(block.text)}</p>")
        elif isinstance(block, CodeBlock):
            lang = f' class="language-{_e(block.language)}"' if block.language else ""
            out.append(f"<pre><code{lang}>{_e(block.text)}</code></pre>")
        elif isinstance(block, TableBlock):
            out.append(_table(block))
        elif isinstance(block, FigureBlock):
            out.append(_figure(block))
        else:
            raise TypeError(f"unknown report block {type(block).__name__}")
    out.append("</section>")
    return "\n".join(out)


def render_html(report: Report) -> str:
    """The report as one HTML document (a string)."""
    nav = "".join(f'<li><a href="#{_e(s.key)}">{_e(s.title)}</a></li>' for s in report.sections)
    subtitle = "".join(f"<p>{_e(line)}</p>" for line in report.subtitle)
    body = "\n".join(_section(s) for s in report.sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(report.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(report.title)}</h1>{subtitle}<p>Generated {_e(report.generated)}</p></header>\n"
        f'<nav aria-label="contents"><ol>{nav}</ol></nav>\n<main>\n{body}\n</main>\n'
        "<footer>Written by optim-testbed (testbed.report). Self-contained: opens from disk, "
        "loads nothing from the network.</footer>\n</body>\n</html>\n"
    )


def write_html(report: Report, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8) and return it."""
    path = Path(path)
    path.write_text(render_html(report), encoding="utf-8")
    return path
