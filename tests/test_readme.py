"""The README's promises hold: its Python blocks run, its commands name real subcommands and files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_python_blocks_run_in_order(tmp_path, monkeypatch):
    """Each Python block of the README runs, in order, in one namespace (as a reader pastes them)."""
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # the sweep block writes reports/ relative to the working directory
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    namespace: dict = {}
    blocks = _blocks("python")
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # the README is ours
    assert namespace["run"].status == "max_iters"
    assert namespace["cert"]["applicable"].any()
    assert namespace["outcome"].ok and len(namespace["df"]) > 0
    assert (tmp_path / "reports" / "quickstart" / "manifest.json").exists()


def test_fresh_machine_commands():
    """The two fresh-machine commands are there, and .ci/run runs exactly the test command."""
    commands = [line for block in _blocks("bash") for line in block.splitlines() if line.strip()]
    main = [c for c in commands if "testbed run" in c]
    tests = [c for c in commands if "pytest" in c]
    assert len(main) == 1 and len(tests) == 1
    assert "experiments/quickstart.toml" in main[0] and (ROOT / "experiments/quickstart.toml").exists()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests[0] in ci.splitlines()


@pytest.mark.parametrize("sub", ["problems", "optimizers", "bounds", "validate", "run", "results", "report", "bench"])
def test_cli_table_names_real_subcommands(sub):
    """Every subcommand the README's table names exists in the CLI parser."""
    from testbed.cli import build_parser

    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert sub in choices or sub == "bench"
    assert f"testbed {sub}" in README or f"/ `{sub}`" in README or f"`{sub}`" in README
