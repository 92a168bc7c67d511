"""Fixtures of the sweep tests (helpers live in sweep_helpers.py)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# The test modules import sweep_helpers (this directory) also under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).resolve().parent))


_CACHE = tempfile.mkdtemp(prefix="optim-testbed-cache-")


@pytest.fixture(autouse=True, scope="module")
def _private_reference_cache():
    """Reference optima of the sweep tests go to a private cache (worker processes inherit the variable)."""
    old = os.environ.get("OPTIM_TESTBED_CACHE")
    if old is None:
        os.environ["OPTIM_TESTBED_CACHE"] = _CACHE
    yield
    if old is None:
        os.environ.pop("OPTIM_TESTBED_CACHE", None)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write spec text to ``tmp_path/<file>`` and return its path."""

    def _write(text: str, file: str = "spec.toml") -> Path:
        path = tmp_path / file
        path.write_text(text)
        return path

    return _write
