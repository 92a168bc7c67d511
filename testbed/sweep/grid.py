"""Grid axes of a spec entry, and how they expand into configurations.

The rule, chosen so that no value can be read two ways even though some
hyperparameters are sequences themselves (``betas`` is a pair):

1. A value written directly in an entry is taken **literally**:
   ``betas = [0.9, 0.999]`` is one pair, never two candidates.
2. To sweep, write a ``grid`` table in the entry. **Every value in a grid
   table is a list of candidates**, each candidate taken literally:
   ``grid = { lr = [1e-3, 1e-2] }`` gives two configurations, and
   ``grid = { betas = [[0.9, 0.999], [0.5, 0.9]] }`` two pairs; a grid of one
   pair is ``betas = [[0.9, 0.999]]``. A grid value that is not a list, or an
   empty list, is an error; so is a key given both literally and in the grid,
   and a candidate given twice.
3. Grid axes combine as a Cartesian **product**, in the order the axes are
   written (the first axis varies slowest). ``zip = [["lr", "momentum"]]``
   pairs the listed axes element by element instead (they must have equal
   lengths); a zipped group counts as one axis of the product, placed where
   its first axis was written.

This is scikit-learn's ``ParameterGrid`` idea (a grid is a dict of lists),
with the literal/grid split made explicit so that a list-valued
hyperparameter never needs escaping.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from problems.errors import closest

__all__ = ["Entry", "Point", "canonical", "format_value", "parse_entry"]

#: Largest number of configurations one entry may expand to.
MAX_POINTS = 100_000


def canonical(value: Any) -> str:
    """A canonical text of a TOML value (for duplicate detection and hashing)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def format_value(value: Any) -> str:
    """A short human text of a value for configuration labels: ``0.01``, ``(0.9, 0.999)``, ``cosine(T_max=100)``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={format_value(v)}" for k, v in value.items() if k != "name")
        return f"{value['name']}({inner})" if isinstance(value.get("name"), str) else "{" + inner + "}"
    return str(value)


@dataclass(frozen=True)
class Point:
    """One configuration of an entry: all values, the swept ones, and where each value was written."""

    values: dict[str, Any]
    swept: dict[str, Any]
    origin: dict[str, str]

    def where(self, key: str, default: str) -> str:
        """The spec location of ``key`` (``optimizers[1].grid.lr[0]``), or ``default``."""
        return self.origin.get(key, default)


@dataclass
class Entry:
    """A parsed ``[[problems]]`` or ``[[optimizers]]`` entry (before the dry build)."""

    kind: str
    index: int
    name: str
    label: str
    literals: dict[str, Any]
    axes: dict[str, list[Any]] = field(default_factory=dict)
    zips: list[list[str]] = field(default_factory=list)
    #: Optimizer entries only: labels of the problem entries it runs on (None: all of them).
    only: list[str] | None = None

    @property
    def where(self) -> str:
        """``problems[0]`` / ``optimizers[2]``."""
        return f"{self.kind}[{self.index}]"

    def units(self) -> list[list[str]]:
        """Axes grouped into product units (a zip group or a lone axis), in order of first appearance."""
        zipped = {name: group for group in self.zips for name in group}
        units, seen = [], set()
        for name in self.axes:
            group = zipped.get(name, [name])
            if group[0] not in seen:
                seen.add(group[0])
                units.append(group)
        return units

    def size(self) -> int:
        """Number of configurations this entry expands to."""
        return math.prod(len(self.axes[u[0]]) for u in self.units())

    def points(self) -> Iterator[Point]:
        """The configurations, first axis slowest."""
        units = self.units()
        literal_origin = {k: f"{self.where}.{k}" for k in self.literals}
        for combo in itertools.product(*[range(len(self.axes[u[0]])) for u in units]):
            swept: dict[str, Any] = {}
            origin = dict(literal_origin)
            chosen = {name: i for unit, i in zip(units, combo, strict=True) for name in unit}
            for name in self.axes:  # the order the axes were written
                i = chosen[name]
                swept[name] = self.axes[name][i]
                origin[name] = f"{self.where}.grid.{name}[{i}]"
            yield Point(values={**self.literals, **swept}, swept=swept, origin=origin)


def parse_entry(
    raw: Any, kind: str, index: int, name_key: str, structural: frozenset[str], errors: list[str]
) -> Entry | None:
    """Check the structure of one entry and split literal values from grid axes.

    ``name_key`` is ``"family"`` or ``"name"``; ``structural`` are the keys that
    cannot be swept (name, label, grid, zip). Problems are appended to
    ``errors`` as ``"where: message"``; returns None if the entry is unusable.
    """
    where = f"{kind}[{index}]"
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a table like {{ {name_key} = \"...\" }}, got {type(raw).__name__}")
        return None
    n_before = len(errors)
    name = raw.get(name_key)
    if name is None:
        errors.append(f"{where}: missing '{name_key}'")
    elif not isinstance(name, str) or not name:
        errors.append(f"{where}.{name_key}: must be a non-empty string, got {name!r}")
    label = raw.get("label", name)
    if "label" in raw:
        label = raw["label"]
        if not isinstance(label, str) or not label.strip() or not label.isprintable() or len(label) > 80:
            errors.append(
                f"{where}.label: must be a non-empty printable string of at most 80 characters, got {label!r}"
            )
    literals = {k: v for k, v in raw.items() if k not in structural}
    axes = _parse_grid(raw.get("grid"), where, literals, structural, errors) if "grid" in raw else {}
    zips = _parse_zip(raw["zip"], where, axes, "grid" in raw, errors) if "zip" in raw else []
    if len(errors) > n_before:
        return None
    _check_repeats(where, axes, zips, errors)
    if len(errors) > n_before:
        return None
    entry = Entry(kind=kind, index=index, name=name, label=label, literals=literals, axes=axes, zips=zips)
    if entry.size() > MAX_POINTS:
        errors.append(f"{where}.grid: expands to {entry.size():,} configurations; at most {MAX_POINTS:,} allowed")
        return None
    return entry


def _parse_grid(
    grid: Any, where: str, literals: dict[str, Any], structural: frozenset[str], errors: list[str]
) -> dict[str, list[Any]]:
    if not isinstance(grid, dict):
        errors.append(f"{where}.grid: must be a table of lists, e.g. grid = {{ lr = [0.1, 0.01] }}, got {grid!r}")
        return {}
    if not grid:
        errors.append(f"{where}.grid: is empty; give at least one axis, e.g. grid = {{ lr = [0.1, 0.01] }}")
    axes: dict[str, list[Any]] = {}
    for key, values in grid.items():
        at = f"{where}.grid.{key}"
        if key in structural:
            errors.append(f"{at}: '{key}' cannot be swept")
            continue
        if key in literals:
            errors.append(
                f"{at}: '{key}' is given both literally ({where}.{key}) and in the grid; keep one"
            )
            continue
        if not isinstance(values, list):
            errors.append(
                f"{at}: every grid value is a list of candidates; write {key} = [{format_value(values)}]"
                f" for a single candidate, got {values!r}"
            )
            continue
        if not values:
            errors.append(f"{at}: empty list; give at least one candidate")
            continue
        axes[key] = values
    return axes


def _parse_zip(zips: Any, where: str, axes: dict[str, list[Any]], has_grid: bool, errors: list[str]) -> list[list[str]]:
    at = f"{where}.zip"
    if not has_grid:
        errors.append(f"{at}: zip pairs grid axes, but this entry has no grid table")
        return []
    shape_ok = isinstance(zips, list) and all(
        isinstance(g, list) and all(isinstance(n, str) for n in g) for g in zips
    )
    if not shape_ok or not zips:
        errors.append(
            f"{at}: must be a list of lists of grid axis names, e.g. zip = [[\"lr\", \"momentum\"]], got {zips!r}"
        )
        return []
    used: dict[str, int] = {}
    out = []
    for gi, group in enumerate(zips):
        gat = f"{at}[{gi}]"
        ok = True
        if len(group) < 2:
            errors.append(f"{gat}: a zip group pairs at least two grid axes, got {group!r}")
            ok = False
        for name in group:
            if name not in axes:
                hint = closest(name, axes)
                hint_text = f"; did you mean {hint!r}?" if hint else ""
                errors.append(f"{gat}: {name!r} is not a grid axis of this entry{hint_text} Axes: {', '.join(axes)}")
                ok = False
            elif name in used:
                errors.append(f"{gat}: axis {name!r} is already zipped in {at}[{used[name]}]")
                ok = False
            else:
                used[name] = gi
        if ok:
            lengths = {name: len(axes[name]) for name in group}
            if len(set(lengths.values())) > 1:
                shown = ", ".join(f"{n!r} has {k}" for n, k in lengths.items())
                errors.append(f"{gat}: zipped axes must have the same number of candidates; {shown}")
                ok = False
        if ok:
            out.append(list(group))
    return out


def _check_repeats(where: str, axes: dict[str, list[Any]], zips: list[list[str]], errors: list[str]) -> None:
    """A candidate (or a zipped tuple of candidates) given twice would make two identical runs."""
    zipped = {name for group in zips for name in group}
    for name, values in axes.items():
        if name not in zipped:
            _repeats(f"{where}.grid.{name}", values, errors)
    for gi, group in enumerate(zips):
        tuples = [list(t) for t in zip(*[axes[n] for n in group], strict=True)]
        _repeats(f"{where}.zip[{gi}] ({', '.join(group)})", tuples, errors)


def _repeats(at: str, values: list[Any], errors: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        c = canonical(v)
        if c in seen:
            errors.append(f"{at}[{i}]: candidate {format_value(v)} repeats candidate [{seen[c]}]")
        seen.setdefault(c, i)
