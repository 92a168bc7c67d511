"""Experiment specs: TOML files describing a sweep, parsed and validated before anything runs.

A spec is data only (read with :mod:`tomllib`; nothing in it is evaluated),
and it cannot name a path: the output directory comes from the command line,
and the experiment ``name`` must be a plain file name. Validation collects
*every* error, each as ``"<where>: <what is wrong and what is allowed>"``
with ``<where>`` a path into the file (``optimizers[2].lr``,
``problems[0].grid.kappa[1]``; entries count from 0 in the order written),
then raises one :class:`SpecError`. The grammar is documented in
``experiments/README.md``; the grid rule in :mod:`testbed.sweep.grid`.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from problems._validate import check_float, check_int
from problems.errors import UserInputError, closest
from testbed.sweep.grid import Entry, parse_entry

__all__ = ["Spec", "SpecError", "load_spec", "parse_spec"]

#: Keys allowed at the top level of a spec.
TOP_KEYS = (
    "name",
    "description",
    "problems",
    "optimizers",
    "seeds",
    "budget",
    "record_every",
    "batch_size",
    "bounds",
    "monitors",
)
BUDGET_KEYS = ("iters", "max_grad_evals", "max_time", "tol")
PROBLEM_STRUCTURAL = frozenset({"family", "label", "grid", "zip"})
OPTIMIZER_STRUCTURAL = frozenset({"name", "label", "grid", "zip", "problems"})
#: Experiment names are plain file names: they become the default output directory ``reports/<name>``.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_SEEDS = 10_000
#: Seeds are stored as int64 columns.
MAX_SEED = 2**63 - 1
MAX_RUNS = 1_000_000


class SpecError(UserInputError):
    """A spec that cannot run; ``errors`` lists every problem found, each ``"where: message"``."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = list(dict.fromkeys(errors))  # unique, in order
        if len(self.errors) == 1:
            text = f"{source}: {self.errors[0]}"
        else:
            text = f"{source}: {len(self.errors)} errors:\n  " + "\n  ".join(self.errors)
        super().__init__(text)


@dataclass
class Spec:
    """A parsed, validated spec (see ``experiments/README.md`` for every field)."""

    name: str
    source: str
    text: str
    problems: list[Entry]
    optimizers: list[Entry]
    seeds: list[int]
    budget: dict[str, Any]
    record_every: int = 1
    batch_size: int | None = None
    bounds: str | list[str] = "all"
    monitors: list[str] = field(default_factory=list)
    description: str = ""

    def pairs(self) -> list[tuple[Entry, Entry]]:
        """(problem entry, optimizer entry) pairs that run, in order (an optimizer's ``problems`` restricts it)."""
        return [(p, o) for p in self.problems for o in self.optimizers if o.only is None or p.label in o.only]

    @property
    def spec_hash(self) -> str:
        """sha256 of the spec's text."""
        return hashlib.sha256(self.text.encode()).hexdigest()


