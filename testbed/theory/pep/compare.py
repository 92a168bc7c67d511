"""``compare_table``: PEP worst cases next to the closed forms and the textbook bounds (for reports and the CLI).

Columns: ``t`` (iterations), ``pep`` (:func:`~testbed.theory.pep.worst_case` of f(x_t) - f* with
||x_0 - x*|| <= R on L-smooth convex functions), ``tight`` (the known exact value where there is one, NaN
otherwise) and ``textbook`` (the classical upper bound, NaN where the catalogue has none):

* gd with constant step h/L, h in (0, 2): tight (L R^2 / 2) max(1/(2th + 1), (1 - h)^{2t}) (Drori & Teboulle
  2014; Rotaru, Glineur & Patrinos 2024); textbook 2L R^2/(t + 4) for h = 1 (Nesterov 2004, Cor. 2.1.2),
  NaN for other steps.
* nesterov (FISTA t_k, step 1/L): no closed form; textbook 2L R^2/(t + 1)^2 (Beck & Teboulle 2009, Thm 4.4).
* heavy_ball: neither.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from testbed.theory.gd_bounds import gd_tight_value
from testbed.theory.pep.worst_case import worst_case

__all__ = ["compare_table"]


def _tight(method: str, t: int, step: float, L: float, R: float, momentum: float | None) -> float:
    if method == "gd" and 0.0 < step < 2.0:
        return float(gd_tight_value(t, step, L, R * R))
    return float("nan")


def _textbook(method: str, t: int, step: float, L: float, R: float, momentum: float | None) -> float:
    if step != 1.0:
        return float("nan")
    if method == "gd":
        return 2.0 * L * R * R / (t + 4.0)
    if method == "nesterov" and momentum is None:
        return 2.0 * L * R * R / (t + 1.0) ** 2
    return float("nan")


def compare_table(
    method: str = "gd",
    iters: Iterable[int] = range(1, 21),
    step: float = 1.0,
    L: float = 1.0,
    R: float = 1.0,
    momentum: float | None = None,
) -> pd.DataFrame:
    """One row per t in ``iters``: t, pep, tight, textbook (see the module docstring)."""
    rows = []
    for t in iters:
        pep = worst_case(method, t, L=L, mu=0.0, step=step, metric="f_gap", initial="dist", R=R, momentum=momentum)
        rows.append(
            {
                "t": int(t),
                "pep": pep,
                "tight": _tight(method, int(t), float(step), L, R, momentum),
                "textbook": _textbook(method, int(t), float(step), L, R, momentum),
            }
        )
    df = pd.DataFrame(rows, columns=["t", "pep", "tight", "textbook"])
    df["t"] = df["t"].astype(np.int64)
    return df
