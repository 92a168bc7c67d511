"""The dry validation pass: build every problem instance and optimizer configuration, check every pairing.

Nothing runs and no reference optimum is computed (``problems.make`` is
cheap). Errors raised by a family's or an optimizer's own validation
(``"lr: must be > 0, got -0.1"``) are placed at the spot of the spec the
offending value came from: ``optimizers[2].lr`` for a literal value,
``optimizers[2].grid.lr[1]`` for a grid candidate.
"""

from __future__ import annotations

import re
from typing import Any

from problems.errors import UnknownNameError, UserInputError, closest
from testbed.sweep.build import make_optimizer, make_problem, make_schedule, run_seeded, split_run_settings
from testbed.sweep.grid import Entry, Point
from testbed.sweep.monitors import MONITORS
from testbed.sweep.spec import TOP_KEYS

__all__ = ["dry_build", "locate"]

_FIELD_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\]]*\]|\.[A-Za-z_][A-Za-z0-9_]*)*): (.*)$", re.DOTALL)


def locate(message: str, point: Point, where: str) -> str:
    """Prefix a validation message ``"field: ..."`` with the spec location of ``field`` in ``point``."""
    m = _FIELD_RE.match(message)
    if m and m.group(1) in point.values:
        return f"{point.where(m.group(1), where)}{m.group(2)}: {m.group(3)}"
    return f"{where}: {message}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _check_keywords(registry: Any, name: str, point: Point, entry: Entry, skip: tuple[str, ...]) -> list[str]:
    """Unknown keywords (with the closest match) and missing required ones."""
    import inspect

    reg_entry = registry.get(name)
    accepted = reg_entry.parameters()
    errors = []
    if not reg_entry.accepts_any_keyword():
        for key in point.values:
            if key not in accepted and key not in skip:
                hint = closest(key, accepted)
                hint_text = f"; did you mean {hint!r}?" if hint else ""
                if key in TOP_KEYS:
                    hint_text = f"; {key!r} is a top-level key: write it before the first [table]."
                allowed = ", ".join(accepted) or "none"
                errors.append(
                    f"{point.where(key, entry.where)}: unknown parameter of {name}{hint_text} Allowed: {allowed}"
                )
    for key, default in accepted.items():
        if default is inspect.Parameter.empty and key not in point.values:
            errors.append(f"{entry.where}: missing required parameter {key!r} of {name}")
    return errors


def _build_problems(entries: list[Entry], errors: list[str]) -> list[tuple[Entry, Point, Any]]:
    import problems

    problems.available()
    built = []
    for entry in entries:
        try:
            problems.REGISTRY.get(entry.name)
        except UnknownNameError as exc:
            errors.append(f"{entry.where}.family: {exc}")
            continue
        for point in entry.points():
            errs = _check_keywords(problems.REGISTRY, entry.name, point, entry, ())
            if errs:
                errors.extend(errs)
                continue
            values = run_seeded(point.values, 0)  # "run" seeds are filled in per run; any valid seed checks them
            try:
                built.append((entry, point, make_problem(entry.name, values)))
            except UserInputError as exc:
                errors.append(locate(_one_line(exc), point, entry.where))
            except Exception as exc:  # a family failing on odd input is still the spec's error to report
                errors.append(f"{entry.where}: building {entry.name} failed: {type(exc).__name__}: {_one_line(exc)}")
    return built


def _schedule_error(exc: UserInputError, point: Point, entry: Entry) -> str:
    where = point.where("schedule", f"{entry.where}.schedule")
    msg = _one_line(exc)
    if isinstance(exc, UnknownNameError):
        return f"{where}.name: {msg}"
    if msg.startswith("schedule: "):
        return f"{where}: {msg[len('schedule: '):]}"
    m = _FIELD_RE.match(msg)
    if m and isinstance(point.values.get("schedule"), dict) and m.group(1) in point.values["schedule"]:
        return f"{where}.{m.group(1)}{m.group(2)}: {m.group(3)}"
    return f"{where}: {msg}"


def _batch_setting(point: Point, entry: Entry, default: int | None, errors: list[str]) -> tuple[int | None, str]:
    """Effective batch size of a configuration and where it was set."""
    if "batch_size" not in point.values:
        return default, "batch_size"
    where = point.where("batch_size", entry.where)
    value = point.values["batch_size"]
    if value == "full":
        return None, where
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value, where
    errors.append(f'{where}: must be an integer >= 1 or "full", got {value!r}')
    return None, where


