"""The certificate summary reports how tight each bound was: max over t >= 1 of observed/bound and where."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from testbed.report.tables import certificate_checks, certificate_summary
from testbed.report.tightness import is_f_value_step, tightness


def _curves(run_id: str, bound: str, bound_values, observed) -> pd.DataFrame:
    n = len(bound_values)
    return pd.DataFrame({"run_id": run_id, "bound": bound, "iter": np.arange(n), "bound_value": bound_values,
                         "observed": observed})


def _one(table: pd.DataFrame, run_id: str, bound: str) -> pd.Series:
    return table.set_index(["run_id", "bound"]).loc[(run_id, bound)]


def test_t0_and_round_off_points_are_left_out_and_the_argmax_is_reported():
    # t = 0 is the triviality f(x0) - f* <= f(x0) - f* (ratio 1); t = 5 compares two round-off errors.
    curves = _curves("r", "gd_convex_rate", [1.0, 0.5, 0.4, 0.3, 0.2, 1e-20], [1.0, 0.2, 0.3, 0.1, 0.05, 1e-17])
    row = _one(tightness(curves, pd.DataFrame()), "r", "gd_convex_rate")
    assert row["tightness"] == pytest.approx(0.75) and row["tight_iter"] == 2 and row["ratio_points"] == 4


def test_a_violation_has_ratio_above_one_and_no_usable_point_gives_nan():
    curves = pd.concat([
        _curves("v", "nesterov_convex", [2.0, 1.0, 0.5], [2.0, 0.9, 0.6]),
        _curves("z", "nesterov_convex", [1.0, 1e-30], [1.0, 0.0]),
    ])
    table = tightness(curves, pd.DataFrame())
    assert _one(table, "v", "nesterov_convex")["tightness"] == pytest.approx(1.2)
    empty = _one(table, "z", "nesterov_convex")
    assert np.isnan(empty["tightness"]) and empty["tight_iter"] == -1


def test_per_step_inequalities_on_f_compare_decreases_not_f_values():
    assert is_f_value_step("descent_lemma") and is_f_value_step("newton_damped_phase")
    assert not is_f_value_step("gd_convex_rate") and not is_f_value_step("not_a_bound")
    f = np.array([10.0, 8.0, 7.5, 7.4])
    guaranteed = np.array([1.0, 0.4, 0.01])  # actual decreases: 2, 0.5, 0.1 -> ratios 0.5, 0.8, 0.1
    curves = pd.DataFrame({"run_id": "d", "bound": "descent_lemma", "iter": [1, 2, 3],
                           "bound_value": f[:-1] - guaranteed, "observed": f[1:]})
    results = pd.DataFrame({"run_id": "d", "iter": np.arange(4), "f": f, "f_star": np.nan})
    row = _one(tightness(curves, results), "d", "descent_lemma")
    # observed/bound of the f values would say 0.99 (7.4 / 7.49): meaningless, it depends on f's constant.
    assert row["tightness"] == pytest.approx(0.8) and row["tight_iter"] == 2


def test_report_tables_show_tightness_instead_of_the_worst_slack_iteration(tables):
    checks = certificate_checks(tables["certificates"], tables["runs"], tables["curves"], tables["results"])
    assert "tightness" in checks.columns and "worst_rel_slack" not in checks.columns
    assert "worst_iter" not in checks.columns
    row = checks[(checks["config"] == "gd lr=0.25") & (checks["seed"] == 0) & (checks["bound"] == "gd_sublinear")]
    # gap 0.7^t (x noise) under 2 L R^2 / (t + 4) = 16 / (t + 4): closest at t = 1 (ratio ~0.7/3.2), whereas
    # the smallest absolute slack is at the last iteration.
    assert row["tight_iter"].iloc[0] == 1 and row["tightness"].iloc[0] == pytest.approx(0.7 / 3.2, rel=0.03)
    violated = checks[checks["state"] == "violated"]
    assert (violated["tightness"] > 1).all()
    summary = certificate_summary(tables["certificates"], tables["curves"], tables["results"], tables["runs"])
    sub = summary.set_index("bound").loc["gd_sublinear"]
    assert sub["tightness"] == checks.loc[checks["bound"] == "gd_sublinear", "tightness"].max()
    assert sub["tight_run"].startswith("quad-5 · ") and sub["tight_iter"] >= 1


def test_the_report_explains_the_tightness(written_report):
    text = written_report.read_text(encoding="utf-8")
    assert "Tightness = max over checked iterations t ≥ 1 of observed/bound" in text
    assert "worst relative slack" not in text and "tightest observed/bound" in text
