"""Every figure type drawn from the synthetic results: panels, lines, labels, scales, and a PNG that decodes."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import problems
import testbed
from problems.errors import UserInputError
from testbed import plots
from testbed.plots.certificates import certificate_states
from testbed.plots.data import GAP_FLOOR, aggregate_seeds, gap_to_reference
from testbed.plots.gradients import descent_slack_table
from testbed.plots.sensitivity import sensitivity_table


def decode_png(fig) -> tuple[int, int]:
    from PIL import Image

    data = plots.to_png(fig, dpi=40)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size[0] > 100 and img.size[1] > 50
        return img.size


def line_labels(ax) -> set[str]:
    return {line.get_label() for line in ax.get_lines()}


def legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def panel(fig, title: str):
    matches = [ax for ax in fig.axes if ax.get_title().split("\n")[0] == title]
    assert len(matches) == 1, [ax.get_title() for ax in fig.axes]
    return matches[0]


def test_suboptimality_draws_each_run_under_its_bounds(tables):
    fig = plots.suboptimality(tables["results"], curves=tables["curves"])
    assert [ax.get_title() for ax in fig.axes] == ["logreg", "quad-5", "rosen-2"]
    quad = panel(fig, "quad-5")
    assert quad.get_yscale() == "log" and quad.get_xlabel() == "iteration t"
    assert quad.get_ylabel() == "f(x) − f*"
    assert "min observed" in panel(fig, "rosen-2").get_ylabel()  # f* unknown: said so
    assert "f_L" in panel(fig, "rosen-2").get_ylabel()
    labels = line_labels(quad)
    assert {"gd lr=0.25", "gd lr=0.6", "adam lr=0.01", "adam lr=0.1"} <= labels
    assert {"bound: gd_sublinear (gd lr=0.25)", "bound: gd_tight (gd lr=0.25)"} <= labels
    assert not any("descent_lemma" in label for label in labels)  # a bound on f, not on the gap
    assert "diverged (gd lr=0.6)" in labels
    lines = {line.get_label(): line for line in quad.get_lines()}
    empirical = lines["gd lr=0.25"].get_ydata()
    for name in ("gd_sublinear", "gd_tight"):
        bound = lines[f"bound: {name} (gd lr=0.25)"]
        assert np.array_equal(bound.get_xdata(), lines["gd lr=0.25"].get_xdata())
        assert np.all(empirical <= bound.get_ydata())
        assert bound.get_linestyle() != "-"
    texts = legend_texts(fig)
    assert "gd lr=0.25" in texts and "bound: gd_tight" in texts and "run diverged (last finite point)" in texts
    assert "min–max" in fig.get_suptitle()
    decode_png(fig)


def test_suboptimality_other_axes_band_and_bad_input(tables):
    results = tables["results"]
    fig = plots.suboptimality(results, x="grad_evals", band="iqr", problems=["quad-5"], curves=tables["curves"],
                              bounds=["gd_tight"])
    assert [ax.get_xlabel() for ax in fig.axes] == ["gradient evaluations"]
    assert {label for label in line_labels(fig.axes[0]) if "bound" in label} == {"bound: gd_tight (gd lr=0.25)"}
    assert "interquartile" in fig.get_suptitle()
    fig = plots.suboptimality(results, x="time_s", problems=["rosen-2"])
    assert fig.axes[0].get_xlabel() == "wall time (s)"
    with pytest.raises(UserInputError, match="x: must be one of"):
        plots.suboptimality(results, x="flops")
    with pytest.raises(UserInputError, match=r"unknown problem.*'nope'.*available: logreg, quad-5, rosen-2"):
        plots.suboptimality(results, problems=["nope"])
    with pytest.raises(UserInputError, match="missing column"):
        plots.suboptimality(results.drop(columns=["f_star"]))


def test_seed_aggregation_on_a_common_grid():
    df = pd.DataFrame({
        "problem": "p", "config": "c",
        "run_id": ["a", "a", "a", "b", "b", "c"],
        "x": [0.0, 2.0, 4.0, 0.0, 3.0, 1.0],
        "y": [4.0, 2.0, 1.0, 8.0, 6.0, 10.0],
    })
    agg = aggregate_seeds(df[df["run_id"] != "c"], "x", "y")
    assert agg["x"].tolist() == [0.0, 2.0, 3.0, 4.0]
    # a holds its last value between records, b keeps its final value after stopping.
    assert agg["center"].tolist() == [6.0, 5.0, 4.0, 3.5]
    assert agg["lo"].tolist() == [4.0, 2.0, 2.0, 1.0]
    assert agg["hi"].tolist() == [8.0, 8.0, 6.0, 6.0]
    with_late = aggregate_seeds(df, "x", "y")
    assert with_late["n"].tolist() == [2, 3, 3, 3, 3]  # c has no value before its first record at x = 1
    thin = aggregate_seeds(df, "x", "y", max_points=3)
    assert thin["x"].tolist() == [0.0, 2.0, 4.0]  # every other point of the 5-point grid
    assert thin["center"].tolist() == with_late["center"].iloc[[0, 2, 4]].tolist()
    iqr = aggregate_seeds(df[df["run_id"] != "c"], "x", "y", band="iqr")
    assert iqr["lo"].iloc[0] == pytest.approx(5.0) and iqr["hi"].iloc[0] == pytest.approx(7.0)


def test_gap_reference_floor_and_f_L_below_the_min_observed():
    df = pd.DataFrame({"run_id": ["k"] * 3 + ["u1", "u1", "u2"], "iter": [0, 1, 2, 0, 1, 0],
                       "problem": ["known"] * 3 + ["unknown"] * 3, "f_star": [1.0] * 3 + [np.nan] * 3,
                       "f": [2.0, 1.0, 1.0 - 1e-18, 5.0, 3.0, 4.0]})
    out, certified = gap_to_reference(df, target=0.1)
    assert certified["known"] and not certified["unknown"]
    gap = out["gap"].to_numpy()
    assert gap[0] == 1.0 and gap[1] == gap[2] == GAP_FLOOR  # f* reached up to roundoff: drawn at the floor
    # f* unknown: f_L = min f - delta, delta = 0.1 * (median f(x0) - min f) = 0.1 * (4.5 - 3) = 0.15, so the
    # run attaining the minimum is drawn at delta instead of being left out (gap 0 on a log axis).
    assert gap[3:] == pytest.approx([2.15, 0.15, 1.15])
    assert out["gap_floor"].to_numpy()[3:] == pytest.approx([0.15] * 3)


def test_grad_norm_figure(tables):
    fig = plots.grad_norm(tables["results"], configs=["gd lr=0.25", "adam lr=0.01"])
    assert [ax.get_title() for ax in fig.axes] == ["logreg", "quad-5", "rosen-2"]
    quad = panel(fig, "quad-5")
    assert quad.get_yscale() == "log" and quad.get_ylabel() == "‖∇f(x)‖"
    assert line_labels(quad) == {"gd lr=0.25", "adam lr=0.01"}
    decode_png(fig)


def _tidy(run: testbed.Run, problem: str, config: str) -> pd.DataFrame:
    h = run.history.copy()
    h.insert(0, "run_id", f"{problem}/{config}")
    for key, value in {"problem": problem, "config": config, "optimizer": "gd", "status": run.status,
                       "L": run.L, "f_star": run.f_star, "seed": 0}.items():
        h[key] = value
    return h


@pytest.fixture(scope="module")
def gd_runs() -> pd.DataFrame:
    """Real gradient-descent runs on an L-smooth quadratic (L = 1) at steps 1/L, 0.5/L and 2.5/L."""
    p = problems.make("quadratic", dim=6, kappa=10.0)
    runs = [testbed.run(p, testbed.optimizers.make("gd", lr=lr), iters=25) for lr in ("1/L", "0.5/L", "2.5/L")]
    return pd.concat([_tidy(r, "quadratic", c) for r, c in zip(runs, ("h=1", "h=0.5", "h=2.5"), strict=True)])


def test_descent_lemma_slack_holds_at_step_1_over_L_and_fails_where_theory_says(gd_runs):
    tol = 1e-12
    lecture = descent_slack_table(gd_runs, "lecture").groupby("config")["slack"]
    # Lecture 8: with step 1/L, f(x_t+1) <= f(x_t) - ||g_t||^2 / (2L) at every step.
    assert lecture.min()["h=1"] >= -tol
    # With step 0.5/L the decrease is eta (1 - L eta / 2) ||g||^2 < ||g||^2 / (2L): the lecture's slack is < 0
    # at every step; beyond 2/L f can increase.
    assert lecture.max()["h=0.5"] < 0
    assert lecture.min()["h=2.5"] < 0
    # The descent lemma itself, f(y) <= f(x) + <g, y - x> + L/2 ||y - x||^2, holds for every step size ...
    step = descent_slack_table(gd_runs, "step").groupby("config")["slack"]
    assert step.min().min() >= -tol
    # ... unless L understates the smoothness constant (true L = 1 here).
    understated = descent_slack_table(gd_runs.assign(L=0.2), "step").groupby("config")["slack"]
    assert understated.min()["h=2.5"] < 0 and understated.min()["h=1"] < 0
    fig = plots.descent_slack(gd_runs)
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog" and line_labels(ax) >= {"h=1", "h=0.5", "h=2.5"}
    table = descent_slack_table(gd_runs)
    bad = (table["slack"] < -table["tol"]).groupby(table["config"]).sum()
    assert bad["h=1"] == 0 and bad["h=0.5"] == 25 and bad["h=2.5"] > 0
    assert {"h=1: 0/25 steps < 0", "h=0.5: 25/25 steps < 0"} <= set(legend_texts(fig))
    assert any(p.get_facecolor()[0] > 0.5 for p in ax.patches)  # the shaded violation region
    decode_png(fig)


def test_descent_slack_needs_L(tables):
    no_l = tables["results"].assign(L=np.nan)
    with pytest.raises(plots.NoDataError, match="finite L"):
        plots.descent_slack(no_l)


def test_lr_sensitivity_marks_diverged_learning_rates(tables):
    runs = tables["runs"]
    table = sensitivity_table(runs).set_index(["problem", "optimizer", "base_lr"])
    assert bool(table.loc[("quad-5", "gd", 0.6), "diverged"]) is True
    assert table.loc[("quad-5", "gd", 0.25), "metric"] == "f_gap"
    expected = runs[runs["config"] == "gd lr=0.25"]["f_gap"].mean()
    assert table.loc[("quad-5", "gd", 0.25), "value"] == pytest.approx(expected)
    assert table.loc[("rosen-2", "gd", 0.001), "metric"] == "f"  # f* unknown: final loss
    assert "lbfgs" not in table.index.get_level_values("optimizer")  # no learning rate
    fig = plots.lr_sensitivity(runs)
    quad = panel(fig, "quad-5")
    assert quad.get_xscale() == "log" and quad.get_yscale() == "log"
    assert {"adam", "gd", "gd diverged"} <= line_labels(quad)
    marker = next(line for line in quad.get_lines() if line.get_label() == "gd diverged")
    assert marker.get_xdata().tolist() == [0.6] and marker.get_marker() == "X"
    assert "diverged (at top)" in legend_texts(fig)
    assert "f* unknown" in panel(fig, "rosen-2").get_ylabel()
    decode_png(fig)
    with pytest.raises(plots.NoDataError, match="learning rate"):
        plots.lr_sensitivity(runs.assign(base_lr=np.nan))


def test_profile_figures_say_which_reference_they_used(tables):
    results = tables["results"]
    fig = plots.performance_profile(results, tol=1e-3)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert sorted(label.split()[0] for label in line_labels(ax)) == ["adam", "gd", "sgd"]
    title = fig.get_suptitle().replace("\n", " ")
    assert "certified f* on 1 problem (quad-5)" in title
    assert "best value found on 2 problems (logreg, rosen-2)" in title
    assert "target = 0.001" in title and "f_L + 0.001·(f(x0) − f_L)" in title
    decode_png(fig)
    fig = plots.data_profile(results, dims={"quad-5": 5, "rosen-2": 2, "logreg": 5})
    assert "simplex gradients" in fig.axes[0].get_xlabel()
    decode_png(fig)
    with pytest.raises(plots.NoDataError, match="dimensions are unknown"):
        plots.data_profile(results)


def test_certificate_states_roundoff_is_held_and_no_verdict_is_not_applicable():
    cert = pd.DataFrame({"run_id": list("abcd"), "bound": "b", "applicable": [True, True, True, False],
                         "held": pd.array([True, False, pd.NA, pd.NA], dtype="boolean"),
                         "roundoff": [False, True, False, False]})
    assert certificate_states(cert)["state"].tolist() == ["held", "held", "not applicable", "not applicable"]
    cert.loc[1, "roundoff"] = False
    assert certificate_states(cert)["state"].tolist()[1] == "violated"


def test_certificate_heatmap(tables):
    fig = plots.certificate_heatmap(tables["certificates"], tables["runs"])
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert len(rows) == 16 and cols == ["descent_lemma", "gd_sublinear", "gd_tight", "strongly_convex_linear"]
    matrix = np.asarray(ax.images[0].get_array())
    codes = {"not applicable": 0, "held": 1, "violated": 2}
    assert matrix[rows.index("quad-5 · gd lr=0.6 · seed 0"), 0] == codes["violated"]
    assert matrix[rows.index("quad-5 · gd lr=0.25 · seed 1"), 2] == codes["held"]  # within round-off
    assert matrix[rows.index("logreg · sgd lr=0.1 · seed 0"), 1] == codes["not applicable"]
    assert "violated (2)" in legend_texts(fig)
    decode_png(fig)
    merged = plots.certificate_heatmap(tables["certificates"], tables["runs"], max_rows=4)
    merged_rows = [t.get_text() for t in merged.axes[0].get_yticklabels()]
    assert len(merged_rows) == 8 and "quad-5 · gd lr=0.6" in merged_rows
    assert "seeds merged" in merged.get_suptitle()
    with pytest.raises(plots.NoDataError):
        plots.certificate_heatmap(tables["certificates"].iloc[:0])


def test_training_curves(tables):
    fig = plots.training_curves(tables["results"])
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["logreg: loss", "logreg: accuracy"]
    loss, acc = fig.axes
    assert loss.get_yscale() == "linear" and acc.get_yscale() == "linear"  # the loss spans less than a decade
    assert len(loss.get_lines()) == 4 and len(acc.get_lines()) == 4  # 2 configs x (training, test)
    assert sorted(line.get_linestyle() for line in acc.get_lines()) == ["-", "-", "--", "--"]
    assert {"training", "test"} <= set(legend_texts(fig))
    decode_png(fig)
    accuracy_only = plots.training_curves(tables["results"].drop(columns=["test_f"]))
    assert accuracy_only.axes[0].get_title() == "logreg: loss  (test loss not recorded)"
    assert len(accuracy_only.axes[0].get_lines()) == 2
    with pytest.raises(plots.NoDataError, match="monitor columns"):
        plots.training_curves(tables["results"].drop(columns=["test_f", "train_acc", "test_acc"]))


def test_figures_leave_matplotlib_global_state_alone(tables):
    import matplotlib

    before = dict(matplotlib.rcParams)
    fig = plots.certificate_heatmap(tables["certificates"], tables["runs"])
    assert dict(matplotlib.rcParams) == before
    assert plots.to_png(fig, dpi=40) == plots.to_png(fig, dpi=40)  # reproducible bytes


def test_importing_plots_and_reports_stays_light():
    code = ("import sys, testbed.plots, testbed.report, testbed.profiles; "
            "print(sorted(m for m in ('matplotlib', 'seaborn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
