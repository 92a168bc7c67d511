"""Figures of benchmark results: each function takes result tables and returns a matplotlib Figure.

matplotlib and seaborn are imported only when a figure is drawn; figures live
on an Agg canvas (no GUI, no global pyplot state) and carry the shared theme
of :mod:`testbed.plots.style`. Save one with :func:`save_png` or ``fig.savefig``.

>>> from testbed.storage import load_results, load_curves
>>> fig = plots.suboptimality(load_results(d), x="grad_evals", curves=load_curves(d))

A figure with nothing to draw raises :class:`NoDataError` (a UserInputError).
"""

from __future__ import annotations

from testbed.plots.certificates import certificate_heatmap
from testbed.plots.data import NoDataError
from testbed.plots.gradients import descent_slack, grad_norm
from testbed.plots.profiles import data_profile, performance_profile
from testbed.plots.sensitivity import lr_sensitivity
from testbed.plots.style import save_png, to_png
from testbed.plots.suboptimality import suboptimality
from testbed.plots.training import training_curves

__all__ = [
    "NoDataError",
    "certificate_heatmap",
    "data_profile",
    "descent_slack",
    "grad_norm",
    "lr_sensitivity",
    "performance_profile",
    "save_png",
    "suboptimality",
    "to_png",
    "training_curves",
]
