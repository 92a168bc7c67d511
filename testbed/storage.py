"""Results on disk: atomic writes of one run's files, and the loaders every report reads.

Layout of a results directory (see ``experiments/README.md``)::

    DIR/spec.toml                   copy of the spec
    DIR/manifest.json               experiment, spec hash, environment, {run_id: {status, ...}}
    DIR/runs/<id>.parquet           tidy history, identity columns first
    DIR/runs/<id>.certificate.parquet
    DIR/runs/<id>.curves.parquet
    DIR/runs/<id>.json              the run record, written LAST: the commit marker

Every file is written to a temporary file in the same directory and renamed
over its target with :func:`os.replace` (atomic on POSIX and Windows), so a
reader sees either the old file or the new one, never a partial one. A run is
*finished* only when its ``.json`` exists, parses, names its files and each
named file exists with the recorded size; a process killed at any point
leaves at most an unfinished run, which the next sweep redoes. (The guarantee
is against a killed process; durability across a power cut would need fsync.)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from problems.errors import UserInputError
from testbed.theory_columns import CERTIFICATE_COLUMNS, CURVE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CERTIFICATE_COLUMNS",
    "CURVE_COLUMNS",
    "HISTORY_KIND",
    "IDENTITY_COLUMNS",
    "RUN_SUMMARY_COLUMNS",
    "atomic_write_bytes",
    "finished_record",
    "load_certificates",
    "load_curves",
    "load_manifest",
    "load_results",
    "load_runs",
    "remove_record",
    "safe_child",
    "write_json",
    "write_run",
]

#: Identity columns that lead every history table (then ``hp_<name>`` columns, then the history).
IDENTITY_COLUMNS = (
    "run_id",
    "experiment",
    "problem",
    "family",
    "optimizer",
    "config",
    "method",
    "seed",
    "status",
    "base_lr",
    "batch_size",
    "L",
    "f_star",
)

#: What :func:`load_runs` adds to the identity of each run.
RUN_SUMMARY_COLUMNS = ("message", "iterations", "f", "f_gap", "grad_norm", "grad_evals", "time_s")

#: The kinds of table file a run may have, and their name suffixes.
HISTORY_KIND = "history"
TABLE_SUFFIXES = {HISTORY_KIND: ".parquet", "certificate": ".certificate.parquet", "curves": ".curves.parquet"}

RECORD_FORMAT = 1


# ---------------------------------------------------------------- paths
def safe_child(base: str | os.PathLike, *parts: str) -> Path:
    """``base/parts...`` resolved, refusing any result outside ``base`` (``..``, absolute parts, symlinks out)."""
    root = Path(base).resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and not target.is_relative_to(root):
        raise UserInputError(f"path {os.path.join(*parts)!r} would leave the output directory {str(root)!r}")
    return target


# ---------------------------------------------------------------- writing
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and :func:`os.replace`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def json_bytes(obj: Any) -> bytes:
    """Deterministic, human-readable JSON (non-finite floats become null)."""
    return (json.dumps(_json_safe(obj), indent=1, default=_json_default, allow_nan=False) + "\n").encode()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as JSON."""
    atomic_write_bytes(path, json_bytes(obj))


def parquet_bytes(table: Any) -> bytes:
    """A pyarrow Table or a pandas DataFrame (no index, no ``attrs``) as Parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        df = table.copy(deep=False)
        df.attrs = {}
        table = pa.Table.from_pandas(df, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def remove_record(runs_dir: str | os.PathLike, run_id: str) -> None:
    """Delete a run's commit marker (first step of (re)writing a run, so a crash never pairs old and new files)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(Path(runs_dir) / f"{run_id}.json")


