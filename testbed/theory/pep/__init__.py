"""Performance estimation: tight worst cases of fixed-step first-order methods as small SDPs.

>>> from testbed.theory import pep
>>> pep.worst_case("gd", 10)          # L R^2 / (4N + 2) = 1/42 for the step 1/L
>>> pep.compare_table("gd", range(1, 21))

cvxpy is imported only when an SDP is solved.
"""

from testbed.theory.pep.compare import compare_table
from testbed.theory.pep.formulation import PointSet, interpolation_matrices
from testbed.theory.pep.methods import METHODS, fista_momenta, points_for
from testbed.theory.pep.worst_case import CLASSES, INITIALS, METRICS, benchmark, worst_case

__all__ = [
    "CLASSES",
    "INITIALS",
    "METHODS",
    "METRICS",
    "PointSet",
    "benchmark",
    "compare_table",
    "fista_momenta",
    "interpolation_matrices",
    "points_for",
    "worst_case",
]
