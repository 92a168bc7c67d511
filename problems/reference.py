"""Reference optima and their certificates, cached on disk.

A reference optimum is computed once per parameter set (closed form, CVXPY,
or a known value) and stored in a user cache directory so that sweeps never
re-solve it. The directory is ``$OPTIM_TESTBED_CACHE`` if set, else
``$XDG_CACHE_HOME/optim-testbed`` (``~/.cache/optim-testbed``).

Every reference carries its certificate: ``grad_norm`` (||grad f(x*)||), and for
convex problems solved numerically the solver's status and its duality gap or
residual, plus the result of an independent cross-check.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CACHE_VERSION", "Reference", "cache_dir", "cached_reference"]

#: Bumped whenever the definition of a family or of its reference changes.
CACHE_VERSION = 1


@dataclass(frozen=True)
class Reference:
    """A reference optimum: ``f_star``, ``x_star`` (None if unknown), how it was obtained, its certificate."""

    f_star: float | None
    x_star: np.ndarray | None
    method: str
    certificate: dict[str, Any] = field(default_factory=dict)


def cache_dir() -> Path:
    """The directory holding cached references (created on demand)."""
    env = os.environ.get("OPTIM_TESTBED_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "optim-testbed"


def _key(family: str, params: dict[str, Any]) -> str:
    text = json.dumps({"family": family, "params": params, "v": CACHE_VERSION}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _save(path: Path, ref: Reference) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                f_star=np.array(np.nan if ref.f_star is None else ref.f_star),
                x_star=np.zeros(0) if ref.x_star is None else ref.x_star,
                has_x=np.array(ref.x_star is not None),
                meta=np.array(json.dumps({"method": ref.method, "certificate": ref.certificate}, default=float)),
            )
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load(path: Path) -> Reference | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            f_star = float(data["f_star"])
            x_star = np.array(data["x_star"], dtype=np.float64) if bool(data["has_x"]) else None
            meta = json.loads(str(data["meta"]))
            method = str(meta["method"])
            certificate = dict(meta["certificate"]) | {"cached": True}
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None  # unreadable, truncated or partial: recompute
    return Reference(
        f_star=None if np.isnan(f_star) else f_star,
        x_star=x_star,
        method=method,
        certificate=certificate,
    )


def cached_reference(
    family: str,
    params: dict[str, Any],
    compute: Callable[[], Reference],
    validate: Callable[[Reference], bool] | None = None,
) -> Reference:
    """Return the reference of ``family`` with ``params`` from the disk cache, computing and storing it if absent.

    Writes are atomic (temporary file, then rename), so concurrent sweeps and
    a killed process never leave a partial entry that is read back as valid.
    An entry that cannot be read, or that ``validate`` rejects (a stale or
    tampered file), is recomputed and overwritten rather than trusted.
    Set ``OPTIM_TESTBED_CACHE=off`` to disable the cache.
    """
    if os.environ.get("OPTIM_TESTBED_CACHE", "").lower() == "off":
        return compute()
    path = cache_dir() / family / f"{_key(family, params)}.npz"
    if path.exists():
        ref = _load(path)
        if ref is not None and (validate is None or validate(ref)):
            return ref
    ref = compute()
    try:
        _save(path, ref)
    except OSError:
        pass  # a read-only cache must not stop the computation
    return ref