def load_spec(path: str | Path, *, dry_run: bool = True) -> Spec:
    """Read, parse and validate the spec at ``path`` (with the dry build of every problem and optimizer)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"spec file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return parse_spec(text, source=str(path), dry_run=dry_run)


def parse_spec(text: str | dict[str, Any], source: str = "<spec>", *, dry_run: bool = True) -> Spec:
    """Parse and validate spec ``text`` (TOML, or the dict ``tomllib`` would make of it); raise
    :class:`SpecError` listing every error found.

    ``dry_run=True`` also builds every problem instance and optimizer
    configuration (cheap: no reference optimum is computed) and checks each
    pairing (``c/L`` step sizes need a known L, minibatches need a finite sum).
    A dict is written as TOML first (:mod:`testbed.sweep.toml_writer`), so it
    gets the same ``spec.toml``, hash and checks as a file.
    """
    if isinstance(text, dict):
        from testbed.sweep.toml_writer import dumps

        text = dumps(text)
    if not isinstance(text, str):
        raise UserInputError(f"spec: must be TOML text or a dict, got {type(text).__name__}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, [f"TOML syntax: {exc}"]) from None
    errors: list[str] = []
    for key in raw:
        if key not in TOP_KEYS:
            hint = closest(key, TOP_KEYS)
            hint_text = f"; did you mean {hint!r}?" if hint else ""
            errors.append(f"{key}: unknown key{hint_text} Allowed: {', '.join(TOP_KEYS)}")
    name = _name(raw, errors)
    description = raw.get("description", "")
    if not isinstance(description, str):
        errors.append(f"description: must be a string, got {description!r}")
        description = ""
    problems_ = _entries(raw, "problems", "family", PROBLEM_STRUCTURAL, errors)
    optimizers_ = _entries(raw, "optimizers", "name", OPTIMIZER_STRUCTURAL, errors)
    seeds = _seeds(raw.get("seeds", 1), errors)
    budget = _budget(raw.get("budget"), errors)
    record_every = _int_field("record_every", raw.get("record_every", 1), 1, errors)
    batch_size = _batch_size("batch_size", raw.get("batch_size", "full"), errors)
    bounds = _bounds(raw.get("bounds", "all"), errors)
    monitors = _monitors(raw.get("monitors", []), errors)
    _unique_labels(problems_, "problems", errors)
    _unique_labels(optimizers_, "optimizers", errors)
    _restrictions(raw, problems_, optimizers_, errors)
    spec = Spec(
        name=name or "",
        source=source,
        text=text,
        problems=[e for e in problems_ if e is not None],
        optimizers=[e for e in optimizers_ if e is not None],
        seeds=seeds,
        budget=budget,
        record_every=record_every or 1,
        batch_size=batch_size,
        bounds=bounds,
        monitors=monitors,
        description=description,
    )
    n_runs = sum(p.size() * o.size() for p, o in spec.pairs()) * max(len(seeds), 1)
    if n_runs > MAX_RUNS:
        errors.append(f"the spec expands to {n_runs:,} runs; at most {MAX_RUNS:,} allowed")
    if dry_run and n_runs <= MAX_RUNS:
        from testbed.sweep.checks import dry_build

        errors.extend(dry_build(spec))
    if errors:
        raise SpecError(source, errors)
    return spec


# ----------------------------------------------------------------- fields
def _name(raw: dict, errors: list[str]) -> str | None:
    if "name" not in raw:
        errors.append('name: missing; give the experiment a name, e.g. name = "quickstart"')
        return None
    name = raw["name"]
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        errors.append(
            "name: must be a plain file name (letters, digits, '_', '-', '.'; starting with a letter or digit;"
            f" at most 64 characters), got {name!r}"
        )
        return None
    return name


def _entries(raw: dict, kind: str, name_key: str, structural: frozenset[str], errors: list[str]) -> list:
    items = raw.get(kind)
    example = f'[[{kind}]]\n{name_key} = "..."'
    if items is None:
        errors.append(f"{kind}: missing; add at least one entry ({example!r})")
        return []
    if not isinstance(items, list) or not items:
        errors.append(f"{kind}: must be a non-empty array of tables ({example!r}), got {items!r}")
        return []
    return [parse_entry(item, kind, i, name_key, structural, errors) for i, item in enumerate(items)]


def _unique_labels(entries: list[Entry | None], kind: str, errors: list[str]) -> None:
    first: dict[str, int] = {}
    for e in entries:
        if e is None:
            continue
        if e.label in first:
            errors.append(
                f"{e.where}.label: {e.label!r} is already used by {kind}[{first[e.label]}];"
                " give each entry a distinct label"
            )
        first.setdefault(e.label, e.index)


def _restrictions(raw: dict, problems_: list, optimizers_: list, errors: list[str]) -> None:
    """An optimizer entry's ``problems = ["label", ...]``: run it only on those problem entries."""
    labels = [e.label for e in problems_ if e is not None]
    items = raw.get("optimizers") if isinstance(raw.get("optimizers"), list) else []
    for e in optimizers_:
        if e is None or "problems" not in items[e.index]:
            continue
        only = items[e.index]["problems"]
        where = f"{e.where}.problems"
        if not isinstance(only, list) or not only or not all(isinstance(x, str) for x in only):
            errors.append(f'{where}: must be a non-empty list of problem labels like ["logistic"], got {only!r}')
            continue
        for i, label in enumerate(only):
            if label not in labels:
                hint = closest(label, labels)
                hint_text = f"; did you mean {hint!r}?" if hint else ""
                errors.append(
                    f"{where}[{i}]: no problem entry is labelled {label!r}{hint_text} Labels: {', '.join(labels)}"
                )
        if len(set(only)) < len(only):
            errors.append(f"{where}: a label is listed twice")
        e.only = list(only)


