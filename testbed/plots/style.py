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

import numpy as np
import pandas as pd

__all__ = ["MARKERS", "config_styles", "new_figure", "palette", "save_png", "suptitle", "themed", "to_png"]

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


#: Order in which tab10's colours are handed out: brown and grey last (a dark orange shade reads as brown).
_TAB10_ORDER = (0, 1, 2, 3, 4, 9, 6, 8, 5, 7)


def palette(labels: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """A colour per label, stable for a given set of labels: sorted, then matplotlib's qualitative tab10
    (neighbours easy to tell apart; brown and grey handed out last), tab20 up to twenty labels, seaborn's husl
    hues beyond."""
    import seaborn as sns

    names = sorted(dict.fromkeys(str(x) for x in labels))
    n = max(len(names), 1)
    if n <= 10:
        base = sns.color_palette("tab10", 10)
        colors = [base[i] for i in _TAB10_ORDER[:n]]
    elif n <= 20:
        colors = _tab20_pairs_last(n)
    else:
        colors = sns.color_palette("husl", n)
    return {name: tuple(colors[i]) for i, name in enumerate(names)}


def _tab20_pairs_last(n: int) -> list[tuple[float, float, float]]:
    """n <= 20 colours of tab20: its ten dark colours first (in tab10's order above), then their light
    partners, so the first ten labels get the ten distinct hues of tab10."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    order = [2 * i for i in _TAB10_ORDER] + [2 * i + 1 for i in _TAB10_ORDER]
    return [tuple(float(c) for c in cmap(i)[:3]) for i in order[:n]]


#: Markers telling apart the configurations of one optimizer (drawn sparsely along each line).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*")


def _shades(rgb: tuple[float, float, float], n: int) -> list[tuple[float, float, float]]:
    """n shades of one hue, from a little darker than the hue to clearly lighter (HLS lightness from
    l - 0.1 to l + 0.25 within [0.25, 0.72], l the hue's own); the hue itself when n = 1."""
    import colorsys

    if n == 1:
        return [tuple(rgb)]
    h, lightness, s = colorsys.rgb_to_hls(*rgb)
    levels = np.linspace(max(lightness - 0.1, 0.25), min(lightness + 0.25, 0.72), n)
    return [tuple(colorsys.hls_to_rgb(h, level, s)) for level in levels]


def config_styles(df: pd.DataFrame, label: str = "config", family: str = "optimizer") -> dict[str, dict[str, Any]]:
    """Colour and marker of each configuration: the configurations of one optimizer share a hue (:func:`palette`
    over the optimizer entries) and differ in lightness (dark to light, in label order) and marker; an optimizer
    with a single configuration gets its plain hue and no marker.

    ``df`` holds the ``label`` column and, when present, the ``family`` column grouping labels (without it,
    every label is its own family). Returns label -> {"color", "marker"} (marker None for no marker).
    """
    labels = df[label].astype(str)
    groups = df[family].astype(str) if family in df.columns else labels
    pairs = pd.DataFrame({"label": labels.to_numpy(), "family": groups.to_numpy()}).drop_duplicates("label")
    hues = palette(pairs["family"])
    styles: dict[str, dict[str, Any]] = {}
    for name, grp in pairs.sort_values(["family", "label"], kind="mergesort").groupby("family", sort=True):
        members = list(grp["label"])
        shades = _shades(hues[str(name)], len(members))
        for i, member in enumerate(members):
            marker = MARKERS[i % len(MARKERS)] if len(members) > 1 else None
            styles[member] = {"color": shades[i], "marker": marker}
    return styles


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
