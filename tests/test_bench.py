"""``testbed bench --quick``: every benchmark runs and prints its rows, and the CSV/Markdown files are written.

No timing is asserted (the machine is shared and noisy); what is checked is that the table is complete,
that quick mode leaves ``met`` empty, and that the references compute what ours computes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import problems
import testbed
from testbed import bench

#: Rows per benchmark in quick mode.
QUICK_ROWS = {
    "run-loop overhead": 3,
    "optimizer step": 2,
    "MLP oracle": 4,
    "sweep throughput": 7,
    "reference cache": 1,
    "PEP": 3,
}


def test_quick_bench_prints_every_row_and_writes_csv_and_markdown(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path / "cache"))  # not the user's reference cache
    assert bench.main(["--quick", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "out" / "bench.csv")
    markdown = (tmp_path / "out" / "bench.md").read_text()
    assert list(frame.columns) == ["benchmark", "case", "ours_s", "reference_s", "ratio", "target", "met", "note"]
    assert frame["benchmark"].value_counts().to_dict() == QUICK_ROWS
    assert list(frame["benchmark"].drop_duplicates()) == list(QUICK_ROWS)  # in the order
    cases = set(frame["case"])
    for case in ("rosenbrock 2-D", "quadratic dim=2", "digits 64-64-10 value_and_grad, 1 thread",
                 "moons 2-32-2 value_and_grad, 1 thread", "gd t=10"):
        assert case in cases
    assert any("vs torch.optim.Adam" in c for c in cases)
    assert any(c.endswith("-j 1 vs -j 2, API") for c in cases)
    assert frame["met"].isna().all()  # quick ratios are not the targets
    assert (frame[["ours_s", "reference_s", "ratio"]] > 0).all().all()
    for case in frame["case"]:
        assert case in markdown and case in printed
    assert markdown.startswith("Machine at start:") and "Quick mode: True" in markdown


def test_an_unknown_benchmark_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--only", "nope", "--out", str(tmp_path)])
    from problems.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="nope"):
        bench.run_benchmarks(["nope"])


def test_the_bare_loop_records_what_testbed_run_records():
    from testbed.bench.loop_overhead import bare_gd

    p = problems.make("rosenbrock")
    ours = testbed.run(p, testbed.optimizers.make("gd", lr="1/L"), iters=50).history
    ref = bare_gd(p, 50)
    from testbed.result import HISTORY_COLUMNS

    same = [c for c in HISTORY_COLUMNS if c not in ("lr", "time_s")]  # ours also has in_region (L on a box)
    np.testing.assert_array_equal(ours[same].to_numpy(), ref[:, [list(ours.columns).index(c) for c in same]])
    np.testing.assert_array_equal(ours["lr"].to_numpy(), ref[:, 5])  # NaN on the last row on both sides


def test_the_torch_reference_computes_the_same_mlp_loss_and_gradient_and_a_mismatch_is_refused():
    pytest.importorskip("torch")
    from testbed.bench.mlp_oracle import _check_equal, torch_value_and_grad

    p = problems.make("mlp", data="moons", hidden=8, l2=1e-2, activation="relu")
    x = p.x0 + 0.1
    ours, ref = p.value_and_grad(x), torch_value_and_grad(p)(x)
    assert ours[0] == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-10, atol=1e-14)
    _check_equal("moons", ours, ref)
    wrong = ref[1].copy()
    wrong[3] += 1e-6
    with pytest.raises(RuntimeError, match="disagree"):
        _check_equal("moons", ours, (ref[0], wrong))