def _int_field(where: str, value: Any, low: int, errors: list[str], high: int | None = None) -> int | None:
    try:
        if isinstance(value, float):  # TOML distinguishes 3 and 3.0; a count must be written as an integer
            raise UserInputError(f"{where}: must be an integer, got {value!r}")
        return check_int(where, value, low=low, high=high)
    except UserInputError as exc:
        errors.append(str(exc))
        return None


def _seeds(value: Any, errors: list[str]) -> list[int]:
    if isinstance(value, list):
        if not value:
            errors.append("seeds: empty list; give seed values like [0, 1, 2] or a count like 3")
            return []
        seeds = []
        for i, s in enumerate(value):
            v = _int_field(f"seeds[{i}]", s, 0, errors, high=MAX_SEED)
            if v is not None:
                if v in seeds:
                    errors.append(f"seeds[{i}]: seed {v} is listed twice")
                else:
                    seeds.append(v)
        return seeds
    if isinstance(value, int) and not isinstance(value, bool):
        n = _int_field("seeds", value, 1, errors, high=MAX_SEEDS)
        return list(range(n)) if n is not None else []
    errors.append(f"seeds: must be a count (seeds = 3 means 0, 1, 2) or a list of seeds like [0, 7], got {value!r}")
    return []


def _budget(value: Any, errors: list[str]) -> dict[str, Any]:
    if value is None:
        errors.append("budget: missing; give at least one of iters, max_grad_evals, max_time, e.g. [budget] iters = 50")
        return {}
    if not isinstance(value, dict):
        errors.append(f"budget: must be a table like {{ iters = 500 }}, got {value!r}")
        return {}
    out: dict[str, Any] = {}
    for key, v in value.items():
        where = f"budget.{key}"
        if key not in BUDGET_KEYS:
            hint = closest(key, BUDGET_KEYS)
            hint_text = f"; did you mean {hint!r}?" if hint else ""
            errors.append(f"{where}: unknown key{hint_text} Allowed: {', '.join(BUDGET_KEYS)}")
            continue
        try:
            if key in ("iters", "max_grad_evals"):
                out[key] = _int_field(where, v, 1, errors)
            elif key == "max_time":
                out[key] = check_float(where, v, low=0.0, low_open=True)
            else:
                out[key] = check_float(where, v, low=0.0)
        except UserInputError as exc:
            errors.append(str(exc))
    if not any(k in value for k in ("iters", "max_grad_evals", "max_time")) and all(k in BUDGET_KEYS for k in value):
        errors.append("budget: give at least one of iters, max_grad_evals, max_time")
    return {k: v for k, v in out.items() if v is not None}


def _batch_size(where: str, value: Any, errors: list[str]) -> int | None:
    """``"full"`` (the whole objective) or an integer >= 1."""
    if value == "full":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_field(where, value, 1, errors)
    errors.append(f'{where}: must be an integer >= 1 or "full", got {value!r}')
    return None


def _bounds(value: Any, errors: list[str]) -> str | list[str]:
    if value == "all":
        return "all"
    if isinstance(value, list) and all(isinstance(b, str) for b in value):
        dupes = {b for b in value if value.count(b) > 1}
        if dupes:
            errors.append(f"bounds: {sorted(dupes)[0]!r} is listed twice")
        return list(dict.fromkeys(value))
    errors.append(f'bounds: must be "all" or a list of bound names (see `testbed bounds`; [] for none), got {value!r}')
    return []


def _monitors(value: Any, errors: list[str]) -> list[str]:
    if isinstance(value, list) and all(isinstance(m, str) for m in value):
        if len(set(value)) < len(value):
            errors.append("monitors: a monitor is listed twice")
        return list(dict.fromkeys(value))
    errors.append(f'monitors: must be a list of monitor names like ["accuracy"], got {value!r}')
    return []
