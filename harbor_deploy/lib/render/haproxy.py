"""The load balancer in front of several Harbor nodes: HAProxy's configuration,
rendered from the inventory.

Each port Harbor serves gets a frontend and a backend of every node, checked every 2 s
on Harbor's ``/api/v2.0/ping`` (over TLS when the nodes serve it, verified with the
CA that issued their certificate). ``passthrough`` forwards TLS untouched (the nodes
keep the certificate); ``terminate`` ends it here, so the nodes must have
``harbor_external_url`` set for Harbor's token realm (goharbor/harbor#3114). A client
sticks to one node (``balance source``), so the requests of one layer upload meet
one registry. The admin socket (root's alone) lets a rolling change drain one node at a
time. HAProxy serves as user ``haproxy`` in a chroot, and limits how long a client may
take to send a request or keep a connection idle.
"""

import jinja2

from harbor_deploy.lib import TEMPLATES

TEMPLATE = TEMPLATES / "haproxy.cfg.j2"

ADMIN_SOCKET = "/run/haproxy/admin.sock"
# Where HAProxy is shut in once started (the distribution packages create it, empty).
CHROOT = "/var/lib/haproxy"
# How long a client may take to send a request's headers, or keep a connection idle.
REQUEST_TIMEOUT = "10s"
TLS_MODES = ("passthrough", "terminate")


def render(nodes, ports, node_ports, tls_mode, node_ca=None, certificate=None, admin_socket=ADMIN_SOCKET):
    """haproxy.cfg for ``nodes`` ([{name, address}]), serving ``ports`` ({"https": 443,
    "http": 80}) from each node's ``node_ports`` ({"https": 8443, "http": 8081});
    ``node_ca``: the CA file that verifies the nodes (None: they serve plain HTTP);
    ``certificate``: the PEM (certificate, chain, key) served in ``terminate`` mode."""
    if tls_mode not in TLS_MODES:
        raise ValueError(f"tls_mode must be one of {', '.join(TLS_MODES)}")
    return (
        jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), undefined=jinja2.StrictUndefined)
        .get_template(TEMPLATE.name)
        .render(
            nodes=nodes,
            ports=ports,
            node_ports=node_ports,
            terminate=tls_mode == "terminate",
            node_tls=node_ca is not None,
            node_ca=node_ca,
            certificate=certificate,
            admin_socket=admin_socket,
            chroot=CHROOT,
            request_timeout=REQUEST_TIMEOUT,
        )
        + "\n"
    )
