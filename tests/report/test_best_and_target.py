"""Best configuration by final gap treats round-off gaps as ties (broken by cost, then time, to the target), and
the relative target is settable (write_report, build_report, the manifest, `testbed report/run --target`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from problems.errors import UserInputError
from testbed import cli
from testbed.report import build_report, write_report
from testbed.report.build import DEFAULT_TARGET, MAX_LINES, _curve_selection, resolve_target
from testbed.report.tables import best_by_cost, best_by_final_gap, roundoff_tolerance


def _tables(configs: list[tuple[str, str, float, int, float]], f_star: float = 0.0):
    """results/runs of one problem "quad" from (optimizer, config, final gap, iteration reaching the target,
    seconds per iteration); every run starts at gap 1, falls to 1e-4 at its target iteration (target 1e-3
    passed there), then to its final gap at iteration 200."""
    histories, rows = [], []
    for optimizer, config, final_gap, reach, dt in configs:
        run_id = f"run-{config}"
        t = np.arange(201)
        gap = np.where(t < reach, 1.0 - 0.999 * t / reach, 1e-4)
        gap[-1] = final_gap
        f = f_star + gap
        histories.append(pd.DataFrame({
            "run_id": run_id, "problem": "quad", "optimizer": optimizer, "config": config, "seed": 0,
            "status": "max_iters", "f_star": f_star, "iter": t, "f": f, "grad_evals": t, "epochs": t.astype(float),
            "time_s": t * dt,
        }))
        rows.append({"run_id": run_id, "problem": "quad", "optimizer": optimizer, "config": config, "seed": 0,
                     "status": "max_iters", "f": f[-1]})
    return pd.concat(histories, ignore_index=True), pd.DataFrame(rows)


def test_round_off_gaps_are_ties_broken_by_cost_to_target():
    # Study 2's case: two heavy-ball configurations end at f* up to round-off; the gap decides nothing.
    results, runs = _tables([
        ("heavy_ball", "heavy_ball momentum=0.5", -2.66e-15, 40, 1e-3),
        ("heavy_ball", "heavy_ball momentum=0.9", -2.665e-15, 100, 1e-3),
        ("heavy_ball", "heavy_ball momentum=0.99", 1e-6, 20, 1e-3),
    ])
    best = best_by_final_gap(results, runs).set_index("optimizer").loc["heavy_ball"]
    assert best["best_config"] == "heavy_ball momentum=0.5"  # reaches the target at 40, not 100
    assert best["decided_by"] == "round-off tie (2 configurations): fewest gradient evaluations to target"
    # 1e-6 is far above round-off: not a tie, however cheap (20) its way to the target was.
    assert best["final_gap"] == pytest.approx(-2.66e-15, abs=1e-20)


def test_ties_fall_back_to_time_and_real_differences_still_decide():
    results, runs = _tables([
        ("hb", "hb slow-clock", 3e-16, 50, 2e-3),
        ("hb", "hb fast-clock", 5e-16, 50, 1e-3),
        ("gd", "gd a", 1e-9, 150, 1e-3),
        ("gd", "gd b", 1e-6, 10, 1e-3),
    ])
    best = best_by_final_gap(results, runs).set_index("optimizer")
    assert best.loc["hb", "best_config"] == "hb fast-clock"
    assert best.loc["hb", "decided_by"].endswith("equal gradient evaluations to target, then least time")
    assert best.loc["gd", "best_config"] == "gd a" and best.loc["gd", "decided_by"] == "final gap"


def test_the_round_off_level_is_the_certificates_rule():
    from testbed.theory.catalogue import RTOL

    assert roundoff_tolerance(0.0) == RTOL and roundoff_tolerance(-250.0) == pytest.approx(250 * RTOL)
    # f* = 1e4: a gap of 5e-9 is within 1e-12 * |f*| = 1e-8, so it ties with an exact hit.
    results, runs = _tables([("hb", "hb exact", 0.0, 90, 1e-3), ("hb", "hb near", 5e-9, 30, 1e-3)], f_star=1e4)
    assert best_by_final_gap(results, runs)["best_config"].iloc[0] == "hb near"


def test_curve_figures_draw_the_tie_broken_pick():
    configs = [("hb", f"hb m={m}", -2.665e-15 if m == 9 else -2.66e-15, 40 + 10 * m, 1e-3) for m in range(8)]
    results, runs = _tables(configs)
    assert results["config"].nunique() > MAX_LINES
    drawn, note = _curve_selection(best_by_final_gap(results, runs), results)
    assert set(drawn["config"]) == {"hb m=0"}  # not m=7's noise-level "better" gap
    assert "round-off ties broken by cost" in note


def test_target_changes_the_cost_table_and_the_tie_break():
    results, runs = _tables([("hb", "hb a", 0.0, 60, 1e-3), ("hb", "hb b", 0.0, 120, 1e-3)])
    # A loose target (0.5: half-way) is reached at iteration ~30 and ~60; 1e-3 at 60 and 120.
    loose = best_by_cost(results, runs, tol=0.5).iloc[0]
    tight = best_by_cost(results, runs, tol=1e-3).iloc[0]
    assert loose["cost"] < tight["cost"] == 60
    assert best_by_final_gap(results, runs, tol=0.5)["best_config"].iloc[0] == "hb a"


def test_resolve_target_default_alias_manifest_and_errors():
    assert DEFAULT_TARGET == 1e-3 and resolve_target() == 1e-3
    assert resolve_target(1e-8) == 1e-8 and resolve_target(tol=1e-6) == 1e-6
    assert resolve_target(manifest={"target": 0.01}) == 0.01 and resolve_target(0.2, manifest={"target": 0.01}) == 0.2
    with pytest.raises(UserInputError, match="target: give target or its alias tol"):
        resolve_target(1e-3, 1e-4)
    with pytest.raises(UserInputError, match="target: must be < 1"):
        resolve_target(1.5)
    with pytest.raises(UserInputError, match="tol: must be > 0"):
        resolve_target(tol=0.0)


def _copy(results_dir: Path, target: Path) -> Path:
    shutil.copytree(results_dir, target)
    return target


def test_write_report_states_the_target_wherever_it_is_used(results_dir, tmp_path):
    root = _copy(results_dir, tmp_path / "r")
    md_path = write_report(root, formats=("md",), target=0.25)
    md = md_path.read_text(encoding="utf-8")
    assert "relative target 0.25" in md  # subtitle
    assert "| relative target | 0.25: target gap = 0.25·(f(x0) − f\\_ref) |" in md
    assert "### Best configuration by cost to reach the target gap target·(f(x0) − f\\_ref), target = 0.25" in md
    assert md.count("target = 0.25 (solved once f ≤ f\\_L + 0.25·(f(x0) − f\\_L))") == 2  # both profiles
    assert "δ = 0.25·(f(x0) − min observed f)" in md


def test_the_default_target_is_stated(written_report):
    text = written_report.read_text(encoding="utf-8")
    assert "relative target 0.001" in text and "target = 0.001" in text


def test_the_manifest_can_carry_the_target(results_dir, tmp_path):
    root = _copy(results_dir, tmp_path / "r")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["target"] = 0.05
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert "relative target 0.05" in build_report(root).subtitle  # an explicit target would win: see resolve_target


def test_cli_report_and_run_take_a_target(results_dir, tmp_path, capsys):
    root = _copy(results_dir, tmp_path / "r")
    assert cli.main(["report", str(root), "--target", "1e-8"]) == 0
    assert "relative target 1e-08" in (root / "index.html").read_text(encoding="utf-8")
    assert cli.main(["report", str(root), "--target", "3"]) == 2
    assert "--target: must be < 1.0, got 3" in capsys.readouterr().err
    spec = tmp_path / "s.toml"
    spec.write_text('name = "t"\nseeds = 1\nbounds = []\n[budget]\niters = 15\n'
                    '[[problems]]\nfamily = "quadratic"\ndim = 3\n[[optimizers]]\nname = "gd"\n')
    out = tmp_path / "o"
    assert cli.main(["run", str(spec), "--out", str(out), "-j", "1", "--quiet", "--target", "0.02"]) == 0
    assert "relative target 0.02" in (out / "index.html").read_text(encoding="utf-8")
    assert cli.main(["run", str(spec), "--out", str(tmp_path / "o2"), "--target", "-1"]) == 2
    assert not (tmp_path / "o2").exists()  # a bad target is refused before anything runs
