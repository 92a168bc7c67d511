"""``seed = "run"`` in a problem entry gives every run seed its own problem instance."""

from __future__ import annotations

from testbed.sweep import parse_spec, plan_runs

SPEC = """
name = "run-seed"
seeds = 3
[budget]
iters = 5
[[problems]]
family = "least_squares"
n = 30
d = 4
seed = "run"
[[problems]]
family = "quadratic"
dim = 4
[[optimizers]]
name = "gd"
lr = "1/L"
"""


def _runs():
    return plan_runs(parse_spec(SPEC))


def test_run_seed_is_substituted_per_run():
    runs = _runs()
    ls = [r for r in runs if r["problem"]["family"] == "least_squares"]
    assert [r["problem"]["params"]["seed"] for r in ls] == [r["seed"] for r in ls] == [0, 1, 2]
    assert {r["problem"]["label"] for r in ls} == {"least_squares"}  # one problem, three instances


def test_fixed_problem_seed_is_left_alone():
    quad = [r for r in _runs() if r["problem"]["family"] == "quadratic"]
    assert all("seed" not in r["problem"]["params"] for r in quad)
    assert len({r["run_id"] for r in quad}) == 3


def test_run_seed_instances_differ():
    """The instances are really different problems (different data, hence different f*)."""
    from testbed.sweep.build import make_problem

    ls = [r for r in _runs() if r["problem"]["family"] == "least_squares"]
    f_stars = {round(make_problem("least_squares", r["problem"]["params"]).f_star, 12) for r in ls}
    assert len(f_stars) == 3


def test_a_seed_string_other_than_run_is_an_error():
    import pytest

    from testbed.sweep import SpecError

    with pytest.raises(SpecError) as info:
        parse_spec(SPEC.replace('seed = "run"', 'seed = "runs"'))
    assert any(e.startswith("problems[0]") and "seed" in e for e in info.value.errors), info.value.errors


def test_init_seed_run_varies_only_the_initialisation():
    """``init_seed = "run"`` on the MLP: one data set, a fresh initialisation per run seed."""
    from testbed.sweep.build import make_problem

    spec = parse_spec(
        """
name = "mlp-init"
seeds = 2
[budget]
iters = 3
[[problems]]
family = "mlp"
data = "moons"
n = 40
seed = 0
init_seed = "run"
[[optimizers]]
name = "sgd"
lr = 0.1
"""
    )
    runs = plan_runs(spec)
    params = [r["problem"]["params"] for r in runs]
    assert [p["init_seed"] for p in params] == [0, 1] and [p["seed"] for p in params] == [0, 0]
    a, b = (make_problem("mlp", p) for p in params)
    assert (a.X_train == b.X_train).all() and not (a.x0 == b.x0).all()
