"""The shared look of every figure: a seaborn theme applied locally, the Agg canvas, colours, PNG export.

Nothing here touches matplotlib's global state: figures are built as
:class:`matplotlib.figure.Figure` objects on an explicit Agg canvas (no pyplot,
no GUI backend, safe in threads and on headless machines), inside
:func:`themed`, a ``matplotlib.rc_context`` holding seaborn's "whitegrid" style
and "notebook" context, so a user's own rcParams are left as they were.
matplotlib and seaborn are imported inside the functions (start-up stays light).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["new_figure", "palette", "save_png", "suptitle", "themed", "to_png"]

#: Resolution of exported PNGs (dots per inch).
PNG_DPI = 110


def _theme_rc() -> dict[str, Any]:
    import seaborn as sns

    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("notebook", font_scale=0.85))
    rc.update(
        {
            "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "sans-serif"],
            "axes.titlesize": 10.5,
            "legend.fontsize": 9,
            "legend.title_fontsize": 9.5,
            "legend.frameon": False,
            "svg.hashsalt": "optim-testbed",
        }
    )
    return rc


@contextmanager
def themed() -> Iterator[None]:
    """Context in which figures get the testbed's seaborn theme; build the whole figure inside it."""
    import matplotlib

    with matplotlib.rc_context(_theme_rc()):
        yield


def new_figure(width: float, height: float) -> Any:
    """A constrained-layout :class:`matplotlib.figure.Figure` of ``width`` x ``height`` inches on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def suptitle(fig: Any, text: str, fontsize: float = 11.0) -> Any:
    """Title ``fig`` over the panel area, i.e. left of the figure legends (call it after adding them), each line
    wrapped to that width so the title never runs into a legend."""
    import textwrap

    width = float(fig.get_figwidth())
    renderer = fig.canvas.get_renderer()
    legend = max((lg.get_window_extent(renderer).width / fig.dpi for lg in fig.legends), default=0.0)
    area = max(width - legend - 0.2, 0.5 * width)
    chars = max(30, int(area * 72.0 / (0.58 * fontsize)))
    lines = [wrapped for line in text.split("\n") for wrapped in (textwrap.wrap(line, chars) or [""])]
    return fig.suptitle("\n".join(lines), x=area / (2.0 * width), fontsize=fontsize)


def palette(labels: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """A colour per label, stable for a given set of labels (sorted, then matplotlib's tab10 palette, whose
    neighbours are easy to tell apart; seaborn's husl beyond ten labels so colours stay distinct)."""
    import seaborn as sns

    names = sorted(dict.fromkeys(str(x) for x in labels))
    colors = sns.color_palette("tab10" if len(names) <= 10 else "husl", max(len(names), 1))
    return {name: tuple(colors[i]) for i, name in enumerate(names)}


def to_png(fig: Any, dpi: int = PNG_DPI) -> bytes:
    """Render ``fig`` to PNG bytes (white background, no timestamp in the metadata, so reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def save_png(fig: Any, path: str | Path, dpi: int = PNG_DPI) -> Path:
    """Write ``fig`` as a PNG file at ``path`` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_png(fig, dpi=dpi))
    return path
