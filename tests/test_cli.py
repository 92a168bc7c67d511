"""The `testbed` command line: catalogues, validate/run/results/report/bench, one-line errors, a light import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import testbed.sweep
from testbed import cli

REPO = Path(testbed.sweep.__file__).resolve().parents[2]

SPEC = """
name = "cli"
seeds = 1
bounds = []
[budget]
iters = 20
[[problems]]
family = "quadratic"
dim = 4
[[optimizers]]
name = "gd"
[[optimizers]]
name = "projected_gd"
"""


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def test_importing_the_cli_loads_nothing_heavy():
    heavy = ["pandas", "pyarrow", "cvxpy", "matplotlib", "seaborn", "dask", "distributed", "sklearn", "torch",
             "joblib", "rich", "scipy"]
    code = f"import sys, testbed.cli; print([m for m in {heavy!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["", "problems", "optimizers", "bounds", "validate", "run", "results", "report"])
def test_every_command_has_help(command, capsys):
    argv = ([command] if command else []) + ["--help"]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: testbed") and "--debug" in out


def test_help_lists_all_subcommands_via_the_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "testbed", "--help"], env=env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    for name in ("problems", "optimizers", "bounds", "validate", "run", "results", "report", "bench"):
        assert name in proc.stdout


def test_problems_catalogue(capsys):
    import problems

    code, out, _ = run(["problems"], capsys)
    assert code == 0
    for name in problems.available():
        assert f"\n{name} -- " in "\n" + out
    assert "f*" in out and "convex" in out and "kappa=100.0" in out
    code, out, _ = run(["problems", "--json", "quadratic"], capsys)
    entry = json.loads(out)[0]
    assert entry["name"] == "quadratic" and entry["parameters"]["dim"] == 20 and "f_star" in entry


def test_optimizers_catalogue(capsys):
    from testbed import optimizers

    code, out, _ = run(["optimizers"], capsys)
    assert code == 0
    for name in optimizers.available():
        assert f"\n{name} -- " in "\n" + out
    assert "torch.optim.Adam" in out
    _, out, _ = run(["optimizers", "--json", "adam"], capsys)
    assert json.loads(out)[0]["hyperparameters"]["betas"] == [0.9, 0.999]


def test_bounds_catalogue_and_pep_table(capsys):
    code, out, _ = run(["bounds"], capsys)
    assert code == 0 and "descent_lemma -- " in out and "applies_to" in out
    code, out, _ = run(["bounds", "--pep", "gd", "--iters", "1..3", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and [r["t"] for r in rows] == [1, 2, 3]
    assert rows[0]["pep"] == pytest.approx(1 / 6, rel=1e-4)  # Drori-Teboulle: L R^2 / (4t + 2)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["problems", "quadratc"], "unknown problem family 'quadratc'; did you mean 'quadratic'?"),
        (["optimizers", "adma"], "unknown optimizer 'adma'; did you mean 'adam'?"),
        (["bounds", "--pep", "gd", "--iters", "a..b"], "--iters: must look like 1..20"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run"], "the following arguments are required: SPEC"),
        (["run", "x.toml", "-j", "two"], "argument -j/--jobs: invalid int value: 'two'"),
        (["results", "/nonexistent/dir"], "results directory '/nonexistent/dir' does not exist"),
        (["report", "/nonexistent/dir"], "results directory '/nonexistent/dir' does not exist"),
        (["validate", "/nonexistent/spec.toml"], "spec file '/nonexistent/spec.toml' does not exist"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(argv, expected, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("testbed: error: ") and expected in err, err
    assert "Traceback" not in err


def test_no_command_prints_help_and_exits_2(capsys):
    code, _, err = run([], capsys)
    assert code == 2 and "usage: testbed" in err


def test_jobs_must_be_positive(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    code, _, err = run(["run", str(spec), "-j", "0", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "-j/--jobs: must be >= 1" in err and not (tmp_path / "o").exists()


def test_validate_run_results_and_report(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    out_dir = tmp_path / "o"
    code, out, _ = run(["validate", str(spec), "--out", str(out_dir)], capsys)
    assert code == 0
    assert "OK -- 2 runs = 1 problem instances x 2 optimizer configurations x 1 seeds" in out
    assert not out_dir.exists()

    calls = []
    fake = types.ModuleType("testbed.report")
    fake.write_report = lambda d: calls.append(Path(d)) or Path(d) / "index.html"
    monkeypatch.setitem(sys.modules, "testbed.report", fake)
    code, out, err = run(["run", str(spec), "--out", str(out_dir), "-j", "1"], capsys)
    assert code == 1  # projected_gd cannot run on an unconstrained problem: an error result
    assert "cli: 2 runs executed, 0 already finished (error 1, max_iters 1)" in out
    assert f"report: {out_dir / 'index.html'}" in out and calls == [out_dir]
    assert "1 runs failed" in err and "projected_gd: needs a constrained problem" in err

    code, out, _ = run(["results", str(out_dir)], capsys)
    assert code == 0 and "2 of 2 runs finished (error 1, max_iters 1)" in out and "quadratic" in out

    code, out, _ = run(["report", str(out_dir)], capsys)
    assert code == 0 and calls == [out_dir, out_dir]

    code, out, _ = run(["run", str(spec), "--out", str(out_dir), "--quiet", "--no-report"], capsys)
    assert "1 runs executed, 1 already finished" in out and calls == [out_dir, out_dir]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        cli.main(["--debug", "results", str(tmp_path / "missing")])


def test_bench_forwards_its_arguments_or_says_it_is_missing(monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("testbed.bench")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "testbed.bench", fake)
    monkeypatch.setattr(testbed, "bench", fake, raising=False)
    code, _, _ = run(["bench", "--quick", "loop"], capsys)
    assert code == 0 and seen == [["--quick", "loop"]]
    monkeypatch.setitem(sys.modules, "testbed.bench", None)  # import fails
    monkeypatch.delattr(testbed, "bench", raising=False)
    code, _, err = run(["bench"], capsys)
    assert code == 1 and err.count("\n") == 1 and err.startswith("testbed: error: benchmarks are not available")


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("testbed ")


def test_a_solver_failure_is_one_line_with_exit_code_1(capsys, monkeypatch):
    """A solver that cannot certify its answer is reported in one line (exit 1), not as a traceback."""
    from problems.errors import SolverError
    from testbed.theory import pep

    def failing(*args, **kwargs):
        raise SolverError("PEP worst case of gd (5 steps, f_gap)", "CLARABEL", "optimal_inaccurate")

    monkeypatch.setattr(pep, "compare_table", failing)
    code = cli.main(["bounds", "--pep", "gd", "--iters", "5..5"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        "testbed: error: PEP worst case of gd (5 steps, f_gap): solver CLARABEL ended with status 'optimal_inaccurate'"
    ]
