"""Fixtures for the figure tests: the synthetic results of tests/report/conftest.py (one builder, two users)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parent.parent / "report" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_synthetic_results_builder", _path)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

results_dir = synthetic.results_dir
tables = synthetic.tables
