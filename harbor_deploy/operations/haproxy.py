"""
Take one Harbor node out of HAProxy and put it back, through HAProxy's runtime API.
"""

import shlex

from pyinfra import host
from pyinfra.api import operation

from harbor_deploy.lib.render.haproxy import ADMIN_SOCKET
from harbor_deploy.operations.deploy_lock import guarded

# Runs on the load balancer: ``$1`` runtime API command(s) through the admin socket.
# ``show stat`` is CSV: field 2 the server, 5 its current sessions, 18 its status.
RUNTIME = """
set -u
api() {{ printf '%s\\n' "$1" | socat -t 5 stdio unix-connect:{socket}; }}
stat() {{ api "show stat" | awk -F, -v node={node} '$2 == node && $1 != "FRONTEND" && $1 != "BACKEND"'; }}
"""

DRAIN = """
for backend in {backends}; do api "set server $backend/{node} state drain" >/dev/null || exit 1; done
end=$((SECONDS + {timeout}))
while :; do
  sessions=$(stat | awk -F, '{{ s += $5 }} END {{ print s + 0 }}')
  [ "$sessions" -eq 0 ] && exit 0
  if [ $SECONDS -ge $end ]; then
    echo "{node}: $sessions connection(s) still open after {timeout}s drained: closed" >&2
    for backend in {backends}; do api "shutdown sessions server $backend/{node}" >/dev/null; done
    exit 0
  fi
  sleep 1
done
"""

READY = """
for backend in {backends}; do api "set server $backend/{node} state ready" >/dev/null || exit 1; done
end=$((SECONDS + {timeout}))
while :; do
  states=$(stat | awk -F, '{{ print $1 ": " $18 }}')
  echo "$states" | grep -qv ': UP$' || exit 0
  if [ $SECONDS -ge $end ]; then
    echo "{node} is not UP on the load balancer after {timeout}s: $states" >&2
    exit 1
  fi
  sleep 1
done
"""

SCRIPTS = {"drain": DRAIN, "ready": READY}


def node_script(state, node, backends, timeout, socket=ADMIN_SOCKET):
    """The shell setting ``node`` to ``state`` in ``backends`` and waiting for it."""
    values = {
        "node": shlex.quote(node),
        "backends": " ".join(shlex.quote(backend) for backend in backends),
        "timeout": int(timeout),
        "socket": shlex.quote(socket),
    }
    return RUNTIME.format(**values) + SCRIPTS[state].format(**values)


@operation(is_idempotent=False)
def node_state(node, state, backends, timeout=120, active=True, socket=ADMIN_SOCKET, lock_holder=None):
    """
    Set a Harbor node's state on the load balancer, then wait for it:

    - ``drain``: no new request goes to the node; wait until the requests it serves
      have ended (``timeout`` at most: then the connections still open are closed,
      which only happens with TLS passthrough, where a client's keep-alive connection
      stays on one node);
    - ``ready``: the node takes requests again; wait until every backend's health
      checks report it UP, or fail after ``timeout`` seconds naming its states.

    A rolling change calls it on every host of the Harbor, so that all of them take
    the nodes in the same order; only the load balancer (``active``) does anything.

    + node: the node's server name in HAProxy's configuration (its inventory name)
    + state: ``drain`` or ``ready``
    + backends: the backends the node serves in (``harbor_https``, ``harbor_http``)
    + timeout: seconds to wait
    + active: whether this host is the load balancer
    + socket: HAProxy's admin socket
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        haproxy.node_state(
            name="Drain harbor-1 on the load balancer",
            node="harbor-1", state="drain", backends=["harbor_https", "harbor_http"],
        )
    """
    if not active:
        host.noop(f"{node} is {state} on the load balancer, not here")
        return
    yield guarded(lock_holder, "bash", "-c", shlex.quote(node_script(state, node, backends, timeout, socket)))
