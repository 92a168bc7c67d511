"""Disk cache of PEP worst-case values: one small JSON file per argument set.

The directory is ``problems.reference.cache_dir() / "pep"``; the key is a hash of every argument of
:func:`testbed.theory.pep.worst_case` plus :data:`PEP_CACHE_VERSION`. Writes are atomic (temporary file in the
same directory, then ``os.replace``), so a killed process or two concurrent sweeps never leave a partial entry
that is read back. ``OPTIM_TESTBED_CACHE=off`` disables reading and writing; an unreadable entry is recomputed,
and a read-only cache directory does not stop the computation.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from problems.reference import cache_dir

__all__ = ["PEP_CACHE_VERSION", "cache_enabled", "cache_path", "load", "store"]

#: Bumped whenever the formulation or a method's definition changes.
PEP_CACHE_VERSION = 2


def cache_enabled() -> bool:
    """False when ``OPTIM_TESTBED_CACHE=off``."""
    return os.environ.get("OPTIM_TESTBED_CACHE", "").lower() != "off"


def cache_path(args: dict[str, Any]) -> Path:
    """The file of the argument set ``args`` (JSON-serialisable values)."""
    text = json.dumps({"args": args, "v": PEP_CACHE_VERSION}, sort_keys=True)
    return cache_dir() / "pep" / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def load(args: dict[str, Any]) -> float | None:
    """The cached value for ``args``, or None (absent, unreadable, disabled, or stored for other arguments)."""
    if not cache_enabled():
        return None
    try:
        with open(cache_path(args), encoding="utf-8") as fh:
            entry = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("args") != args or not isinstance(entry.get("value"), float):
        return None
    return entry["value"]


def store(args: dict[str, Any], value: float, meta: dict[str, Any]) -> None:
    """Write ``value`` for ``args`` atomically (silently skipped if the cache is disabled or not writable)."""
    if not cache_enabled():
        return
    path = cache_path(args)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"args": args, "value": float(value), "meta": meta}, fh, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError:
        return
