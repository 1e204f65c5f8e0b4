"""Stages of ``deploys/rollback.py`` for a Harbor of several nodes: every node back on
the release named by ``harbor_version`` (kept beside the newer one), the database they
share back as the backing host dumped it before the last upgrade's first node
migrated it.

Harbor's core migrates the shared database at its start and exits on a schema newer
than its release knows, so no node goes back alone: every node stops, the backing host
restores the dump (a safety dump of the live database first), every node starts its
older release, and the load balancer takes each node back once HAProxy sees it UP.
It replaces the live database, so it asks for the hostname repeated and acts on one
Harbor: its nodes, its load balancer and its backing host, all in the run.
"""

from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import DeployError, deploy
from pyinfra.operations import server

from harbor_deploy.facts.backing import DatabaseDumps
from harbor_deploy.facts.harbor import HarborInstallation, UnfinishedOperation
from harbor_deploy.lib.config.defaults import BACKING_GROUP, LB_GROUP, SERVER_GROUP
from harbor_deploy.lib.plan.cluster import Cluster
from harbor_deploy.operations import haproxy, harbor_data, node_turn
from harbor_deploy.operations.deploy_lock import acquire, lock_holder
from harbor_deploy.planning.context import config_of
from harbor_deploy.planning.server import cluster_of, data_place, refuse_after_unfinished
from harbor_deploy.stages.backup import confirmed
from harbor_deploy.stages.rolling import BEFORE_UPGRADE, backends


@dataclass(frozen=True)
class ClusterRollbackPlan:
    config: dict
    cluster: Cluster
    # The release every node goes back to (``harbor_version``).
    version: str
    # On a node: the release it is on now; on the backing host: the dump it restores.
    current: str | None
    dump: str | None
    lock_holder: object


def plan(overrides=None):
    """The cluster rollback's plan on this host, or None when this host's Harbor has
    one node (``deploys/rollback.py`` then rolls that one back): checked on every host
    before any change."""
    config = config_of(overrides)
    nodes = cluster_of(config, overrides)
    if nodes is None or not nodes.nodes:
        return None
    confirmed(config, "harbor_rollback_hostname", "the rollback of every node and of the database they share")
    in_run = {other.name for other in inventory if host.state.is_host_in_limit(other)}
    missing = [name for name in (*nodes.nodes, nodes.lb, nodes.backing) if name and name not in in_run]
    others = sorted(other.name for other in inventory.get_group(SERVER_GROUP, []) if other.name in in_run)
    others = [name for name in others if name not in nodes.nodes]
    if missing or others:
        raise DeployError(
            f"{host.name}: a rollback of the Harbor of {nodes.url} acts on its nodes, load balancer and backing "
            f"host together, and on no other Harbor: "
            + (f"this run leaves out {', '.join(missing)}" if missing else f"this run reaches {', '.join(others)}")
            + "; nothing was changed"
        )
    if nodes.backing is None:
        raise DeployError(
            f"{host.name}: no harbor_backing host dumps the database of {nodes.url}: stop every node, restore the "
            "snapshot you named in harbor_cluster_upgrade_snapshot with your provider's tools, then point each node "
            "to its previous release; nothing was changed"
        )
    version = config["harbor_version"]
    current = dump = None
    if host.name in nodes.nodes:
        install_dir = config["harbor_install_dir"].rstrip("/")
        installation = host.get_fact(HarborInstallation, install_dir=install_dir)
        refuse_after_unfinished(host.get_fact(UnfinishedOperation))
        if f"{install_dir}-{version}" not in installation["releases"]:
            raise DeployError(
                f"{host.name}: harbor_version: the rollback goes back to the release harbor_version names, and "
                f"{install_dir}-{version} is not kept here (kept: {', '.join(installation['releases']) or 'none'}); "
                "set harbor_version to the release the nodes ran before the upgrade; nothing was changed"
            )
        current = installation["bundle_version"] or installation["running_version"]
    elif BACKING_GROUP in host.groups:
        dumps = host.get_fact(DatabaseDumps, backup_dir=config["harbor_backup_dir"], label=BEFORE_UPGRADE)
        if not dumps:
            raise DeployError(
                f"{host.name}: no dump taken before an upgrade in {config['harbor_backup_dir']} "
                f"(harbor-db-*-{BEFORE_UPGRADE}.pgdump): nothing to roll the shared database back to; nothing "
                "was changed"
            )
        dump = dumps[-1]
    return ClusterRollbackPlan(config, nodes, version, current, dump, lock_holder("harbor_rollback"))


@deploy("Stop every node")
def stop_nodes(plan):
    if host.name in plan.cluster.nodes:
        server.shell(
            name=f"Stop Harbor {plan.current} on {host.name} (every node stops before the shared database goes back)",
            commands=[f"{acquire(plan.lock_holder)} && systemctl stop harbor.service"],
        )
    node_turn.all_reached(name="Every node stopped", what="every node stopped")


@deploy("Shared database back")
def shared_database(plan):
    if host.name == plan.cluster.backing:
        _restore(plan)
    node_turn.all_reached(name="The shared database back", what="the shared database restored, or left as it was")


def _restore(plan):
    database = plan.config["harbor_external_database"] or {}
    harbor_data.database_restore(
        name=f"Restore the shared database {database.get('db_name', 'registry')} from {plan.dump} (a safety dump of "
        "the live one first)",
        backup_dir=plan.config["harbor_backup_dir"],
        dump=plan.dump,
        port=database.get("port", 5432),
        database=database.get("db_name", "registry"),
        keep=plan.config["harbor_backup_keep"],
        lock_holder=plan.lock_holder,
        # Only once every node stopped: a core still running would write into it.
        _if=node_turn.none_failed(host.state, plan.cluster.nodes),
    )


@deploy("Every node back")
def nodes_back(plan):
    if host.name in plan.cluster.nodes:
        _node_back(plan)
    node_turn.all_reached(name="Every node serving", what="every node serving again")


def _node_back(plan):
    # The database went back only if the backing host did not fail and every node had
    # stopped (the restore is skipped otherwise): else the nodes' release is the one
    # the database still fits.
    involved = [plan.cluster.backing, *plan.cluster.nodes]
    harbor_data.release_back(
        name=f"Serve Harbor {plan.version} again on {host.name} (it was on {plan.current})",
        version=plan.version,
        lock_holder=plan.lock_holder,
        _if=node_turn.none_failed(host.state, involved),
        **data_place(plan.config),
    )
    server.shell(
        name=f"Start Harbor {plan.current} again on {host.name}: the shared database did not go back",
        commands=[f"{acquire(plan.lock_holder)} && systemctl start harbor.service"],
        _if=node_turn.any_failed(host.state, involved),
    )


@deploy("Nodes back on the load balancer")
def load_balancer(plan):
    if LB_GROUP not in host.groups:
        return
    for node in plan.cluster.nodes:
        haproxy.node_state(
            name=f"Put {node} back on the load balancer once healthy",
            node=node,
            state="ready",
            backends=backends(plan.config),
            timeout=plan.config["harbor_health_timeout"],
            lock_holder=plan.lock_holder,
            _if=node_turn.none_failed(host.state, [node]),
        )
