"""What a cluster does to a sweep: two Ray nodes, a worker killed mid-batch, the driver
killed mid-run. Each ends with exactly the rows of a local run, nothing duplicated. The test
cluster lives on loopback: every node is bound to 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from multisc.experiment.store import STORE_FILE, ResultStore
from multisc.experiment.sweep import Progressed, Said, run_sweep
from tests.experiment.conftest import assert_same_rows
from tests.stopping import kill_after_rows

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def rows_of(out: Path) -> list[dict]:
    store = ResultStore(out / STORE_FILE)
    try:
        return store.results()
    finally:
        store.close()


@pytest.fixture
def two_nodes():
    from ray.cluster_utils import Cluster

    # tests/conftest.py keeps Ray on loopback (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0)
    loopback = {"num_cpus": 1}
    cluster = Cluster(initialize_head=True, head_node_args={**loopback, "include_dashboard": False})
    cluster.add_node(**loopback)
    cluster.wait_for_nodes()
    assert cluster.address.startswith("127.0.0.1:")
    try:
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def test_two_nodes_and_a_worker_killed_mid_batch_give_the_local_rows(fast_config, two_nodes):
    local = rows_of(run_sweep(fast_config(out="local")[0], report=None).out)
    config = fast_config(out="cluster", executor="ray", ray_address=two_nodes.address)[0]
    said: list[str] = []
    killed = []

    def on_event(event) -> None:
        if isinstance(event, Said):
            said.append(event.text)
        if isinstance(event, Progressed) and not killed:
            # the first batch is back: stop every worker, the other batch is in flight
            for name in ray.util.list_named_actors():
                if name.startswith("multisc-worker-"):
                    ray.kill(ray.get_actor(name))
                    killed.append(name)

    summary = run_sweep(config, on_event=on_event, report=None)
    assert killed and summary.rows == len(local) == 18
    assert any("a worker was lost" in line for line in said), said
    assert_same_rows(local, rows_of(summary.out))  # nothing missing, nothing twice
    ray.init(address=two_nodes.address, log_to_driver=False)  # the run left it: look again
    nodes = {node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]}
    assert nodes == {"127.0.0.1"} and len([n for n in ray.nodes() if n["Alive"]]) == 2


def test_a_driver_killed_mid_run_resumes_locally_to_the_same_rows(fast_config, tmp_path):
    local = rows_of(run_sweep(fast_config(out="local")[0], report=None).out)
    config, path = fast_config(out="killed", executor="ray")
    stored = kill_after_rows(
        3,  # one task's rows (3 SNRs, one transaction): the driver stops right there
        "from multisc.experiment.config import load_config\n"
        "from multisc.experiment.sweep import run_sweep\n"
        "run_sweep(load_config(sys.argv[1]), report=None)",
        str(path),
    )
    before = len(rows_of(Path(config.out)))
    assert before == stored and 0 < before < 18  # killed mid-run, with whole rows only
    resumed = run_sweep(fast_config(out="killed", executor="local")[0], report=None)
    assert resumed.rows == 18 and resumed.new_rows == 18 - before
    assert_same_rows(local, rows_of(resumed.out))
