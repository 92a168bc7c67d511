"""Columns of the two tables the theory contract defines, shared by :mod:`testbed.theory.certify` (which builds
them) and :mod:`testbed.storage` (which writes and loads them).

Kept in a module of its own, with no imports, so that storage reads them without importing the theory package
(pandas and the bound catalogue) and certify without importing storage.
"""

from __future__ import annotations

__all__ = ["CERTIFICATE_COLUMNS", "CURVE_COLUMNS"]

#: Columns of a certificate table (one row per bound; storage puts ``run_id`` first).
CERTIFICATE_COLUMNS = (
    "bound",
    "applicable",
    "reason",
    "held",
    "n_checked",
    "worst_slack",
    "worst_rel_slack",
    "worst_iter",
    "first_violation",
    "roundoff",
    "statement",
)

#: Columns of a bound-curve table, ``df.attrs["curves"]`` of a certificate (storage puts ``run_id`` first).
CURVE_COLUMNS = ("bound", "iter", "bound_value", "observed")
