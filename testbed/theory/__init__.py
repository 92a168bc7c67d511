"""Convergence theory for runs: the bound catalogue, certificates, expectation checks and PEP worst cases.

>>> import testbed.theory as theory
>>> theory.bounds()                         # the catalogue (name, statement, source, assumptions, applies_to)
>>> cert = theory.certify(run, problem)     # one row per bound: applicable/reason, held, slack, violation
>>> theory.pep.worst_case("gd", 10)         # tight worst case 1/42 by a Gram-matrix SDP

See :mod:`testbed.theory.catalogue` for the round-off rule and :mod:`testbed.theory.certify` for the columns.
"""

from testbed.theory import pep
from testbed.theory.catalogue import RTOL, Bound, Evaluation, all_bounds, bounds, get_bound, register_bound
from testbed.theory.certify import CERTIFICATE_COLUMNS, CURVE_COLUMNS, certify
from testbed.theory.expectation import certify_expectation, sgd_bound
from testbed.theory.facts import RunFacts

__all__ = [
    "CERTIFICATE_COLUMNS",
    "CURVE_COLUMNS",
    "RTOL",
    "Bound",
    "Evaluation",
    "RunFacts",
    "all_bounds",
    "bounds",
    "certify",
    "certify_expectation",
    "get_bound",
    "pep",
    "register_bound",
    "sgd_bound",
]
