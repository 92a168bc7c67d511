"""Fixtures of the theory tests: a private disk cache for references and PEP values; ``theory_helpers`` importable.

The project runs pytest with ``--import-mode=importlib``, which does not put test directories on ``sys.path``;
this directory is added so the tests can share the small problems and optimizers of ``theory_helpers.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point OPTIM_TESTBED_CACHE at a fresh directory for the session (tests never touch the user's cache)."""
    old = os.environ.get("OPTIM_TESTBED_CACHE")
    os.environ["OPTIM_TESTBED_CACHE"] = str(tmp_path_factory.mktemp("optim-cache"))
    yield
    if old is None:
        os.environ.pop("OPTIM_TESTBED_CACHE", None)
    else:
        os.environ["OPTIM_TESTBED_CACHE"] = old