def _build_optimizers(entries: list[Entry], batch_size: int | None, errors: list[str]) -> list[tuple]:
    from testbed import optimizers

    optimizers.available()
    built = []
    for entry in entries:
        try:
            optimizers.REGISTRY.get(entry.name)
        except UnknownNameError as exc:
            errors.append(f"{entry.where}.name: {exc}")
            continue
        for point in entry.points():
            bs, bs_where = _batch_setting(point, entry, batch_size, errors)
            errs = _check_keywords(optimizers.REGISTRY, entry.name, point, entry, ("batch_size",))
            if errs:
                errors.extend(errs)
                continue
            hparams, _ = split_run_settings(point.values)
            if "schedule" in hparams:
                try:
                    make_schedule(hparams["schedule"])
                except UserInputError as exc:
                    errors.append(_schedule_error(exc, point, entry))
                    continue
            try:
                opt = make_optimizer(entry.name, hparams)
            except UserInputError as exc:
                errors.append(locate(_one_line(exc), point, entry.where))
                continue
            except Exception as exc:
                errors.append(f"{entry.where}: building {entry.name} failed: {type(exc).__name__}: {_one_line(exc)}")
                continue
            if "schedule" in hparams and getattr(opt, "lr", None) is None:
                errors.append(
                    f"{point.where('schedule', entry.where)}: {entry.name} has no step size (lr), so a schedule"
                    " would have no effect"
                )
            built.append((entry, point, opt, bs, bs_where))
    return built


def _check_pairs(problems_: list[tuple], optimizers_: list[tuple], errors: list[str]) -> None:
    from testbed.optimizers import LR, DriverOptimizer

    for pe, _, prob in problems_:
        pname = f"{pe.where} ({pe.label})"
        for oe, opoint, opt, bs, bs_where in optimizers_:
            if oe.only is not None and pe.label not in oe.only:
                continue
            lr = getattr(opt, "lr", None)
            if isinstance(lr, LR) and prob.L is None:
                errors.append(
                    f"{opoint.where('lr', f'{oe.where}.lr (the default)')}: '{lr.multiple:g}/L' needs a problem"
                    " with a known L;"
                    f" {pname} has none (give lr as a number)"
                )
            if bs is None:
                continue
            if isinstance(opt, DriverOptimizer):
                errors.append(f"{bs_where}: {oe.name} runs its own loop and cannot use minibatches; use \"full\"")
            elif prob.n_samples is None:
                errors.append(
                    f"{bs_where}: {pname} is not a finite sum, so it has no minibatches"
                    ' (set batch_size per optimizer entry, or restrict the entry with problems = [...])'
                )
            elif bs > prob.n_samples:
                errors.append(f"{bs_where}: must be <= n_samples = {prob.n_samples} of {pname}, got {bs}")


def _check_monitors(names: list[str], problems_: list[tuple], errors: list[str]) -> None:
    for i, name in enumerate(names):
        if name not in MONITORS:
            hint = closest(name, MONITORS)
            hint_text = f"; did you mean {hint!r}?" if hint else ""
            errors.append(f"monitors[{i}]: unknown monitor {name!r}{hint_text} Available: {', '.join(MONITORS)}")
        elif not any(MONITORS[name].supports(p) for _, _, p in problems_):
            errors.append(
                f"monitors[{i}]: no problem of this spec supports {name!r} (it needs problem.{MONITORS[name].needs})"
            )


def _check_bounds(bounds: str | list[str], errors: list[str]) -> None:
    if bounds == "all" or not bounds:
        return
    from testbed import theory

    known = [str(n) for n in theory.bounds()["name"]]
    for i, name in enumerate(bounds):
        if name not in known:
            hint = closest(name, known)
            hint_text = f"; did you mean {hint!r}?" if hint else ""
            errors.append(f"bounds[{i}]: unknown bound {name!r}{hint_text} Available: {', '.join(known)}")


def dry_build(spec: Any) -> list[str]:
    """Every error the spec would hit when run (empty if none)."""
    errors: list[str] = []
    problems_ = _build_problems(spec.problems, errors)
    optimizers_ = _build_optimizers(spec.optimizers, spec.batch_size, errors)
    _check_pairs(problems_, optimizers_, errors)
    _check_monitors(spec.monitors, problems_, errors)
    _check_bounds(spec.bounds, errors)
    return errors
