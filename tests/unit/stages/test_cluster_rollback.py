"""A Harbor of several nodes rolls back as one: planned on every host of it before any
change, refused naming why when the run leaves one out or reaches another Harbor, when
the hostname is not repeated, when the release to go back to is not kept on a node or
no dump was taken before an upgrade. (Its run on real hosts: test_70_scale_out.py.)"""

import functools
from types import SimpleNamespace
from unittest import mock

import pytest
from pyinfra.api import DeployError

from harbor_deploy.facts.backing import DatabaseDumps
from harbor_deploy.facts.harbor import HarborInstallation, UnfinishedOperation
from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.plan.cluster import Cluster
from harbor_deploy.operations.deploy_lock import lock_holder
from harbor_deploy.stages import cluster_rollback
from tests.unit.stages import operation_order

CLUSTER = Cluster(
    url="https://registry.example.com:8443", nodes=("node-1", "node-2"), addresses={}, lb="lb", backing="backing"
)
GROUPS = {"node-1": "harbor_servers", "node-2": "harbor_servers", "other": "harbor_servers", "lb": "harbor_lb",
          "backing": "harbor_backing"}  # fmt: skip
DUMP = "harbor-db-20261207T101500Z-before-upgrade.pgdump"


def plan_on(name, limit=("node-1", "node-2", "lb", "backing"), releases=("v2.13.1", "v2.14.0"), dumps=(DUMP,),
            **data):  # fmt: skip
    hosts = {other: SimpleNamespace(name=other) for other in GROUPS}
    facts = {
        HarborInstallation: {
            "releases": [f"/usr/local/harbor-{release}" for release in releases],
            "bundle_version": "v2.14.0",
            "running_version": None,
        },
        UnfinishedOperation: None,
        DatabaseDumps: list(dumps),
    }
    this = SimpleNamespace(
        name=name,
        groups=(GROUPS[name],),
        state=SimpleNamespace(is_host_in_limit=lambda other: other.name in limit),
        get_fact=lambda fact, **_: facts[fact],
    )
    config = merged(
        {
            "harbor_hostname": "registry.example.com",
            "harbor_version": "v2.13.1",
            "harbor_rollback_hostname": "registry.example.com",
            **data,
        }  # fmt: skip
    )

    class Inventory(list):  # pyinfra's: its hosts, and its groups
        def get_group(self, group, default=None):
            return [hosts[other] for other, member_of in GROUPS.items() if member_of == group]

    with (
        mock.patch.object(cluster_rollback, "host", this),
        mock.patch("harbor_deploy.planning.context.current_host", this),
        mock.patch.object(cluster_rollback, "inventory", Inventory(hosts.values())),
        mock.patch.object(cluster_rollback, "config_of", lambda overrides=None: config),
        mock.patch.object(cluster_rollback, "cluster_of", lambda config, overrides=None: CLUSTER),
    ):
        return cluster_rollback.plan()


def test_every_host_of_the_harbor_plans_its_part():
    assert plan_on("node-2").current == "v2.14.0" and plan_on("node-2").version == "v2.13.1"
    assert plan_on("backing").dump == DUMP
    assert plan_on("lb").dump is None and plan_on("lb").current is None


@pytest.mark.parametrize(
    "name, kwargs, why",
    [
        ("lb", {"harbor_rollback_hostname": "registry"}, "must repeat harbor_hostname (registry.example.com)"),
        ("node-1", {"limit": ("node-1", "node-2", "lb")}, "this run leaves out backing; nothing was changed"),
        ("backing", {"limit": ("node-1", "node-2", "lb", "backing", "other")}, "this run reaches other;"),
        ("node-1", {"releases": ("v2.14.0",)}, "/usr/local/harbor-v2.13.1 is not kept here"),
        ("backing", {"dumps": ()}, "no dump taken before an upgrade in /var/backups/harbor-deploy"),
    ],
)
def test_a_rollback_is_refused_before_any_change_naming_why(name, kwargs, why):
    with pytest.raises(DeployError, match=None) as refused:
        plan_on(name, **kwargs)
    assert why in str(refused.value)


def test_every_node_stops_before_the_database_goes_back_and_serves_again_before_the_load_balancer_takes_it():
    """pyinfra orders each host's operations, and across hosts only the ones they
    share: the steps every host adds keep the nodes, the backing host and the load
    balancer in step."""
    config = merged({"harbor_hostname": "registry.example.com", "harbor_external_database": {"db_name": "registry"}})
    plan = cluster_rollback.ClusterRollbackPlan(config, CLUSTER, "v2.13.1", "v2.14.0", DUMP, lock_holder("test"))

    def deploy_file_code(host):
        cluster_rollback.stop_nodes(plan)
        cluster_rollback.shared_database(plan)
        cluster_rollback.nodes_back(plan)
        cluster_rollback.load_balancer(plan)

    state, inventory = operation_order.planned(
        ["node-1", "node-2", "lb", "backing"], deploy_file_code, harbor_lb=["lb"]
    )
    order = operation_order.run_order(state, inventory, words=2)
    everyone = ["node-1", "node-2", "lb", "backing"]
    assert order == [
        (["Stop", "Harbor"], ["node-1", "node-2"]),
        (["Every", "node"], everyone),
        (["Restore", "the"], ["backing"]),
        (["The", "shared"], everyone),
        (["Serve", "Harbor"], ["node-1", "node-2"]),
        (["Start", "Harbor"], ["node-1", "node-2"]),  # only when the database did not go back
        (["Every", "node"], everyone),
        (["Put", "node-1"], ["lb"]),
        (["Put", "node-2"], ["lb"]),
    ]
    # The database goes back only once every node stopped; the nodes serve the older
    # release only if it went back, else start again on theirs; a failed node stays out.
    runs = functools.partial(operation_order.runs_if, state, inventory)
    assert runs("backing", "Restore") and not runs("backing", "Restore", failed=["node-2"])
    assert runs("node-1", "Serve") and not runs("node-1", "Start")
    for failed in (["node-2"], ["backing"]):
        assert not runs("node-1", "Serve", failed=failed) and runs("node-1", "Start", failed=failed)
    assert runs("lb", "Put node-1", failed=["node-2"]) and not runs("lb", "Put node-2", failed=["node-2"])
