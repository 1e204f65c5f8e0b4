"""A Harbor of one node grows into the Harbor of several nodes the inventory describes:
planned on each node and the backing host before any change, refused naming why; the
node's data goes out before the backing host loads it, and the node is marked grown
only once it loaded. (Its run on real hosts: test_70_scale_out.py.)"""

import functools
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from pyinfra.api import DeployError

from harbor_deploy.facts.files import FileStates
from harbor_deploy.facts.harbor import HarborInstallation
from harbor_deploy.lib.config.defaults import GROWN_MARKER, merged
from harbor_deploy.lib.config.secrets import Secret
from harbor_deploy.lib.plan.cluster import Cluster
from harbor_deploy.operations.deploy_lock import lock_holder
from harbor_deploy.stages import grow
from tests.unit.stages import operation_order

CLUSTER = Cluster(
    url="https://registry.example.com:8443", nodes=("node-1", "node-2"), addresses={}, lb="lb", backing="backing"
)
GROUPS = {"node-1": "harbor_servers", "node-2": "harbor_servers", "lb": "harbor_lb", "backing": "harbor_backing"}
STORAGE = {
    "s3": {"regionendpoint": "http://10.0.0.30:8080", "bucket": "harbor", "accesskey": "harbor:registry"},
    "redirect": {"disable": True},
}
CONFIG = {
    "harbor_hostname": "registry.example.com",
    "harbor_grow_from": "node-1",
    "harbor_grow_hostname": "registry.example.com",
    "harbor_storage_service": STORAGE,
    "harbor_backup_fetch_dir": "/ctl/harbor-backups",
}


def plan_on(name, limit=("node-1", "node-2", "backing"), tables=0, files=("/data/database",), running="v2.13.1",
            backing=CLUSTER.backing, driver="s3", **data):  # fmt: skip
    hosts = [SimpleNamespace(name=other) for other in GROUPS]
    facts = {
        HarborInstallation: {"running_version": running, "bundle_version": running},
        FileStates: {path: {"type": "directory" if path.endswith("database") else "file"} for path in files},
    }
    this = SimpleNamespace(
        name=name,
        groups=(GROUPS[name],),
        state=SimpleNamespace(is_host_in_limit=lambda other: other.name in limit),
        get_fact=lambda fact, **_: facts[fact],
    )
    config = merged({**CONFIG, **data})
    settings = SimpleNamespace(driver=driver, db_name="registry", swift_password=Secret("k", "test"))
    cluster = Cluster(**{**CLUSTER.__dict__, "backing": backing})
    with (
        mock.patch.object(grow, "host", this),
        mock.patch("harbor_deploy.planning.context.current_host", this),
        mock.patch.object(grow, "inventory", hosts),
        mock.patch.object(grow.backing_stage, "settings_of", lambda data: (config, settings)),
        mock.patch.object(grow.backing_stage, "read_state", lambda settings: {"pg_tables": tables}),
        mock.patch.object(grow, "host_data", lambda overrides=None: {}),
        mock.patch.object(grow, "cluster_of", lambda config, overrides=None: cluster),
    ):
        return grow.plan()


def test_every_host_of_the_harbor_plans_the_move_through_one_controller_folder():
    for name in ("node-1", "node-2", "backing"):
        found = plan_on(name)
        assert (found.source, found.carried) == ("node-1", Path("/ctl/harbor-backups/node-1/harbor-grow.pgdump"))


@pytest.mark.parametrize(
    "name, kwargs, why",
    [
        ("node-2", {"harbor_grow_hostname": None}, "must repeat harbor_hostname (registry.example.com)"),
        ("node-2", {"harbor_grow_from": "lb"}, "harbor_grow_from: name the node whose Harbor grows, one of node-1"),
        ("node-2", {"backing": None}, "no harbor_backing host serves the shared state: with managed services"),
        ("node-2", {"driver": "swift"}, "harbor_storage_service: the layers move into the backing host's object"),
        ("node-2", {"limit": ("node-1", "node-2")}, "this run leaves out backing, which the move needs"),
        ("node-2", {"harbor_backup_fetch_dir": None}, "harbor_backup_fetch_dir: the database dump travels"),
        ("node-1", {"files": ("/data/database", GROWN_MARKER)}, "its data moved already"),
        ("node-1", {"files": ()}, "no database of its own in /data/database: nothing to move"),
        ("node-1", {"running": "v2.12.0"}, "it runs Harbor v2.12.0, harbor_version says v2.13.1"),
        ("backing", {"tables": 3}, "the shared database registry holds 3 tables: a Harbor grows only into an empty"),
        ("backing", {"tables": None}, "is not there: run deploys/backing.py first"),
    ],
)
def test_a_move_is_refused_before_any_change_naming_why(name, kwargs, why):
    with pytest.raises(DeployError) as refused:
        plan_on(name, **kwargs)
    assert why in str(refused.value)


def test_the_data_goes_out_before_the_backing_host_loads_it_and_the_node_is_marked_only_then():
    settings = SimpleNamespace(driver="s3", db_name="registry", db_port=5432, db_username="harbor",
                               swift_password=Secret("k", "test"))  # fmt: skip
    plan = grow.GrowPlan(
        merged(CONFIG), CLUSTER, "node-1", settings, Path("/ctl/harbor-backups/node-1/harbor-grow.pgdump"),
        lock_holder("test"),
    )  # fmt: skip

    def deploy_file_code(host):
        grow.export(plan)
        grow.load(plan)
        grow.finish(plan)

    state, inventory = operation_order.planned(["node-1", "node-2", "backing"], deploy_file_code)
    order = operation_order.run_order(state, inventory, words=2)
    everyone = ["node-1", "node-2", "backing"]
    assert order == [
        (["Stop", "Harbor,"], ["node-1"]),
        (["Controller", "folder"], ["node-1"]),
        (["Copy", "the"], ["node-1"]),
        (["The", "node's"], everyone),
        (["Upload", "the"], ["backing"]),
        (["Load", "it"], ["backing"]),
        (["The", "shared"], everyone),
        (["Mark", "node-1"], ["node-1"]),
        (["Start", "Harbor"], ["node-1"]),  # only when the shared database did not load
    ]
    # Only this run's dump loads (a failed export may leave an earlier one on the
    # controller); the node is marked grown only once it loaded, else starts again.
    runs = functools.partial(operation_order.runs_if, state, inventory)
    assert runs("backing", "Upload") and runs("backing", "Load")
    assert not runs("backing", "Upload", failed=["node-1"]) and not runs("backing", "Load", failed=["node-1"])
    assert runs("node-1", "Mark") and not runs("node-1", "Start")
    assert not runs("node-1", "Mark", failed=["backing"]) and runs("node-1", "Start", failed=["backing"])
