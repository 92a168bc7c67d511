"""Exceptions raised for input a user can get wrong.

Every error a user can cause (an unknown name, a bad parameter, an array of the
wrong shape) is a :class:`UserInputError`, a subclass of :class:`ValueError`, so
``except ValueError`` keeps working while the command line can tell user
mistakes (one line on stderr, exit code 2) from bugs (a traceback).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["SolverError", "UnknownNameError", "UserInputError", "closest"]


class UserInputError(ValueError):
    """A value the user supplied is not allowed; the message names it."""


class UnknownNameError(UserInputError, KeyError):
    """A name (problem family, optimizer, schedule, bound, ...) is not registered.

    The message lists what is available and the closest match, if any.
    """

    def __init__(self, kind: str, name: object, available: Iterable[str]) -> None:
        names = sorted(available)
        self.kind = kind
        self.name = name
        self.available = names
        self.suggestion = closest(str(name), names)
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else "."
        msg = f"unknown {kind} {name!r}{hint} Available: {', '.join(names) or '(none)'}"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class SolverError(RuntimeError):
    """A numerical solver (CVXPY, an SDP) did not reach an optimal status.

    Never swallowed: a reference optimum or a worst-case bound that was not
    certified by the solver is not returned.
    """

    def __init__(self, what: str, solver: str, status: str, detail: str = "") -> None:
        self.solver = solver
        self.status = status
        extra = f": {detail}" if detail else ""
        super().__init__(f"{what}: solver {solver} ended with status {status!r}{extra}")


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name`` (difflib ratio >= 0.5), or None."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return match[0] if match else None
