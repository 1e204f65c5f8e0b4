"""A change to a Harbor of several nodes, made one node at a time: the node is drained
on the load balancer, changed (installed, reconfigured or upgraded), waited for until
healthy and put back before the next one is touched, so the others keep serving.

pyinfra runs a deploy's operations in one order on every host; an operation every
host adds at the same place is one step of that order. Every node and the load
balancer add the drain and the return of each node, in the nodes' order, so a node's
own change falls between its drain and its return, after the previous node's. The
first node's upgrade runs Harbor's schema migrations; the next ones find them done.
A node's change starts only once its drain succeeded and while no earlier node has
failed: the change stops at the first failure.
"""

import weakref

from pyinfra import host
from pyinfra.api import deploy

from harbor_deploy.operations import haproxy, node_turn

# {run: {node: whether this run changes it}}, filled while the nodes are planned and
# asked while the run executes (on the load balancer, which is planned separately).
_pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def register(pending):
    """Say whether this run changes this node: ``pending`` is asked while it executes."""
    _pending.setdefault(host.state, {})[host.name] = pending


def is_pending(run, node):
    return lambda: _pending.get(run, {}).get(node, lambda: False)()


@deploy("One node at a time")
def one_node_at_a_time(cluster, config, change=None, lock_holder=None):
    """
    + cluster: the ``Cluster`` (its nodes in order, its load balancer)
    + config: this host's validated data (timeouts, TLS mode)
    + change: on a node, adds the operations that change it (called in its turn)
    + lock_holder: the load balancer takes its deploy lock for it before draining
    """
    run = host.state
    backends = ["harbor_http"] if config["harbor_tls_mode"] == "http" else ["harbor_https", "harbor_http"]
    lb_here = host.name == cluster.lb
    for node in host.loop(cluster.nodes):
        pending = is_pending(run, node)
        haproxy.node_state(
            name=f"Drain {node} on the load balancer",
            node=node,
            state="drain",
            backends=backends,
            timeout=config["harbor_lb_drain_timeout"],
            active=lb_here,
            lock_holder=lock_holder,
            _if=pending,
        )
        if host.name == node and change is not None:
            node_turn.taken(name=f"{node}: its turn, once drained", cluster=cluster, node=node, _if=pending)
            change()
        haproxy.node_state(
            name=f"Put {node} back on the load balancer once healthy",
            node=node,
            state="ready",
            backends=backends,
            timeout=config["harbor_health_timeout"],
            active=lb_here,
            lock_holder=lock_holder,
            _if=pending,
        )
