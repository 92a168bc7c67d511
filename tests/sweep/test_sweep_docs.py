"""experiments/README.md and experiments/quickstart.toml stay true: every example validates, the quickstart runs."""

from __future__ import annotations

import re

import pytest
from sweep_helpers import REPO

from testbed import storage
from testbed.sweep import load_spec, parse_spec, plan_runs, run_sweep

README = REPO / "experiments" / "README.md"
QUICKSTART = REPO / "experiments" / "quickstart.toml"

PROBLEMS = """
[[problems]]
family = "logistic"
n = 200
d = 3
[[problems]]
family = "least_squares"
n = 100
d = 3
"""


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.DOTALL)


def complete(fragment: str) -> str:
    """A README fragment made into a whole spec: name, budget, problems and an optimizer added where missing."""
    text = fragment
    top = re.split(r"^\[", text, maxsplit=1, flags=re.MULTILINE)[0]  # the keys before the first table
    if not re.search(r"^name\s*=", top, flags=re.MULTILINE):
        text = 'name = "doc"\n' + text
    if "[budget]" not in text:
        text += "\n[budget]\niters = 3\n"
    if "[[problems]]" not in text:
        text += PROBLEMS
    if "[[optimizers]]" not in text:
        text += '\n[[optimizers]]\nname = "gd"\n'
    return text


def test_readme_has_an_example_per_feature():
    blocks = "\n".join(toml_blocks())
    for feature in ("seeds", "record_every", "batch_size", "bounds", "monitors", "[budget]", "label", "schedule",
                    "grid", "zip", "problems = [", '"1/L"', "betas = [[0.9, 0.999]]"):
        assert feature in blocks, feature


@pytest.mark.parametrize("index", range(len(toml_blocks())))
def test_every_readme_example_validates(index):
    fragment = toml_blocks()[index]
    text = complete(fragment)
    if "quadratic" in fragment:  # the README's problem examples: keep them as written
        text = text.replace(PROBLEMS, "")
    spec = parse_spec(text, f"README block {index}")
    assert plan_runs(spec)


def test_readme_zip_example_expands_as_documented():
    block = next(b for b in toml_blocks() if "zip = " in b)
    runs = plan_runs(parse_spec(complete(block)))
    hps = [r["optimizer"]["hparams"] for r in runs if r["problem"]["label"] == "logistic"]
    pts = [(h["lr"], h["momentum"], h["nesterov"]) for h in hps]
    assert pts == [(0.1, 0.5, False), (0.1, 0.5, True), (0.01, 0.9, False), (0.01, 0.9, True)]


def test_quickstart_runs_completely_on_two_workers(tmp_path):
    spec = load_spec(QUICKSTART)
    assert {e.name for e in spec.problems} == {"quadratic", "least_squares", "logistic", "rosenbrock"}
    assert {e.name for e in spec.optimizers} == {"gd", "heavy_ball", "nesterov", "adam"}
    outcome = run_sweep(spec, tmp_path / "qs", n_jobs=2, quiet=True)
    assert outcome.ok and outcome.executed == len(plan_runs(spec)) == 48
    runs = storage.load_runs(tmp_path / "qs")
    assert set(runs["status"]) <= {"max_iters", "converged", "diverged"}
    cert = storage.load_certificates(tmp_path / "qs")
    held = cert[cert["applicable"]]
    assert len(held) > 0 and held["held"].all()
