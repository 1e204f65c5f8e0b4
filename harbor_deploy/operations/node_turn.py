"""
A node's turn in a rolling change: taken only while the change is safe to go on.
"""

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation


def stop_reason(failed, cluster, node):
    """Why ``node`` must not change (``failed``: names of the hosts failed so far), or
    None: the load balancer failed (it may not have drained the node), the backing
    host failed (its dump of the shared database, which no node migrates without), or
    an earlier node of the rolling change failed (the change stops at the first failure)."""
    earlier = [name for name in cluster.nodes[: cluster.nodes.index(node)] if name in failed]
    if cluster.lb in failed:
        return f"the load balancer {cluster.lb} failed, so {node} may not be drained"
    if cluster.backing is not None and cluster.backing in failed:
        return f"{cluster.backing} failed to dump the shared database, and no node migrates it without that dump"
    if earlier:
        return f"{', '.join(earlier)} failed earlier in this rolling change, which stops there"
    return None


def failed_names(state):
    return {failed_host.name for failed_host in state.failed_hosts}


def any_failed(state, names):
    """A condition (``_if``), asked as the run executes: whether any host of ``names`` has failed."""
    return lambda: bool(set(names) & failed_names(state))


def none_failed(state, names):
    """A condition (``_if``), asked as the run executes: whether no host of ``names`` has failed."""
    return lambda: not set(names) & failed_names(state)


@operation(is_idempotent=False)
def taken(cluster, node):
    """
    Fail this node, before it changes, when its turn is not safe (``stop_reason``):
    the nodes not reached yet keep serving as they are. Checked when the run gets
    there, after the drain; call it only on a node this run changes.

    + cluster: the ``Cluster`` (its nodes in order, its load balancer, its backing host)
    + node: this node's name

    **Example:**

    .. code:: python

        node_turn.taken(name="harbor-2: its turn, once drained", cluster=cluster, node="harbor-2")
    """
    yield FunctionCommand(_turn_safe, (cluster, node), {})


def _turn_safe(state, host, cluster, node):
    why = stop_reason(failed_names(state), cluster, node)
    if why is None:
        return True
    host.log_styled(
        f"{why}: {node} is left as it is, serving; fix the cause and run again",
        fg="red",
        log_func=logger.error,
    )
    return False


@operation(is_idempotent=True)
def all_reached(what):
    """
    Nothing to do, on any host: every host of a Harbor adds it at the same place, so
    that no host's next operation runs before every host's previous one has (pyinfra
    orders each host's operations, and across hosts only the operations they share).

    + what: what every host has done by then

    **Example:**

    .. code:: python

        node_turn.all_reached(name="Every node stopped", what="every node stopped")
    """
    host.noop(what)
    yield from ()
