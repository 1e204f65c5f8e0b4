"""A rolling change takes the nodes one at a time: pyinfra's operation order (as its
CLI builds it, from the deploy code's lines) puts each node's change between its
drain and its return, after the previous node's return, on every host alike."""

from types import SimpleNamespace
from unittest import mock

import pytest
from pyinfra.api import State
from pyinfra.operations import server as pyinfra_server

from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.plan.cluster import Cluster
from harbor_deploy.operations import haproxy, node_turn
from harbor_deploy.operations.deploy_lock import Holder, acquire
from harbor_deploy.stages import rolling
from tests.unit.stages import operation_order

CLUSTER = Cluster(
    url="https://registry.example.com:8443", nodes=("node-1", "node-2"), addresses={}, lb="lb", backing="backing"
)
CONFIG = merged({"harbor_hostname": "registry.example.com"})


def deploy_file_code(host):
    """What deploys/server.py runs on each host, reduced to its operations' places."""
    if host.name == "backing":
        rolling.shared_database_dump(CONFIG)
        return
    if host.name == "lb":
        pyinfra_server.shell(name="Configure HAProxy", commands=["true"])
    else:
        pyinfra_server.shell(name=f"Upload harbor.yml to {host.name}", commands=["true"])
    rolling.one_node_at_a_time(
        CLUSTER,
        CONFIG,
        lambda: pyinfra_server.shell(name=f"Change {host.name}", commands=["true"]),
    )


@pytest.fixture
def planned():
    return operation_order.planned(["node-1", "node-2", "lb", "backing"], deploy_file_code)


def test_each_node_changes_between_its_drain_and_its_return_and_after_the_previous_node(planned):
    state, inventory = planned
    order = operation_order.run_order(state, inventory)
    everyone = ["node-1", "node-2", "lb"]
    assert order[-8:] == [
        ("Drain node-1 on the load balancer", everyone),
        ("node-1: its turn, once drained", ["node-1"]),
        ("Change node-1", ["node-1"]),
        ("Put node-1 back on the load balancer once healthy", everyone),
        ("Drain node-2 on the load balancer", everyone),
        ("node-2: its turn, once drained", ["node-2"]),
        ("Change node-2", ["node-2"]),
        ("Put node-2 back on the load balancer once healthy", everyone),
    ]
    # Before them: each host's own operations (the upload of both nodes is one step),
    # the backing host's dump of the shared database first of all.
    assert order[0][0].startswith("Dump the shared database registry to") and order[0][1] == ["backing"]
    assert [hosts for _, hosts in order[1:-8]] in ([["node-1", "node-2"], ["lb"]], [["lb"], ["node-1", "node-2"]])


@pytest.mark.parametrize(
    "failed, node, why",
    [
        ((), "node-2", None),
        (("lb",), "node-1", "the load balancer lb failed, so node-1 may not be drained"),
        (("node-1",), "node-2", "node-1 failed earlier in this rolling change, which stops there"),
        (("node-2",), "node-1", None),  # a later node's failure is not this node's concern
        (
            ("backing",),
            "node-1",
            "backing failed to dump the shared database, and no node migrates it without that dump",
        ),
    ],
)
def test_a_node_changes_only_once_drained_and_while_no_earlier_node_failed(failed, node, why):
    [check] = node_turn.taken._inner(CLUSTER, node)
    logged = []
    run = SimpleNamespace(failed_hosts=[SimpleNamespace(name=name) for name in failed])
    this = SimpleNamespace(log_styled=lambda text, **_: logged.append(text))
    assert check.function(run, this, *check.args) is (why is None)
    assert logged == ([] if why is None else [f"{why}: {node} is left as it is, serving; fix the cause and run again"])


@pytest.mark.parametrize(
    "failed, drained, returned",
    [
        ((), ["node-1", "node-2"], ["node-1", "node-2"]),
        # A node that failed stays drained; the nodes after it are not even drained.
        (("node-1",), ["node-1"], []),
        (("node-2",), ["node-1", "node-2"], ["node-1"]),
        (("backing",), [], []),
    ],
)
def test_a_failed_node_stays_drained_and_the_nodes_after_it_are_left_serving(failed, drained, returned):
    run = type("Run", (), {"failed_hosts": [SimpleNamespace(name=name) for name in failed]})()
    for node in CLUSTER.nodes:
        with mock.patch.object(rolling, "host", SimpleNamespace(state=run, name=node)):
            rolling.register(lambda: True)
    assert [node for node in CLUSTER.nodes if rolling.may_drain(run, CLUSTER, node)()] == drained
    assert [node for node in CLUSTER.nodes if rolling.may_return(run, CLUSTER, node)()] == returned


def test_the_backing_host_dumps_the_shared_database_only_when_a_node_upgrades(planned):
    state, inventory = planned
    backing = inventory.get_host("backing")
    [dump] = backing.op_hash_order
    condition = state.get_op_data_for_host(backing, dump).global_arguments["_if"]
    assert condition() is False
    with mock.patch.object(rolling, "host", SimpleNamespace(state=state, name="node-1")):
        rolling.register(lambda: True, upgrade_from="v2.13.1")
    assert condition() is True


def test_only_the_load_balancer_runs_the_runtime_api_and_only_for_a_changing_node():
    script = haproxy.node_script("drain", "node-1", ["harbor_https", "harbor_http"], 90)
    assert (
        'api "set server $backend/node-1 state drain"' in script and "for backend in harbor_https harbor_http" in script
    )
    assert "shutdown sessions server $backend/node-1" in script and "after 90s drained" in script
    ready = haproxy.node_script("ready", "node-1", ["harbor_https"], 300)
    assert "state ready" in ready and "grep -qv ': UP$'" in ready and "not UP on the load balancer after 300s" in ready
    run = object.__new__(State)
    with mock.patch.object(rolling, "host", SimpleNamespace(state=run, name="node-1")):
        rolling.register(lambda: True)
    assert rolling.is_pending(run, "node-1")() is True
    assert rolling.is_pending(run, "node-2")() is False


def test_the_load_balancer_drains_a_node_only_once_it_holds_its_deploy_lock():
    holder = Holder("me@ctl pid 1 (harbor_server, started 2026-12-07T00:00:00Z)")
    with mock.patch.object(haproxy, "host", SimpleNamespace(noop=lambda message: None)):
        drain = list(haproxy.node_state._inner("node-1", "drain", ["harbor_https"], 90, lock_holder=holder))
        elsewhere = list(haproxy.node_state._inner("node-1", "drain", ["harbor_https"], 90, active=False))
    assert str(drain[0]).startswith(f"{acquire(holder)} && bash -c ")
    assert elsewhere == []
