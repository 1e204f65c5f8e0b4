"""One Harbor served by several nodes: the ``harbor_servers`` hosts that share one
public URL, behind the ``harbor_lb`` host.

Harbor's nodes are stateless once their state is outside them (Harbor's own HA
answer, as in its Kubernetes chart): ``external_database``, ``external_redis`` and a
shared ``storage_service``. Every other setting must be the same on every node, or
one name leads clients to nodes that behave differently (``cache`` above all, which
FACTS.md says must be equal on every instance). Only how a node is reached may
differ.
"""

from dataclasses import dataclass

from harbor_deploy.lib.config.defaults import SERVER_GROUP
from harbor_deploy.lib.harbor_api.client import public_url

# Where the shared state lives: without all three, each node keeps a Harbor of its own.
SHARED_STATE_KEYS = ("harbor_external_database", "harbor_external_redis", "harbor_storage_service")
# How the load balancer and the controller reach one node: the only keys that may differ.
NODE_KEYS = ("harbor_node_address", "harbor_api_host", "harbor_api_url")


@dataclass(frozen=True)
class Cluster:
    """The nodes of one Harbor, in the order a rolling change takes them, the load
    balancer in front of them and the backing host serving their shared state (None:
    there is none in the inventory, e.g. managed services)."""

    url: str
    nodes: tuple
    addresses: dict
    lb: str | None = None
    backing: str | None = None


def node_address(name, data):
    """Where the load balancer reaches a node: ``harbor_node_address``, else its SSH host name."""
    return data.get("harbor_node_address") or data.get("ssh_hostname") or name


def members(url, configs):
    """Names of the hosts of ``configs`` ({name: merged config}) serving ``url``, sorted."""
    return tuple(sorted(name for name, config in configs.items() if public_url(config) == url))


def shared_state_problems(config, peers):
    """Why the nodes serving ``config``'s URL (``peers`` besides this one) can't be one
    Harbor: its state not all outside the nodes."""
    storage = config["harbor_storage_service"] or {}
    missing = [
        key
        for key in SHARED_STATE_KEYS
        if not config[key] or (key == "harbor_storage_service" and set(storage) & {"filesystem"})
    ]
    if missing:
        yield (
            missing[0],
            f"{', '.join(peers)} serve(s) {public_url(config)} too: several nodes are one Harbor only with its "
            f"state shared outside them; set {', '.join(missing)} (a filesystem storage_service is each node's "
            "own), or give each server its own harbor_hostname (or harbor_external_url)",
        )


def version_problems(config, peers):
    """Why ``config``'s release can't be the one of the nodes serving its URL (``peers``
    besides this one): ``latest``, which each node would resolve on its own, so that a
    new node could install a newer release whose core migrates the database under the
    others."""
    if config["harbor_version"] == "latest":
        yield (
            "harbor_version",
            f"latest is refused for a Harbor of several nodes ({', '.join(peers)} serve(s) {public_url(config)} "
            "too): each node would resolve it on its own; name the release (vX.Y.Z)",
        )


def difference_problems(config, peer_configs):
    """Keys whose value differs between this node and a peer ({name: merged config})."""
    for name, other in sorted(peer_configs.items()):
        for key in sorted(set(config) | set(other)):
            if key in NODE_KEYS or key.startswith("harbor_client_"):
                continue
            if config.get(key) != other.get(key):
                yield key, f"differs on {name}: every node of one Harbor needs the same value"


def lb_problems(config, nodes):
    """Why the load balancer of ``config``'s Harbor can't front ``nodes``."""
    if not nodes:
        yield "harbor_hostname", f"no {SERVER_GROUP} host serves {public_url(config)}: nothing to balance"
    if config["harbor_lb_tls"] == "terminate":
        if config["harbor_tls_mode"] == "http":
            yield "harbor_lb_tls", 'terminate needs the TLS material: harbor_tls_mode must not be "http"'
        if not config["harbor_external_url"]:
            yield (
                "harbor_external_url",
                "required with harbor_lb_tls terminate: Harbor puts it in the token realm clients follow "
                "(goharbor/harbor#3114)",
            )