def write_run(runs_dir: str | os.PathLike, run_id: str, tables: dict[str, Any], record: dict) -> dict:
    """Write a run's tables, then its ``.json`` record (the commit marker); return the record as written.

    ``tables`` maps kinds in :data:`TABLE_SUFFIXES` to pyarrow Tables or DataFrames; the record
    gets ``files`` {kind: {name, bytes, sha256}}.
    """
    runs_dir = Path(runs_dir)
    remove_record(runs_dir, run_id)
    files = {}
    for kind, df in tables.items():
        name = run_id + TABLE_SUFFIXES[kind]
        data = parquet_bytes(df)
        atomic_write_bytes(safe_child(runs_dir, name), data)
        files[kind] = {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    record = {**record, "run_id": run_id, "format": RECORD_FORMAT, "files": files}
    write_json(safe_child(runs_dir, f"{run_id}.json"), record)
    return record


# ---------------------------------------------------------------- reading
def finished_record(runs_dir: str | os.PathLike, run_id: str) -> dict | None:
    """The run's record if the run is finished (record parses, names its files, each present with its size)."""
    path = Path(runs_dir) / f"{run_id}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("run_id") != run_id or not isinstance(record.get("files"), dict):
        return None
    for info in record["files"].values():
        try:
            if os.path.getsize(Path(runs_dir) / info["name"]) != info["bytes"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return record


def _results_dir(path: str | os.PathLike) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise UserInputError(f"results directory {str(path)!r} does not exist")
    if not (root / "runs").is_dir() and not (root / "manifest.json").is_file():
        raise UserInputError(f"{str(path)!r} is not a results directory (no manifest.json or runs/)")
    return root


def load_manifest(path: str | os.PathLike) -> dict:
    """The sweep's ``manifest.json`` (experiment, spec_hash, created, package_version, environment, runs)."""
    root = _results_dir(path)
    try:
        return json.loads((root / "manifest.json").read_text())
    except FileNotFoundError:
        raise UserInputError(f"{str(path)!r} has no manifest.json") from None
    except ValueError as exc:
        raise UserInputError(f"{str(root / 'manifest.json')!r} is not valid JSON: {exc}") from None


def _records(path: str | os.PathLike) -> list[dict]:
    """Records of the finished runs, in the manifest's order (runs of the current spec only)."""
    root = _results_dir(path)
    runs_dir = root / "runs"
    if (root / "manifest.json").is_file():
        ids = list(load_manifest(root).get("runs", {}))
    else:
        ids = sorted(p.name[: -len(".json")] for p in runs_dir.glob("*.json"))
    out = []
    for run_id in ids:
        record = finished_record(runs_dir, run_id)
        if record is not None:
            out.append(record)
    return out


def _order_columns(df: pd.DataFrame, first: tuple[str, ...]) -> pd.DataFrame:
    from testbed.result import HISTORY_COLUMNS

    cols = list(df.columns)
    lead = [c for c in first if c in cols]
    hp = [c for c in cols if c.startswith("hp_")]
    hist = [c for c in HISTORY_COLUMNS if c in cols]
    rest = [c for c in cols if c not in lead and c not in hp and c not in hist]
    return df[lead + hp + hist + rest]


def _load_tables(path: str | os.PathLike, kind: str, columns: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    root = Path(path)
    frames = [
        pd.read_parquet(root / "runs" / rec["files"][kind]["name"])
        for rec in _records(path)
        if kind in rec["files"]
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True, sort=False)


def load_results(path: str | os.PathLike) -> pd.DataFrame:
    """All finished runs' histories concatenated: identity columns, ``hp_*`` columns, history, extras, monitors."""
    df = _load_tables(path, "history", IDENTITY_COLUMNS)
    return _order_columns(df, IDENTITY_COLUMNS)


def load_certificates(path: str | os.PathLike) -> pd.DataFrame:
    """All finished runs' certificate rows (run_id + the theory certificate columns)."""
    df = _load_tables(path, "certificate", ("run_id", *CERTIFICATE_COLUMNS))
    return df


def load_curves(path: str | os.PathLike) -> pd.DataFrame:
    """All finished runs' bound curves (run_id, bound, iter, bound_value, observed)."""
    return _load_tables(path, "curves", ("run_id", *CURVE_COLUMNS))


def load_runs(path: str | os.PathLike) -> pd.DataFrame:
    """One row per finished run: identity (incl. ``hp_*``), status, message, iterations and final values."""
    import numpy as np
    import pandas as pd

    rows = []
    for rec in _records(path):
        final = rec.get("final") or {}
        row = dict(rec.get("identity", {}))
        row["run_id"] = rec["run_id"]
        row["status"] = rec.get("status")
        row["message"] = rec.get("message", "")
        row["iterations"] = rec.get("iterations")
        for key in ("f", "f_gap", "grad_norm", "grad_evals", "time_s"):
            value = final.get(key)
            row[key] = np.nan if value is None else value
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=[*IDENTITY_COLUMNS, *RUN_SUMMARY_COLUMNS])
    df = pd.DataFrame(rows)
    for col in ("base_lr", "batch_size", "L", "f_star"):
        if col in df:
            df[col] = df[col].astype("float64")
    lead = IDENTITY_COLUMNS + RUN_SUMMARY_COLUMNS
    hp = [c for c in df.columns if c.startswith("hp_")]
    rest = [c for c in df.columns if c not in lead and c not in hp]
    return df[[c for c in lead if c in df.columns] + hp + rest]
