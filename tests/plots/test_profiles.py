"""Performance and data profiles (testbed.profiles) on hand-made tables whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from problems.errors import UserInputError
from testbed import profiles

INF = math.inf

# problems x solvers; A wins p1 and ties p4, B wins p2 and ties p4, C wins p3 only; nobody solves p5.
COSTS = pd.DataFrame(
    {"A": [10.0, 30.0, INF, 10.0, INF], "B": [20.0, 15.0, INF, 10.0, INF], "C": [INF, 60.0, 5.0, 40.0, INF]},
    index=pd.Index(["p1", "p2", "p3", "p4", "p5"], name="problem"),
)


def rho(profile: pd.DataFrame, solver: str, tau: float) -> float:
    rows = profile[(profile["solver"] == solver) & (profile["tau"] <= tau)]
    return float(rows.sort_values("tau")["rho"].iloc[-1])


def test_ratios_divide_by_the_best_and_failures_are_infinite():
    r = profiles.performance_ratios(COSTS)
    assert r.loc["p1", "A"] == 1.0 and r.loc["p1", "B"] == 2.0 and r.loc["p1", "C"] == INF
    assert r.loc["p2", "C"] == 4.0
    assert r.loc["p4", "A"] == r.loc["p4", "B"] == 1.0  # a tie: both fastest
    assert np.all(np.isinf(r.loc["p5"]))  # unsolved by everyone: a failure for all, still a problem of P


def test_rho_at_one_is_the_share_of_wins_and_failures_never_count():
    prof = profiles.performance_profile(COSTS)
    assert rho(prof, "A", 1.0) == pytest.approx(2 / 5)  # p1, p4 (tie)
    assert rho(prof, "B", 1.0) == pytest.approx(2 / 5)  # p2, p4 (tie)
    assert rho(prof, "C", 1.0) == pytest.approx(1 / 5)  # p3
    # At any tau, however large, rho is the share of problems solved: failures never count.
    big = profiles.performance_profile(COSTS, taus=[1.0, 1e6, 1e300])
    assert rho(big, "A", 1e300) == pytest.approx(3 / 5)
    assert rho(big, "C", 1e300) == pytest.approx(3 / 5)
    assert big["rho"].max() < 1.0  # p5 is never solved
    # rho is a non-decreasing step function with its jumps at the ratios.
    assert rho(prof, "C", 3.99) == pytest.approx(1 / 5) and rho(prof, "C", 4.0) == pytest.approx(3 / 5)  # p2, p4
    for _, grp in prof.groupby("solver"):
        assert np.all(np.diff(grp.sort_values("tau")["rho"].to_numpy()) >= 0)


def test_solved_at_the_start_point_counts_as_fastest():
    costs = pd.DataFrame({"A": [0.0, 3.0], "B": [0.0, 6.0]}, index=["easy", "hard"])
    r = profiles.performance_ratios(costs)
    assert r.loc["easy"].tolist() == [1.0, 1.0]
    assert r.loc["hard", "B"] == 2.0


def test_profile_area_is_the_algoperf_score():
    costs = pd.DataFrame({"A": [1.0, 2.0, INF], "B": [1.0, 1.0, 1.0]}, index=["p", "q", "r"])
    area = profiles.profile_area(costs, tau_max=4.0)
    # A: ratios 1, 2, inf -> integral of rho over [1, 4] = (3 + 2 + 0) / 3; divided by 3.
    assert area["A"] == pytest.approx(5 / 9)
    assert area["B"] == pytest.approx(1.0)


def test_data_profile_counts_budgets_in_simplex_gradients():
    costs = pd.DataFrame({"A": [9.0, 30.0, INF], "B": [3.0, 66.0, 11.0]}, index=["p", "q", "r"])
    dims = {"p": 2, "q": 10, "r": 10}  # n_p + 1 = 3, 11, 11
    prof = profiles.data_profile(costs, dims, alphas=[0.5, 1.0, 3.0, 6.0, 100.0])
    table = prof.pivot(index="alpha", columns="solver", values="d")
    # A: p needs 3 simplex gradients, q needs 30/11 ~ 2.73, r never.
    assert table["A"].tolist() == pytest.approx([0, 0, 2 / 3, 2 / 3, 2 / 3])
    # B: p needs 1, q needs 6, r needs 1.
    assert table["B"].tolist() == pytest.approx([0, 2 / 3, 2 / 3, 1, 1])


def test_data_profile_requires_every_dimension():
    with pytest.raises(UserInputError, match="dims: no dimension for problem"):
        profiles.data_profile(COSTS, {"p1": 3})


def _history(run_id, problem, optimizer, config, f, f_star=math.nan, seed=0, evals_per_iter=2):
    f = np.asarray(f, dtype=np.float64)
    t = np.arange(f.size)
    return pd.DataFrame({"run_id": run_id, "problem": problem, "optimizer": optimizer, "config": config,
                         "seed": seed, "f_star": f_star, "iter": t, "f": f, "grad_evals": evals_per_iter * t,
                         "time_s": 0.1 * t})


def test_solve_costs_uses_the_certified_optimum_and_the_first_passing_row():
    results = pd.concat([
        # certified f* = 0, f(x0) = 1: solved once f <= 1e-3, i.e. at iteration 3 (6 gradient evaluations).
        _history("a", "P", "fast", "fast", [1.0, 0.1, 0.01, 0.001, 0.0001], f_star=0.0),
        _history("b", "P", "slow", "slow", [1.0, 0.5, 0.25, 0.125, 0.0625], f_star=0.0),
        # f* unknown: f_L = best value found by any run = 2.0; f(x0) = 3 -> target 2.001.
        _history("c", "Q", "fast", "fast", [3.0, 2.5, 2.2]),
        _history("d", "Q", "slow", "slow", [3.0, 2.0005, 2.0]),
    ])
    refs = profiles.reference_values(results)
    assert refs.loc["P", "source"] == "certified f*" and refs.loc["P", "f_ref"] == 0.0
    assert refs.loc["Q", "source"] == "best value found" and refs.loc["Q", "f_ref"] == 2.0
    costs = profiles.solve_costs(results, tol=1e-3)
    assert costs.loc["P", "fast"] == 6.0
    assert costs.loc["P", "slow"] == INF  # never within 1e-3 of f*
    assert costs.loc["Q", "fast"] == INF
    assert costs.loc["Q", "slow"] == 2.0  # 2.0005 <= 2.001 at iteration 1
    per_run = profiles.run_solve_costs(results, tol=1e-3, costs=("grad_evals", "time_s"))
    assert per_run.set_index("run_id").loc["a", "time_s"] == pytest.approx(0.3)
    assert per_run.set_index("run_id").loc["a", "target_gap"] == pytest.approx(1e-3)


def test_seeds_must_all_solve_and_optimizers_take_their_best_configuration():
    results = pd.concat([
        _history("s0", "P", "sgd", "sgd lr=1", [1.0, 1e-4], f_star=0.0, seed=0),
        _history("s1", "P", "sgd", "sgd lr=1", [1.0, 1e-1, 1e-4], f_star=0.0, seed=1),
        _history("t0", "P", "sgd", "sgd lr=9", [1.0, 1e-4], f_star=0.0, seed=0),
        _history("t1", "P", "sgd", "sgd lr=9", [1.0, 1.0], f_star=0.0, seed=1),  # one seed fails
    ])
    by_config = profiles.solve_costs(results, tol=1e-3, solver="config")
    assert by_config.loc["P", "sgd lr=1"] == pytest.approx((2 + 4) / 2)  # mean over seeds
    assert by_config.loc["P", "sgd lr=9"] == INF
    by_optimizer = profiles.solve_costs(results, tol=1e-3, solver="optimizer")
    assert by_optimizer.loc["P", "sgd"] == pytest.approx(3.0)


def test_bad_input_is_named():
    with pytest.raises(UserInputError, match="tol: must be > 0"):
        profiles.solve_costs(_history("a", "P", "o", "o", [1.0]), tol=0.0)
    with pytest.raises(UserInputError, match="cost: must be one of"):
        profiles.solve_costs(_history("a", "P", "o", "o", [1.0]), cost="flops")
    with pytest.raises(UserInputError, match="results: missing column"):
        profiles.solve_costs(pd.DataFrame({"run_id": ["a"]}))
    with pytest.raises(UserInputError, match="costs: must be >= 0"):
        profiles.performance_ratios(pd.DataFrame({"A": [-1.0]}))
