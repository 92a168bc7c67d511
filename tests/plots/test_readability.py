"""Figures stay readable on real studies: log cost axes when lines end decades apart, an f_L that does not
plunge, distinct colours per optimizer with shades and markers per configuration, accuracy y limits from the
data, and an honest gradient-norm panel on constrained problems."""

from __future__ import annotations

import colorsys

import numpy as np
import pandas as pd
import pytest

from testbed import plots
from testbed.plots.data import constrained_problems, gap_to_reference
from testbed.plots.gradients import CONSTRAINED_NOTE
from testbed.plots.style import config_styles, palette


def _history(problem: str, optimizer: str, config: str, n: int, *, f_star: float = 0.0, rate: float = 0.9,
             seed: int = 0, family: str = "quadratic", evals_per_iter: int = 1) -> pd.DataFrame:
    t = np.arange(n + 1)
    f = (0.0 if np.isnan(f_star) else f_star) + 2.0 * rate**t
    return pd.DataFrame({
        "run_id": f"{problem}/{config}/{seed}", "problem": problem, "family": family, "optimizer": optimizer,
        "config": config, "seed": seed, "status": "max_iters", "f_star": f_star, "L": 1.0, "iter": t, "f": f,
        "f_gap": f - f_star, "grad_norm": np.sqrt(f - f_star + 1e-3), "grad_evals": t * evals_per_iter,
        "epochs": t * 0.5, "time_s": t * 1e-3,
    })


def _panel(fig, title: str):
    return next(ax for ax in fig.axes if ax.get_title().split("\n")[0] == title)


# ------------------------------------------------------------------ 3: cost axes
def test_cost_axis_turns_log_when_lines_end_decades_apart():
    # Study 5: Newton stops after 21 gradient evaluations, gradient descent runs 20000.
    results = pd.concat([
        _history("rosen", "newton", "newton", 21, rate=0.3),
        _history("rosen", "gd", "gd", 20000, rate=0.999),
        _history("quad", "newton", "newton", 40, rate=0.3),
        _history("quad", "gd", "gd", 1000, rate=0.99),
    ])
    fig = plots.suboptimality(results, x="grad_evals")
    rosen, quad = _panel(fig, "rosen"), _panel(fig, "quad")
    assert rosen.get_xscale() == "symlog" and "log scale above 1" in rosen.get_xlabel()
    assert rosen.get_xlim()[0] == 0.0  # the start x = 0 stays on the axis
    assert quad.get_xscale() == "linear"  # 40 against 1000: 25 times apart, under two decades
    assert _panel(plots.grad_norm(results), "rosen").get_xscale() == "symlog"


# ------------------------------------------------------------------ 4: f - f_L without f*
def test_unknown_optimum_uses_f_L_below_the_best_value_so_the_best_run_does_not_plunge():
    results = pd.concat([
        _history("mlp", "sgd", "sgd", 50, f_star=np.nan, rate=0.9),
        _history("mlp", "adam", "adam", 50, f_star=np.nan, rate=0.8),
    ])
    out, certified = gap_to_reference(results, target=1e-3)
    assert not certified["mlp"]
    f_min, f0 = results["f"].min(), 2.0
    delta = 1e-3 * (f0 - f_min)
    adam = out[out["config"] == "adam"]["gap"].to_numpy()
    # The run that found the minimum ends at delta (not 0, not missing) and every value is >= delta.
    assert adam[-1] == pytest.approx(delta) and np.all(out["gap"] >= delta * (1 - 1e-12))
    assert np.all(np.isfinite(out["gap"])) and np.allclose(out["gap_floor"], delta, rtol=1e-12)
    # Its curve flattens towards delta instead of dropping by orders of magnitude in the last step.
    assert adam[-2] / adam[-1] < 2.0
    fig = plots.suboptimality(results, target=1e-3)
    ax = fig.axes[0]
    assert "f_L" in ax.get_ylabel() and "f* unknown" in ax.get_ylabel()
    floor = [line for line in ax.get_lines() if line.get_label().startswith("δ = 0.001")]
    assert len(floor) == 1 and floor[0].get_ydata()[0] == pytest.approx(delta)
    assert ax.get_ylim()[0] < delta
    assert any(text.startswith("δ = 0.001") for lg in fig.legends for text in [t.get_text() for t in lg.get_texts()])
    # A larger target widens the margin.
    assert gap_to_reference(results, target=0.1)[0]["gap_floor"].iloc[0] == pytest.approx(0.1 * (f0 - f_min))


