"""Stages of ``deploys/grow.py``: a Harbor of one node (the way the guide installs it,
its database in its own harbor-db, its layers on its disk) becomes a node of the
Harbor of several nodes the inventory now describes, its data moved into the backing
host's shared services.

The node stops Harbor, dumps its database and copies the registry's files into the
object store (as the S3 driver names them); the dump reaches the backing host through
the controller and loads there into the empty shared database. Nothing on the node is
removed, and it leaves ``GROWN_MARKER``: ``deploys/server.py`` then points it at the
shared services (refused before that: it would start without its data) and installs
the other nodes and the load balancer. Its instance keys stay: the server deploy
takes them back from it for every node.
"""

import posixpath
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host, inventory, logger
from pyinfra.api import DeployError, deploy
from pyinfra.operations import python, server

from harbor_deploy.facts.files import FileStates
from harbor_deploy.facts.harbor import HarborInstallation
from harbor_deploy.lib.config.defaults import GROWN_MARKER
from harbor_deploy.lib.config.secrets import ensure_private_dir
from harbor_deploy.operations import harbor_data, node_turn, secret_file
from harbor_deploy.operations.deploy_lock import acquire, lock_holder
from harbor_deploy.planning.context import host_data
from harbor_deploy.planning.server import cluster_of, data_place, database_dir
from harbor_deploy.stages import backing as backing_stage
from harbor_deploy.stages.backup import confirmed

# The dump on its way, on the controller (in harbor_backup_fetch_dir) and the backing host.
DUMP_NAME = "harbor-grow.pgdump"


@dataclass(frozen=True)
class GrowPlan:
    config: dict
    cluster: object
    # The node whose Harbor grows (``harbor_grow_from``).
    source: str
    backing: object
    # Where the dump waits on the controller.
    carried: Path
    lock_holder: object


def plan(overrides=None):
    """The move, checked on every node and the backing host before any change."""
    config, backing = backing_stage.settings_of(host_data(overrides=overrides))
    nodes = cluster_of(config, overrides)
    if nodes is None:
        raise DeployError(
            f"{host.name}: deploys/grow.py makes a Harbor of one node a node of the Harbor of several that the "
            "inventory describes (harbor_external_database, harbor_external_redis, harbor_storage_service and a "
            "second node serving its URL): this host is in none; nothing was changed"
        )
    confirmed(config, "harbor_grow_hostname", "the move of its data (Harbor stops on that node until server.py runs)")
    source = config["harbor_grow_from"]
    refused = _refusal(config, nodes, source, backing)
    if refused:
        raise DeployError(f"{host.name}: {refused}; nothing was changed")
    if host.name == source:
        _check_source(config)
    elif host.name == nodes.backing:
        tables = backing_stage.read_state(backing)["pg_tables"]
        if tables != 0:
            raise DeployError(
                f"{host.name}: the shared database {backing.db_name} "
                + ("is not there: run deploys/backing.py first" if tables is None else f"holds {tables} tables")
                + ": a Harbor grows only into an empty one; nothing was changed"
            )
    carried = Path(config["harbor_backup_fetch_dir"]) / source / DUMP_NAME
    return GrowPlan(config, nodes, source, backing, carried, lock_holder("harbor_grow"))


def _refusal(config, nodes, source, backing):
    in_run = {other.name for other in inventory if host.state.is_host_in_limit(other)}
    if source not in nodes.nodes:
        return f"harbor_grow_from: name the node whose Harbor grows, one of {', '.join(nodes.nodes)}"
    if nodes.backing is None:
        return (
            "no harbor_backing host serves the shared state: with managed services, move the database with pg_dump "
            "and pg_restore and the files under <data_volume>/registry into the bucket yourself (docs/scale-out.md)"
        )
    if "s3" not in (config["harbor_storage_service"] or {}) or backing.driver != "s3":
        return "harbor_storage_service: the layers move into the backing host's object store by their S3 names: use s3"
    missing = [name for name in (source, nodes.backing) if name not in in_run]
    if missing:
        return f"this run leaves out {', '.join(missing)}, which the move needs"
    if not config["harbor_backup_fetch_dir"]:
        return "harbor_backup_fetch_dir: the database dump travels through that controller folder; set one"
    return None


