"""
A node's turn in a rolling change: taken only while the change is safe to go on.
"""

from pyinfra import logger
from pyinfra.api import FunctionCommand, operation


@operation(is_idempotent=False)
def taken(cluster, node):
    """
    Fail this node, before it changes, when its turn is not safe: the load balancer
    failed (it may not have drained the node, which would be changed while serving),
    or an earlier node of the rolling change failed (the change stops at the first
    failure, the nodes not reached yet keep serving as they are). Checked when the
    run gets there, after the drain; call it only on a node this run changes.

    + cluster: the ``Cluster`` (its nodes in order, its load balancer)
    + node: this node's name

    **Example:**

    .. code:: python

        node_turn.taken(name="harbor-2: its turn, once drained", cluster=cluster, node="harbor-2")
    """
    yield FunctionCommand(_turn_safe, (cluster, node), {})


def _turn_safe(state, host, cluster, node):
    failed = {failed_host.name for failed_host in state.failed_hosts}
    earlier = [name for name in cluster.nodes[: cluster.nodes.index(node)] if name in failed]
    if cluster.lb in failed:
        why = f"the load balancer {cluster.lb} failed, so {node} may not be drained"
    elif earlier:
        why = f"{', '.join(earlier)} failed earlier in this rolling change, which stops there"
    else:
        return True
    host.log_styled(
        f"{why}: {node} is left as it is, serving; fix the cause and run again",
        fg="red",
        log_func=logger.error,
    )
    return False