# ------------------------------------------------------------------ 6: colours
def _hue(rgb) -> float:
    return colorsys.rgb_to_hls(*rgb)[0]


def test_configurations_of_one_optimizer_share_a_hue_and_differ_in_shade_and_marker():
    # Study 4: twelve configurations of six optimizer entries (batch sizes 32/64/128 of the same schedule).
    rows = [("adam-fixed", "adam-fixed")]
    for opt in ("adam-linear", "sgd-linear"):
        rows += [(opt, f"{opt} batch_size={b}") for b in (32, 64, 128)]
    for opt in ("adam-sqrt", "sgd-sqrt"):
        rows += [(opt, f"{opt} batch_size={b}") for b in (64, 128)]
    rows.append(("sgd-fixed", "sgd-fixed"))
    df = pd.DataFrame(rows, columns=["optimizer", "config"])
    styles = config_styles(df)
    assert len(styles) == 12
    linear = [styles[f"sgd-linear batch_size={b}"] for b in (32, 64, 128)]
    assert max(_hue(s["color"]) for s in linear) - min(_hue(s["color"]) for s in linear) < 1e-6
    lightness = [colorsys.rgb_to_hls(*s["color"])[1] for s in linear]
    assert min(np.diff(sorted(lightness))) > 0.08
    assert len({s["marker"] for s in linear}) == 3
    assert styles["adam-fixed"]["marker"] is None  # a single configuration: its plain hue
    # Every (colour, marker) pair is unique, and the six optimizer hues are far apart.
    assert len({(tuple(np.round(s["color"], 6)), s["marker"]) for s in styles.values()}) == 12
    hues = palette(df["optimizer"])
    colours = np.array(list(hues.values()))
    distances = np.linalg.norm(colours[:, None] - colours[None], axis=2)[np.triu_indices(len(colours), 1)]
    assert distances.min() > 0.25


def test_curves_carry_the_styles_and_more_than_ten_optimizers_stay_distinct():
    results = pd.concat([_history("q", "sgd", f"sgd lr={lr}", 30, rate=r) for lr, r in ((0.1, 0.9), (0.2, 0.8))])
    fig = plots.suboptimality(results)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert lines["sgd lr=0.1"].get_marker() != lines["sgd lr=0.2"].get_marker()
    assert _hue(lines["sgd lr=0.1"].get_color()) == pytest.approx(_hue(lines["sgd lr=0.2"].get_color()))
    many = palette([f"opt{i}" for i in range(14)])
    assert len({tuple(np.round(c, 6)) for c in many.values()}) == 14


# ------------------------------------------------------------------ 7: accuracy range
def test_accuracy_limits_come_from_the_data_so_close_final_accuracies_separate():
    frames = []
    for config, final in (("sgd a", 0.95), ("sgd b", 0.97)):
        h = _history("digits", "sgd", config, 40, f_star=np.nan, family="logistic")
        t = h["iter"].to_numpy()
        acc = 0.15 + (final - 0.15) * (1 - 0.6**t)  # starts at chance level, ends at `final`
        frames.append(h.assign(test_f=h["f"] + 0.05, train_acc=acc, test_acc=acc - 0.01))
    fig = plots.training_curves(pd.concat(frames))
    acc_ax = fig.axes[1]
    bottom, top = acc_ax.get_ylim()
    assert 0.5 < bottom < 0.94 and 0.97 < top < 1.02
    assert (0.97 - 0.95) / (top - bottom) > 0.1  # two points of accuracy are a tenth of the panel or more
    assert "zoomed" in acc_ax.get_title()  # the early rise from 0.15 leaves through the bottom, and it says so


# ------------------------------------------------------------------ 8: constrained problems
def test_gradient_norm_on_constrained_problems_says_it_does_not_go_to_zero():
    results = pd.concat([
        _history("nnls-50x20", "projected_gd", "projected_gd", 30, family="nnls"),
        _history("quad", "gd", "gd", 30, family="quadratic"),
    ])
    assert constrained_problems(results) == ["nnls-50x20"]
    assert constrained_problems(results.drop(columns=["family"])) == []
    fig = plots.grad_norm(results)
    nnls, quad = _panel(fig, "nnls-50x20"), _panel(fig, "quad")
    assert CONSTRAINED_NOTE in nnls.get_title() and "does not go to 0" in nnls.get_ylabel()
    assert quad.get_title() == "quad" and quad.get_ylabel() == "‖∇f(x)‖"
    assert "constrained" in fig.get_suptitle()
    explicit = plots.grad_norm(results, constrained=[])
    assert _panel(explicit, "nnls-50x20").get_title() == "nnls-50x20"
