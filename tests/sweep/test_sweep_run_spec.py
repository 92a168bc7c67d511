"""``testbed.sweep.run_spec`` takes a path, a dict or a parsed spec; dict specs round-trip through TOML."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed import storage
from testbed.sweep import SpecError, parse_spec, run_spec
from testbed.sweep.toml_writer import dumps

SPEC = {
    "name": "mini",
    "seeds": 2,
    "budget": {"iters": 20},
    "problems": [{"family": "quadratic", "dim": 5, "seed": "run"}],
    "optimizers": [
        {"name": "gd", "lr": "1/L"},
        {"name": "adam", "betas": [0.9, 0.99], "grid": {"lr": [0.1, 0.01]}},
    ],
}


def test_dict_spec_runs_like_a_file(tmp_path):
    a = run_spec(SPEC, tmp_path / "a", n_jobs=1)
    path = tmp_path / "mini.toml"
    path.write_text(dumps(SPEC))
    b = run_spec(path, tmp_path / "b", n_jobs=1)
    assert a.ok and b.ok and a.executed == b.executed == 6
    ra = storage.load_results(a.out_dir).drop(columns=["time_s"])
    rb = storage.load_results(b.out_dir).drop(columns=["time_s"])
    assert ra.sort_values(["run_id", "iter"]).reset_index(drop=True).equals(
        rb.sort_values(["run_id", "iter"]).reset_index(drop=True)
    )
    assert tomllib.loads((a.out_dir / "spec.toml").read_text()) == SPEC


def test_dict_spec_errors_are_all_reported_before_anything_is_written(tmp_path):
    bad = {**SPEC, "optimizers": [{"name": "adma", "lr": -0.1}]}
    with pytest.raises(SpecError) as info:
        run_spec(bad, tmp_path / "out")
    assert any("adam" in e for e in info.value.errors)
    assert not (tmp_path / "out").exists()


def test_dict_with_a_non_toml_value_is_refused():
    with pytest.raises(ValueError, match=r"budget\.iters"):
        parse_spec({**SPEC, "budget": {"iters": object()}})


def test_seed_above_int64_is_refused():
    with pytest.raises(SpecError, match=r"seeds\[0\]: must be <="):
        parse_spec({**SPEC, "seeds": [2**63]})


_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
_keys = st.text(alphabet="abcxyz_- .é", min_size=1, max_size=6)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
_tables = st.dictionaries(_keys, _values, max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, st.one_of(_values, _tables, st.lists(_tables, min_size=1, max_size=2)), max_size=5))
def test_toml_writer_round_trips(doc):
    assert tomllib.loads(dumps(doc)) == doc
