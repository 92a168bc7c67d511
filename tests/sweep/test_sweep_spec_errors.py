"""Malformed specs: each gives its one-line error through the command line, exit code 2, and writes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sweep_helpers import python, subprocess_env

from testbed import cli
from testbed.sweep import SpecError, parse_spec

HEAD = 'name = "bad"\n[budget]\niters = 5\n'
QUAD = '[[problems]]\nfamily = "quadratic"\ndim = 3\n'
LSQ = '[[problems]]\nfamily = "least_squares"\nn = 20\nd = 3\n'
GD = '[[optimizers]]\nname = "gd"\n'


def spec(*entries: str, top: str = "", head: str = HEAD) -> str:
    """Top-level keys go before the first table (TOML puts later keys into the last table)."""
    return top + "\n" + head + "\n".join(entries)


# (id, spec text, expected substring of the single error line)
CASES = [
    ("toml-syntax", 'name = "x\n', "TOML syntax: "),
    ("toml-duplicate-key", 'name = "a"\nname = "b"\n', "TOML syntax: "),
    ("missing-name", spec(QUAD, GD, head="[budget]\niters = 5\n"), "name: missing"),
    ("name-path-escape", spec(QUAD, GD, head='name = "../../etc"\n[budget]\niters = 5\n'),
     "name: must be a plain file name"),
    ("name-absolute", spec(QUAD, GD, head='name = "/tmp/x"\n[budget]\niters = 5\n'), "name: must be a plain file name"),
    ("name-with-slash", spec(QUAD, GD, head='name = "a/b"\n[budget]\niters = 5\n'), "name: must be a plain file name"),
    ("name-dots", spec(QUAD, GD, head='name = "a..b"\n[budget]\niters = 5\n'), "name: must be a plain file name"),
    ("name-not-string", spec(QUAD, GD, head="name = 3\n[budget]\niters = 5\n"), "name: must be a plain file name"),
    ("unknown-top-key", spec(QUAD, GD, top="seed = 3"), "seed: unknown key; did you mean 'seeds'?"),
    ("top-level-key-after-a-table", spec(QUAD, GD + "seeds = 2\n"),
     "optimizers[0].seeds: unknown parameter of gd; 'seeds' is a top-level key: write it before the first [table]"),
    ("problems-missing", spec(GD), "problems: missing"),
    ("problems-empty", spec(GD, head=HEAD.replace("[budget]", "problems = []\n[budget]")),
     "problems: must be a non-empty array of tables"),
    ("problems-not-tables", spec(GD, head=HEAD.replace("[budget]", 'problems = ["quadratic"]\n[budget]')),
     "problems[0]: must be a table"),
    ("problem-family-missing", spec('[[problems]]\ndim = 3\n', GD), "problems[0]: missing 'family'"),
    ("unknown-family", spec('[[problems]]\nfamily = "quadratc"\n', GD),
     "problems[0].family: unknown problem family 'quadratc'; did you mean 'quadratic'?"),
    ("unknown-problem-parameter", spec('[[problems]]\nfamily = "quadratic"\ndimm = 3\n', GD),
     "problems[0].dimm: unknown parameter of quadratic; did you mean 'dim'?"),
    ("problem-value-out-of-range", spec('[[problems]]\nfamily = "quadratic"\ndim = -3\n', GD),
     "problems[0].dim: must be >= 1"),
    ("problem-value-wrong-type", spec('[[problems]]\nfamily = "quadratic"\ndim = "big"\n', GD),
     "problems[0].dim: must be an integer"),
    ("problem-grid-candidate", spec('[[problems]]\nfamily = "quadratic"\ngrid = { dim = [3, 0] }\n', GD),
     "problems[0].grid.dim[1]: must be >= 1"),
    ("optimizers-missing", spec(QUAD), "optimizers: missing"),
    ("unknown-optimizer", spec(QUAD, '[[optimizers]]\nname = "adma"\n'),
     "optimizers[0].name: unknown optimizer 'adma'; did you mean 'adam'?"),
    ("negative-lr", spec(QUAD, GD, '[[optimizers]]\nname = "sgd"\nlr = -0.1\n'),
     "optimizers[1].lr: must be > 0.0, got -0.1"),
    ("lr-bad-string", spec(QUAD, '[[optimizers]]\nname = "gd"\nlr = "fast"\n'),
     "optimizers[0].lr: must be a number > 0 or a string like '1/L'"),
    ("lr-over-L-without-L",
     spec('[[problems]]\nfamily = "mlp"\nactivation = "relu"\n', '[[optimizers]]\nname = "gd"\nlr = "1/L"\n'),
     "optimizers[0].lr: '1/L' needs a problem with a known L; problems[0] (mlp) has none"),
    ("unknown-hyperparameter", spec(QUAD, '[[optimizers]]\nname = "heavy_ball"\nmomentun = 0.5\n'),
     "optimizers[0].momentun: unknown parameter of heavy_ball; did you mean 'momentum'?"),
    ("betas-not-a-pair", spec(QUAD, '[[optimizers]]\nname = "adam"\nbetas = [0.9]\n'), "optimizers[0].betas"),
    ("grid-value-not-list", spec(QUAD, '[[optimizers]]\nname = "adam"\ngrid = { lr = 0.1 }\n'),
     "optimizers[0].grid.lr: every grid value is a list of candidates; write lr = [0.1]"),
    ("grid-empty-list", spec(QUAD, '[[optimizers]]\nname = "adam"\ngrid = { lr = [] }\n'),
     "optimizers[0].grid.lr: empty list"),
    ("grid-empty-table", spec(QUAD, '[[optimizers]]\nname = "adam"\ngrid = {}\n'), "optimizers[0].grid: is empty"),
    ("grid-and-literal", spec(QUAD, '[[optimizers]]\nname = "adam"\nlr = 0.1\ngrid = { lr = [0.2] }\n'),
     "optimizers[0].grid.lr: 'lr' is given both literally"),
    ("grid-candidate-invalid", spec(QUAD, '[[optimizers]]\nname = "adam"\ngrid = { lr = [0.1, -1.0] }\n'),
     "optimizers[0].grid.lr[1]: must be > 0"),
    ("grid-scalars-for-pairs", spec(QUAD, '[[optimizers]]\nname = "adam"\ngrid = { betas = [[0.9, 0.99], 0.5] }\n'),
     "optimizers[0].grid.betas[1]"),
    ("grid-duplicate-candidate", spec(QUAD, '[[optimizers]]\nname = "adam"\ngrid = { lr = [0.1, 0.1] }\n'),
     "optimizers[0].grid.lr[1]: candidate 0.1 repeats"),
    ("zip-mismatched", spec(QUAD, '[[optimizers]]\nname = "sgd"\ngrid = { lr = [0.1, 0.2], momentum = [0.5] }\n'
                                  'zip = [["lr", "momentum"]]\n'), "must have the same number of candidates"),
    ("zip-unknown-axis", spec(QUAD, '[[optimizers]]\nname = "sgd"\ngrid = { lr = [0.1] }\nzip = [["lr", "lrr"]]\n'),
     "optimizers[0].zip[0]: 'lrr' is not a grid axis"),
    ("zip-without-grid", spec(QUAD, '[[optimizers]]\nname = "sgd"\nzip = [["lr", "momentum"]]\n'),
     "optimizers[0].zip: zip pairs grid axes, but this entry has no grid table"),
    ("duplicate-problem-labels", spec(QUAD, QUAD, GD), "problems[1].label: 'quadratic' is already used by problems[0]"),
    ("duplicate-optimizer-labels", spec(QUAD, GD, '[[optimizers]]\nname = "adam"\nlabel = "gd"\n'),
     "optimizers[1].label: 'gd' is already used by optimizers[0]"),
    ("empty-label", spec(QUAD, '[[optimizers]]\nname = "gd"\nlabel = ""\n'),
     "optimizers[0].label: must be a non-empty"),
    ("label-swept", spec(QUAD, '[[optimizers]]\nname = "gd"\ngrid = { label = ["a"] }\n'), "'label' cannot be swept"),
    ("seeds-zero", spec(QUAD, GD, top="seeds = 0"), "seeds: must be >= 1, got 0"),
    ("seeds-empty", spec(QUAD, GD, top="seeds = []"), "seeds: empty list"),
    ("seeds-duplicate", spec(QUAD, GD, top="seeds = [1, 1]"), "seeds[1]: seed 1 is listed twice"),
    ("seeds-negative", spec(QUAD, GD, top="seeds = [-1]"), "seeds[0]: must be >= 0"),
    ("seeds-string", spec(QUAD, GD, top='seeds = "3"'), "seeds: must be a count"),
    ("budget-missing", spec(QUAD, GD, head='name = "x"\n'), "budget: missing"),
    ("budget-no-limit", spec(QUAD, GD, head='name = "x"\n[budget]\ntol = 1e-6\n'),
     "budget: give at least one of iters, max_grad_evals, max_time"),
    ("budget-iters-zero", spec(QUAD, GD, head='name = "x"\n[budget]\niters = 0\n'), "budget.iters: must be >= 1"),
    ("budget-iters-float", spec(QUAD, GD, head='name = "x"\n[budget]\niters = 10.0\n'),
     "budget.iters: must be an integer"),
    ("budget-typo", spec(QUAD, GD, head='name = "x"\n[budget]\niter = 10\n'),
     "budget.iter: unknown key; did you mean 'iters'?"),
    ("restriction-unknown-label", spec(QUAD, '[[optimizers]]\nname = "gd"\nproblems = ["quadratik"]\n'),
     "optimizers[0].problems[0]: no problem entry is labelled 'quadratik'; did you mean 'quadratic'?"),
    ("restriction-not-list", spec(QUAD, '[[optimizers]]\nname = "gd"\nproblems = "quadratic"\n'),
     "optimizers[0].problems: must be a non-empty list of problem labels"),
    ("restriction-swept", spec(QUAD, '[[optimizers]]\nname = "gd"\ngrid = { problems = [["quadratic"]] }\n'),
     "optimizers[0].grid.problems: 'problems' cannot be swept"),
    ("budget-negative-time", spec(QUAD, GD, head='name = "x"\n[budget]\nmax_time = -1.0\n'),
     "budget.max_time: must be > 0"),
    ("record-every-zero", spec(QUAD, GD, top="record_every = 0"), "record_every: must be >= 1"),
    ("batch-size-zero", spec(LSQ, GD, top="batch_size = 0"), "batch_size: must be >= 1"),
    ("batch-size-word", spec(LSQ, GD, top='batch_size = "half"'), 'batch_size: must be an integer >= 1 or "full"'),
    ("batch-size-not-finite-sum", spec(QUAD, GD, top="batch_size = 4"),
     "batch_size: problems[0] (quadratic) is not a finite sum"),
    ("batch-size-too-large", spec(LSQ, '[[optimizers]]\nname = "sgd"\nbatch_size = 50\n'),
     "optimizers[0].batch_size: must be <= n_samples = 20"),
    ("batch-size-driver", spec(LSQ, '[[optimizers]]\nname = "lbfgs"\nbatch_size = 5\n'),
     "optimizers[0].batch_size: lbfgs runs its own loop and cannot use minibatches"),
    ("bounds-unknown", spec(QUAD, GD, top='bounds = ["descent_lema"]'),
     "bounds[0]: unknown bound 'descent_lema'; did you mean 'descent_lemma'?"),
    ("bounds-word", spec(QUAD, GD, top='bounds = "some"'), 'bounds: must be "all" or a list of bound names'),
    ("monitor-unknown", spec(LSQ, GD, top='monitors = ["acc"]'), "monitors[0]: unknown monitor 'acc'; did you mean"),
    ("monitor-unsupported", spec(QUAD, GD, top='monitors = ["accuracy"]'),
     "monitors[0]: no problem of this spec supports 'accuracy'"),
    ("schedule-unknown", spec(QUAD, '[[optimizers]]\nname = "sgd"\nschedule = { name = "cosin", T_max = 5 }\n'),
     "optimizers[0].schedule.name: unknown schedule 'cosin'; did you mean 'cosine'?"),
    ("schedule-bad-param", spec(QUAD, '[[optimizers]]\nname = "sgd"\nschedule = { name = "cosine", T_max = 0 }\n'),
     "optimizers[0].schedule.T_max: must be >= 1"),
    ("schedule-not-table", spec(QUAD, '[[optimizers]]\nname = "sgd"\nschedule = "cosine"\n'),
     "optimizers[0].schedule: must be a table like"),
    ("schedule-not-accepted", spec(QUAD, '[[optimizers]]\nname = "newton"\nschedule = { name = "constant" }\n'),
     "optimizers[0].schedule: unknown parameter of newton"),
]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_malformed_spec_one_line_exit_2_nothing_written(text, expected, command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "spec.toml"
    path.write_text(text)
    before = snapshot(tmp_path)
    run_args = ["--out", str(tmp_path / "out"), "--no-report", "-j", "1"]
    argv = [command, str(path)] + (run_args if command == "run" else [])
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"testbed: error: {path}: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err and out == ""
    assert snapshot(tmp_path) == before


def test_every_error_is_reported_at_once():
    text = spec(
        '[[problems]]\nfamily = "quadratc"\n',
        '[[optimizers]]\nname = "sgd"\nlr = -1.0\n',
        '[[optimizers]]\nname = "adam"\ngrid = { lr = 0.1 }\n',
        top="seeds = 0",
    )
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.toml")
    errors = info.value.errors
    assert any(e.startswith("problems[0].family: unknown problem family") for e in errors), errors
    assert any(e.startswith("optimizers[1].grid.lr: every grid value") for e in errors), errors
    assert any(e.startswith("seeds: must be >= 1") for e in errors), errors
    # the literal -1.0 is reported too once the structure is valid
    text2 = spec(QUAD, '[[optimizers]]\nname = "sgd"\nlr = -1.0\n', '[[optimizers]]\nname = "adam"\nlr = 0.0\n')
    with pytest.raises(SpecError) as info:
        parse_spec(text2, "s.toml")
    assert info.value.errors == ["optimizers[0].lr: must be > 0.0, got -1", "optimizers[1].lr: must be > 0.0, got 0"]
    assert str(info.value).startswith("s.toml: 2 errors:\n  optimizers[0].lr")


def test_missing_spec_file_and_debug_traceback(tmp_path, capsys):
    code, _, err = run_cli(["validate", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "does not exist" in err
    with pytest.raises(SpecError):
        cli.main(["--debug", "validate", str(_write(tmp_path, 'name = "x'))])


def test_non_utf8_spec(tmp_path, capsys):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "not UTF-8" in err


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (spec(QUAD, '[[optimizers]]\nname = "sgd"\nlr = -0.1\n'), "optimizers[0].lr: must be > 0.0, got -0.1"),
        (spec(QUAD, GD, head='name = "../../etc"\n[budget]\niters = 5\n'),
         "name: must be a plain file name (letters, digits, '_', '-', '.'; starting with a letter or digit;"
         " at most 64 characters), got '../../etc'"),
    ],
)
def test_real_subprocess_exit_code_and_one_line(text, expected, tmp_path):
    path = _write(tmp_path, text)
    proc = subprocess.run(
        [python(), "-m", "testbed", "run", str(path), "--no-report"],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"testbed: error: {path}: {expected}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_schedule_on_an_optimizer_without_step_size_is_refused(monkeypatch):
    from testbed import optimizers
    from testbed.optimizers.base import REGISTRY

    optimizers.available()

    class NoStep(optimizers.Optimizer):
        name = "nostep_for_test"

        def __init__(self, schedule=None):
            super().__init__(lr=None, schedule=schedule)

        def init(self, x0, problem):
            return None

        def step(self, x, state, oracle, lr):
            return x, state, None

    monkeypatch.setattr(REGISTRY, "_entries", dict(REGISTRY._entries))  # the registry is restored after the test
    REGISTRY.register("nostep_for_test")(NoStep)
    text = spec(QUAD, '[[optimizers]]\nname = "nostep_for_test"\nschedule = { name = "constant" }\n')
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert info.value.errors == [
        "optimizers[0].schedule: nostep_for_test has no step size (lr), so a schedule would have no effect"
    ]
