"""The grid rule: literal values, grid tables of candidate lists, products and zips."""

from __future__ import annotations

import pytest

from testbed.sweep import SpecError, parse_spec, plan_runs
from testbed.sweep.grid import format_value, parse_entry

STRUCT = frozenset({"name", "label", "grid", "zip"})


def entry(raw: dict):
    errors: list[str] = []
    e = parse_entry(raw, "optimizers", 0, "name", STRUCT, errors)
    return e, errors


def values(raw: dict) -> list[dict]:
    e, errors = entry(raw)
    assert errors == []
    return [p.values for p in e.points()]


def test_literal_sequence_is_one_value():
    assert values({"name": "adam", "betas": [0.9, 0.999]}) == [{"betas": [0.9, 0.999]}]


def test_grid_of_pairs_gives_one_configuration_per_pair():
    pts = values({"name": "adam", "grid": {"betas": [[0.9, 0.999], [0.5, 0.9]]}})
    assert pts == [{"betas": [0.9, 0.999]}, {"betas": [0.5, 0.9]}]


def test_grid_of_one_pair():
    assert values({"name": "adam", "grid": {"betas": [[0.9, 0.999]]}}) == [{"betas": [0.9, 0.999]}]


def test_grid_of_scalars_where_pairs_expected_is_two_candidates_and_fails_in_validation(write_spec):
    # betas = [0.9, 0.999] inside a grid is two scalar candidates -> the optimizer refuses each, located.
    e, errors = entry({"name": "adam", "grid": {"betas": [0.9, 0.999]}})
    assert errors == [] and [p.values["betas"] for p in e.points()] == [0.9, 0.999]
    text = """
name = "x"
[budget]
iters = 3
[[problems]]
family = "quadratic"
[[optimizers]]
name = "adam"
grid = { betas = [0.9, 0.999] }
"""
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert any(err.startswith("optimizers[0].grid.betas[0]") for err in info.value.errors), info.value.errors
    assert any(err.startswith("optimizers[0].grid.betas[1]") for err in info.value.errors), info.value.errors


def test_product_order_first_axis_slowest_and_literals_kept():
    pts = values({"name": "sgd", "momentum": 0.9, "grid": {"lr": [1, 2], "dampening": [0.0, 0.5, 0.1]}})
    assert [(p["lr"], p["dampening"]) for p in pts] == [(1, 0.0), (1, 0.5), (1, 0.1), (2, 0.0), (2, 0.5), (2, 0.1)]
    assert all(p["momentum"] == 0.9 for p in pts)


def test_zip_pairs_axes_and_stays_a_single_product_axis():
    raw = {"name": "sgd", "grid": {"lr": [0.1, 0.01], "nesterov": [False, True], "momentum": [0.0, 0.9]},
           "zip": [["lr", "momentum"]]}
    pts = values(raw)
    assert [(p["lr"], p["momentum"], p["nesterov"]) for p in pts] == [
        (0.1, 0.0, False), (0.1, 0.0, True), (0.01, 0.9, False), (0.01, 0.9, True)
    ]


def test_zip_allows_repeated_values_within_one_axis():
    pts = values({"name": "sgd", "grid": {"lr": [0.1, 0.1], "momentum": [0.0, 0.9]}, "zip": [["lr", "momentum"]]})
    assert len(pts) == 2


def test_origins_name_the_spot_in_the_file():
    e, _ = entry({"name": "adam", "eps": 1e-8, "grid": {"lr": [0.1, 0.2]}})
    p = list(e.points())[1]
    assert p.where("lr", "?") == "optimizers[0].grid.lr[1]"
    assert p.where("eps", "?") == "optimizers[0].eps"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"name": "sgd", "grid": {"lr": 0.1}}, "optimizers[0].grid.lr: every grid value is a list of candidates"),
        ({"name": "sgd", "grid": {"lr": []}}, "optimizers[0].grid.lr: empty list"),
        ({"name": "sgd", "grid": {}}, "optimizers[0].grid: is empty"),
        ({"name": "sgd", "lr": 0.1, "grid": {"lr": [0.2]}}, "given both literally"),
        ({"name": "sgd", "grid": {"lr": [0.1, 0.1]}}, "optimizers[0].grid.lr[1]: candidate 0.1 repeats"),
        ({"name": "sgd", "grid": {"label": ["a", "b"]}}, "optimizers[0].grid.label: 'label' cannot be swept"),
        ({"name": "sgd", "grid": {"lr": [0.1, 0.2], "momentum": [0.0, 0.5, 0.9]}, "zip": [["lr", "momentum"]]},
         "zipped axes must have the same number of candidates; 'lr' has 2, 'momentum' has 3"),
        ({"name": "sgd", "grid": {"lr": [0.1, 0.2]}, "zip": [["lr", "momentun"]]}, "'momentun' is not a grid axis"),
        ({"name": "sgd", "zip": [["lr", "momentum"]]}, "optimizers[0].zip: zip pairs grid axes, but this entry has"),
        ({"name": "sgd", "grid": {"lr": [0.1, 0.2]}, "zip": [["lr"]]}, "at least two grid axes"),
        ({"name": "sgd", "grid": {"lr": [1, 2], "momentum": [1, 2], "dampening": [1, 2]},
          "zip": [["lr", "momentum"], ["momentum", "dampening"]]}, "is already zipped"),
        ({"name": "sgd", "grid": {"lr": [1, 1], "momentum": [0, 0]}, "zip": [["lr", "momentum"]]},
         "candidate (1, 0) repeats"),
        ({"name": "sgd", "grid": "lr"}, "must be a table of lists"),
    ],
)
def test_grid_errors(raw, expected):
    e, errors = entry(raw)
    assert e is None
    assert any(expected in err for err in errors), errors


def test_labels_show_swept_values_only():
    text = """
name = "x"
[budget]
iters = 3
[[problems]]
family = "quadratic"
grid = { kappa = [10.0, 100.0] }
[[optimizers]]
name = "adam"
eps = 1e-8
grid = { lr = [0.01], betas = [[0.9, 0.99]] }
"""
    runs = plan_runs(parse_spec(text))
    assert [r["problem"]["label"] for r in runs] == ["quadratic kappa=10.0", "quadratic kappa=100.0"]
    assert runs[0]["optimizer"]["config"] == "adam lr=0.01 betas=(0.9, 0.99)"
    assert runs[0]["optimizer"]["label"] == "adam"


def test_format_value():
    assert format_value({"name": "cosine", "T_max": 10}) == "cosine(T_max=10)"
    assert format_value([0.9, 0.999]) == "(0.9, 0.999)"
    assert format_value(True) == "true"
    assert format_value(1e-5) == "1e-05"


def test_run_ids_are_stable_distinct_and_change_with_the_configuration():
    base = """
name = "x"
seeds = 2
[budget]
iters = 3
[[problems]]
family = "quadratic"
[[optimizers]]
name = "adam"
grid = { lr = [0.01, 0.1] }
"""
    a = [r["run_id"] for r in plan_runs(parse_spec(base))]
    b = [r["run_id"] for r in plan_runs(parse_spec(base))]
    c = [r["run_id"] for r in plan_runs(parse_spec(base.replace("iters = 3", "iters = 4")))]
    assert a == b and len(set(a)) == 4
    assert not set(a) & set(c)
