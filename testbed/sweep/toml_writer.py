"""A small TOML writer for specs given as Python dicts.

The standard library reads TOML (``tomllib``) but does not write it. A spec
passed to :func:`testbed.sweep.run_spec` as a dict is written back as TOML so
that its results folder holds a ``spec.toml`` like any other sweep's and the
spec hash is computed the same way. The subset covered is what a spec can
hold: strings, integers, floats, booleans, arrays, tables and arrays of
tables; ``tomllib.loads(dumps(d)) == d`` for every such dict (tested).
"""

from __future__ import annotations

import json
import math
from typing import Any

from problems.errors import UserInputError

__all__ = ["dumps"]


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except that astral characters stay literal
    (JSON would write surrogate pairs) and DEL must be escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise UserInputError(f"spec keys must be strings, got {key!r}")
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else _string(key)


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v, f'{where}.{k}')}" for k, v in value.items()) + " }"
    raise UserInputError(f"{where}: a spec value must be a string, number, boolean, list or table, got {value!r}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, dict) for v in value)


def _table(body: dict[str, Any], path: str, out: list[str]) -> None:
    scalars = {k: v for k, v in body.items() if not isinstance(v, dict) and not _is_table_array(v)}
    for k, v in scalars.items():
        out.append(f"{_key(k)} = {_value(v, f'{path}.{k}' if path else k)}")
    for k, v in body.items():
        full = f"{path}.{_key(k)}" if path else _key(k)
        if isinstance(v, dict):
            out.append("")
            out.append(f"[{full}]")
            _table(v, full, out)
        elif _is_table_array(v):
            for item in v:
                out.append("")
                out.append(f"[[{full}]]")
                _table(item, full, out)


def dumps(spec: dict[str, Any]) -> str:
    """TOML text for ``spec`` (a dict as ``tomllib.loads`` would return it)."""
    if not isinstance(spec, dict):
        raise UserInputError(f"spec: must be a dict (a TOML document), got {type(spec).__name__}")
    out: list[str] = []
    _table(spec, "", out)
    return "\n".join(out).lstrip("\n") + "\n"