def _check_source(config):
    install_dir = config["harbor_install_dir"].rstrip("/")
    installation = host.get_fact(HarborInstallation, install_dir=install_dir)
    database = database_dir(config)
    files = host.get_fact(FileStates, paths=[database, GROWN_MARKER])
    version = installation["running_version"] or installation["bundle_version"]
    if GROWN_MARKER in files:
        raise DeployError(f"{host.name}: its data moved already ({GROWN_MARKER}): run deploys/server.py")
    if files.get(database, {}).get("type") != "directory":
        raise DeployError(f"{host.name}: no database of its own in {database}: nothing to move")
    if version != config["harbor_version"]:
        raise DeployError(
            f"{host.name}: it runs Harbor {version}, harbor_version says {config['harbor_version']}: grow on the "
            "release it runs (upgrade after); nothing was changed"
        )


@deploy("Move the data out of the node")
def export(plan):
    if host.name == plan.source:
        storage = plan.config["harbor_storage_service"]["s3"]
        harbor_data.grow_export(
            name=f"Stop Harbor, dump its database, copy its registry's files into {storage['bucket']} on "
            f"{plan.cluster.backing}",
            endpoint=storage["regionendpoint"],
            user=storage["accesskey"],
            container=storage["bucket"],
            root=storage.get("rootdirectory", ""),
            key=plan.backing.swift_password,
            lock_holder=plan.lock_holder,
            **data_place(plan.config),
        )
        python.call(
            name=f"Controller folder {plan.carried.parent} (0700)",
            function=ensure_private_dir,
            path=plan.carried.parent,
        )
        secret_file.fetch(
            name=f"Copy the dump to {plan.carried}",
            src=posixpath.join(plan.config["harbor_backup_dir"], "harbor-grow-last.pgdump"),
            dest=str(plan.carried),
        )
    node_turn.all_reached(name="The node's data out", what="the node's database dumped, its layers copied")


@deploy("Load the shared database")
def load(plan):
    if host.name == plan.cluster.backing:
        remote = posixpath.join(plan.config["harbor_backup_dir"], DUMP_NAME)
        # Only the dump this run took: an earlier attempt's may wait on the controller.
        exported = node_turn.none_failed(host.state, [plan.source])
        secret_file.upload(
            name=f"Upload the dump to {remote}",
            src=str(plan.carried),
            dest=remote,
            lock_holder=plan.lock_holder,
            _if=exported,
        )
        harbor_data.database_load(
            name=f"Load it into the empty shared database {plan.backing.db_name}",
            dump=remote,
            port=plan.backing.db_port,
            database=plan.backing.db_name,
            role=plan.backing.db_username,
            lock_holder=plan.lock_holder,
            _if=exported,
        )
    node_turn.all_reached(name="The shared database loaded", what="the shared database loaded")


@deploy("The node grown")
def finish(plan):
    if host.name != plan.source:
        return
    server.shell(
        name=f"Mark {host.name} grown ({GROWN_MARKER}): deploys/server.py points it at the shared services next",
        commands=[
            f"{acquire(plan.lock_holder)} && mkdir -p {posixpath.dirname(GROWN_MARKER)} && date -u > {GROWN_MARKER}"
        ],
        _if=node_turn.none_failed(host.state, [plan.cluster.backing]),
    )
    server.shell(
        name=f"Start Harbor again on {host.name}, on its own data: the shared database did not load",
        commands=[f"{acquire(plan.lock_holder)} && systemctl start harbor.service"],
        _if=node_turn.any_failed(host.state, [plan.cluster.backing]),
    )
    logger.info(f"[{host.name}] once moved, run deploys/server.py: Harbor stays stopped here until then")
