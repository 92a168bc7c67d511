"""Self-contained reports of a results directory: ``index.html`` and ``report.md`` with its figures.

>>> from testbed.report import write_report
>>> write_report("reports/my-experiment")          # -> reports/my-experiment/index.html

The HTML page embeds every figure (base64 PNG) and its CSS, runs no script and
loads nothing from the network, so it opens from disk and can be mailed as one
file. ``report.md`` holds the same content with the figures as PNG files in
``figures/`` beside it. Both are written into the results directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from problems.errors import UserInputError
from testbed.report.build import build_report
from testbed.report.html import render_html, write_html
from testbed.report.markdown import render_markdown, write_markdown

__all__ = ["FORMATS", "build_report", "render_html", "render_markdown", "write_report"]

#: Report formats :func:`write_report` can write.
FORMATS = ("html", "md")


def _check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    try:
        chosen = tuple(dict.fromkeys(formats))
    except TypeError:
        raise UserInputError(f"formats: must be a sequence of {', '.join(FORMATS)}, got {formats!r}") from None
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise UserInputError(
            f"formats: must be a non-empty selection of {', '.join(repr(f) for f in FORMATS)}, got {list(chosen)!r}"
        )
    return chosen


def write_report(
    results_dir: str | Path,
    formats: Iterable[str] = FORMATS,
    target: float | None = None,
    tol: float | None = None,
) -> Path:
    """Write the report of ``results_dir`` into that directory and return the path of ``index.html``.

    ``formats`` selects ``"html"`` (index.html) and/or ``"md"`` (report.md plus
    ``figures/*.png``); when only ``"md"`` is asked for, the path of report.md
    is returned. ``target`` is the relative target: the target gap is
    target * (f(x0) - f_ref), used by the best-by-cost table, the tie-break of
    the best-by-final-gap table, the profiles and the margin of f_L where f* is
    unknown; by default the manifest's ``"target"`` if it has one, else 1e-3
    (:func:`testbed.report.build.resolve_target`). ``tol`` is its older name,
    still accepted. Raises ``UserInputError`` when the directory is not a
    results directory or the target is not in (0, 1).
    """
    chosen = _check_formats(formats)
    root = Path(results_dir)
    report = build_report(root, target=target, tol=tol)
    written = {}
    if "md" in chosen:
        written["md"] = write_markdown(report, root)
    if "html" in chosen:
        written["html"] = write_html(report, root / "index.html")
    return written.get("html", written.get("md"))
