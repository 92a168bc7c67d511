"""Scale and distribution: a dask cluster gives the local tables and survives a killed worker; memory stays flat."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from sweep_helpers import assert_same_tables, tiny_spec

from testbed import storage
from testbed.sweep import load_spec, parse_spec, run_sweep

SLOW = """
name = "dask-kill"
seeds = 8
bounds = "all"
[budget]
iters = 4000
[[problems]]
family = "quadratic"
dim = 30
[[optimizers]]
name = "gd"
[[optimizers]]
name = "heavy_ball"
grid = { momentum = [0.5, 0.9] }
"""


@pytest.mark.slow
def test_dask_local_cluster_matches_local_runs_and_survives_a_killed_worker(tmp_path, write_spec):
    distributed = pytest.importorskip("distributed")
    spec = load_spec(write_spec(tiny_spec(seeds=2)))
    slow = parse_spec(SLOW)
    run_sweep(spec, tmp_path / "local", n_jobs=1, quiet=True)
    run_sweep(slow, tmp_path / "slow-local", n_jobs=2, quiet=True)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        out = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, quiet=True)
        assert out.executed == 12 and out.ok
        assert_same_tables(tmp_path / "local", tmp_path / "dask")

        with distributed.Client(cluster) as client:
            pids = sorted(client.run(os.getpid).values())
        killed = []

        def kill_one_worker(summary, k):
            if k == 3:  # both workers are busy with the remaining 21 runs
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        out = run_sweep(slow, tmp_path / "slow-dask", scheduler=cluster.scheduler_address, quiet=True,
                        on_result=kill_one_worker)
    assert killed and out.executed == 24 and out.ok, out.failures
    assert out.statuses == {"max_iters": 24}
    assert_same_tables(tmp_path / "slow-local", tmp_path / "slow-dask")
    assert not list((tmp_path / "slow-dask" / "runs").glob(".tmp-*"))


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


MANY = """
name = "many"
seeds = 1000
bounds = []
[budget]
iters = 100
[[problems]]
family = "quadratic"
dim = 2
[[optimizers]]
name = "gd"
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_memory_does_not_grow_with_the_number_of_runs(tmp_path):
    rss: dict[int, float] = {}

    def probe(summary, k):
        if k in (200, 1000):
            rss[k] = _rss_mib()

    out = run_sweep(parse_spec(MANY), tmp_path / "many", n_jobs=1, quiet=True, on_result=probe)
    assert out.executed == 1000 and out.ok
    growth = rss[1000] - rss[200]
    # Keeping each run's history alive would cost at least this much for the 800 runs between the probes:
    one = storage.load_results(tmp_path / "many").query("seed == 0")
    leak = 800 * one.memory_usage(deep=True).sum() / 2**20
    limit = 8.0
    assert leak > 2 * limit, leak  # the probe is sensitive enough to see a leak of histories
    assert growth < limit, (rss, growth)
