"""A name -> factory registry with validated keyword parameters.

Used for problem families here and, by ``testbed``, for optimizers, schedules
and bounds. Registries are the project's one deliberate piece of global mutable
state: registering is how users and third-party packages extend the catalogue.

Third-party packages add entries through an entry-point group (for problems,
``optim_testbed.problems``); each entry point names a callable which, when
loaded, registers its entries (typically by importing a module that uses the
decorator). Entry points are loaded once, on first lookup. A broken entry point
(its module fails to import, or its hook raises) does not break the registry: it
is skipped with one ``RuntimeWarning`` naming it and the error, and the other
entry points are still loaded.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from problems.errors import UnknownNameError, UserInputError

__all__ = ["Entry", "Registry"]


@dataclass(frozen=True)
class Entry:
    """One registered name: its factory and what the catalogue says about it."""

    name: str
    factory: Callable[..., Any]
    summary: str
    info: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """Keyword parameters of the factory with their defaults (``inspect.Parameter.empty`` if required)."""
        sig = inspect.signature(self.factory)
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }

    def accepts_any_keyword(self) -> bool:
        """True if the factory takes ``**kwargs`` (then unknown keywords are its business)."""
        sig = inspect.signature(self.factory)
        return any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def _own_summary(factory: Callable[..., Any]) -> str:
    """First line of ``factory``'s own docstring (a class's docstring is not inherited), or "(no description)"."""
    if isinstance(factory, functools.partial):
        return _own_summary(factory.func)
    doc = vars(factory).get("__doc__") if isinstance(factory, type) else getattr(factory, "__doc__", None)
    doc = inspect.cleandoc(doc) if isinstance(doc, str) else ""
    return doc.splitlines()[0] if doc else "(no description)"


class Registry:
    """Registered factories of one kind (``"problem"``, ``"optimizer"``, ...)."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._entry_points_loaded = entry_point_group is None

    def register(
        self, name: str, *, summary: str = "", replace: bool = False, **info: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``factory`` under ``name``.

        ``summary`` is the one-line catalogue text (defaults to the first line of
        the factory's *own* docstring -- never one inherited from a base class --
        and to ``"(no description)"`` without one); ``info`` holds catalogue facts
        (convexity, source, ...). Registering a taken name raises unless ``replace=True``.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise UserInputError(f"{self.kind} name: must be an identifier-like string, got {name!r}")

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries and not replace:
                raise UserInputError(f"{self.kind} {name!r} is already registered (pass replace=True to override)")
            text = summary or _own_summary(factory)
            self._entries[name] = Entry(name=name, factory=factory, summary=text, info=dict(info))
            return factory

        return decorator

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            try:
                hook = ep.load()
                if callable(hook) and not isinstance(hook, type):
                    hook()
            except Exception as exc:  # a third-party bug must not take the registry down
                warnings.warn(
                    f"{self.kind} entry point {ep.name!r} ({ep.value}) of group {self.entry_point_group!r} failed "
                    f"to load and was skipped: {type(exc).__name__}: {exc}",
                    RuntimeWarning,
                    stacklevel=3,
                )

    def names(self) -> list[str]:
        """Sorted registered names."""
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        self._load_entry_points()
        return iter(self._entries[n] for n in sorted(self._entries))

    def get(self, name: str) -> Entry:
        """The entry for ``name``; an :class:`UnknownNameError` with the closest match otherwise."""
        self._load_entry_points()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, self._entries) from None

    def check_params(self, name: str, params: dict[str, Any]) -> None:
        """Raise if ``params`` has a keyword the factory of ``name`` does not take, or lacks a required one."""
        entry = self.get(name)
        accepted = entry.parameters()
        if not entry.accepts_any_keyword():
            for key in params:
                if key not in accepted:
                    allowed = ", ".join(accepted) or "none"
                    raise UserInputError(f"{name}: unknown parameter {key!r}; allowed: {allowed}")
        for key, default in accepted.items():
            if default is inspect.Parameter.empty and key not in params:
                raise UserInputError(f"{name}: missing required parameter {key!r}")

    def make(self, name: str, **params: Any) -> Any:
        """Build the entry ``name`` with ``params`` after checking the keywords."""
        self.check_params(name, params)
        return self.get(name).factory(**params)
