"""A change to a Harbor of several nodes, made one node at a time: the node is drained
on the load balancer, changed (installed, reconfigured or upgraded), waited for until
healthy and put back before the next one is touched, so the others keep serving.

pyinfra runs a deploy's operations in one order on every host; an operation every
host adds at the same place is one step of that order. Every node and the load
balancer add the drain and the return of each node, in the nodes' order, so a node's
own change falls between its drain and its return, after the previous node's. The
first node's upgrade runs Harbor's schema migrations; the next ones find them done,
so before it the backing host dumps the shared database (``shared_database_dump``).
A node's change starts only once its drain succeeded, the dump was taken and no
earlier node has failed: the change stops at the first failure, the nodes after it
not even drained. A node that failed stays drained.
"""

import weakref

from pyinfra import host
from pyinfra.api import deploy

from harbor_deploy.operations import haproxy, harbor_data, node_turn

# {run: {node: whether this run changes it}}, filled while the nodes are planned and
# asked while the run executes (on the load balancer, which is planned separately).
_pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# {run: {node: the release it upgrades from}}, filled the same way, asked by the backing host.
_upgrades: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# The name of the dump the backing host takes before the first node migrates.
BEFORE_UPGRADE = "before-upgrade"


def register(pending, upgrade_from=None):
    """Say whether this run changes this node: ``pending`` is asked while it executes;
    ``upgrade_from``: the release it upgrades from, if it does."""
    _pending.setdefault(host.state, {})[host.name] = pending
    if upgrade_from:
        _upgrades.setdefault(host.state, {})[host.name] = upgrade_from


def is_pending(run, node):
    return lambda: _pending.get(run, {}).get(node, lambda: False)()


def backends(config):
    """HAProxy's backends a node serves in."""
    return ["harbor_http"] if config["harbor_tls_mode"] == "http" else ["harbor_https", "harbor_http"]


def may_drain(run, cluster, node):
    """Whether the load balancer drains ``node`` in this run (asked as it executes): it
    changes the node, and no ``node_turn.stop_reason`` holds."""
    pending = is_pending(run, node)
    return lambda: pending() and node_turn.stop_reason(node_turn.failed_names(run), cluster, node) is None


def may_return(run, cluster, node):
    """Drained by this run (``may_drain``) and not failed since."""
    drained = may_drain(run, cluster, node)
    return lambda: drained() and node not in node_turn.failed_names(run)


@deploy("Shared database dump")
def shared_database_dump(config, lock_holder=None):
    """On the backing host, when a node of this run upgrades: the shared database
    dumped before the first node's core migrates it, which no older release can
    start on afterwards (``harbor-db-<UTC time>-before-upgrade.pgdump``, what a
    cluster rollback restores). Add it before ``one_node_at_a_time``."""
    run = host.state
    database = config["harbor_external_database"] or {}
    harbor_data.database_dump(
        name=f"Dump the shared database {database.get('db_name', 'registry')} to {config['harbor_backup_dir']}/"
        f"harbor-db-<UTC time>-{BEFORE_UPGRADE}.pgdump, when a node upgrades (before the first one migrates it)",
        backup_dir=config["harbor_backup_dir"],
        port=database.get("port", 5432),
        database=database.get("db_name", "registry"),
        keep=config["harbor_backup_keep"],
        label=BEFORE_UPGRADE,
        lock_holder=lock_holder,
        _if=lambda: bool(_upgrades.get(run)),
    )


@deploy("One node at a time")
def one_node_at_a_time(cluster, config, change=None, lock_holder=None):
    """
    + cluster: the ``Cluster`` (its nodes in order, its load balancer)
    + config: this host's validated data (timeouts, TLS mode)
    + change: on a node, adds the operations that change it (called in its turn)
    + lock_holder: the load balancer takes its deploy lock for it before draining
    """
    run = host.state
    served = backends(config)
    lb_here = host.name == cluster.lb
    for node in host.loop(cluster.nodes):
        pending = is_pending(run, node)
        haproxy.node_state(
            name=f"Drain {node} on the load balancer",
            node=node,
            state="drain",
            backends=served,
            timeout=config["harbor_lb_drain_timeout"],
            active=lb_here,
            lock_holder=lock_holder,
            _if=may_drain(run, cluster, node),
        )
        if host.name == node and change is not None:
            node_turn.taken(name=f"{node}: its turn, once drained", cluster=cluster, node=node, _if=pending)
            change()
        haproxy.node_state(
            name=f"Put {node} back on the load balancer once healthy",
            node=node,
            state="ready",
            backends=served,
            timeout=config["harbor_health_timeout"],
            active=lb_here,
            lock_holder=lock_holder,
            _if=may_return(run, cluster, node),
        )
