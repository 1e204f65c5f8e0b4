"""The load balancer of a Harbor of several nodes (group ``harbor_lb``): HAProxy from
the distribution's packages, every node checked on /api/v2.0/ping, TLS passed
through to the nodes or ended here (``harbor_lb_tls``)."""

from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import deploy
from pyinfra.context import ctx_host
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.operations import server as pyinfra_server

from harbor_deploy.facts.files import FileStates
from harbor_deploy.facts.firewalld import FirewalldState
from harbor_deploy.lib.config.defaults import FIREWALLD_SERVICE
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.plan import cluster
from harbor_deploy.lib.render import haproxy as haproxy_cfg
from harbor_deploy.operations import firewalld, packages, secret_file
from harbor_deploy.operations.deploy_lock import Holder, guarded, lock_holder
from harbor_deploy.operations.secret_file import public
from harbor_deploy.planning.context import config_of, refused_before_any_change
from harbor_deploy.planning.server import cluster_of, shared_instance
from harbor_deploy.planning.server import plan as server_plan

HAPROXY_CONFIG = "/etc/haproxy/haproxy.cfg"
# What the health checks trust: the CA of the nodes' certificate (the system's CAs
# when a public CA issued it); in mode terminate, the certificate served here.
NODE_CA = "/etc/haproxy/harbor-nodes-ca.crt"
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"
SERVED_PEM = "/etc/haproxy/harbor.pem"
PACKAGES = ["haproxy", "socat"]
SERVICE = "haproxy.service"


@dataclass
class LoadBalancerPlan:
    config: dict
    cluster: object
    tls: object
    files: dict
    firewall: dict
    lock_holder: Holder
    # HAProxy enabled and running when planned (both, or it is enabled and started).
    serving: bool

    @property
    def ports(self):
        """{label: port} the load balancer serves, the ports the nodes serve."""
        ports = {"http": self.config["harbor_http_port"]}
        if self.config["harbor_tls_mode"] != "http":
            ports = {"https": self.config["harbor_https_port"], **ports}
        return ports

    @property
    def backends(self):
        return [f"harbor_{label}" for label in self.ports]


def plan(overrides=None):
    """Validate the load balancer's data and find its nodes, before any host changes."""
    config = config_of(overrides)
    with refused_before_any_change():
        nodes = cluster_of(config, overrides)
        found = list(cluster.lb_problems(config, nodes.nodes if nodes else ()))
        if found:
            raise ConfigError(found)
    instance = shared_instance(config)
    if instance is None:
        # The TLS material is the nodes' (taken back from a node when the controller
        # lost it): planned by the first node, here when pyinfra plans this host first.
        with ctx_host.use(inventory.get_host(nodes.nodes[0])):
            server_plan(overrides)
        instance = shared_instance(config)
    paths = (HAPROXY_CONFIG, NODE_CA, SERVED_PEM, haproxy_cfg.ADMIN_SOCKET)
    return LoadBalancerPlan(
        config=config,
        cluster=nodes,
        tls=instance.tls,
        files=host.get_fact(FileStates, paths=paths),
        firewall=host.get_fact(FirewalldState),
        lock_holder=lock_holder("harbor_server"),
        serving=bool(
            host.get_fact(SystemdStatus, services=[SERVICE]).get(SERVICE)
            and host.get_fact(SystemdEnabled, services=[SERVICE]).get(SERVICE)
        ),
    )


@deploy("HAProxy")
def haproxy(plan):
    """HAProxy installed, configured for the nodes, checked and reloaded when its files
    changed (a reload keeps the connections it serves), enabled and running."""
    packages.installed(name="HAProxy and socat (its runtime API)", packages=PACKAGES, lock_holder=plan.lock_holder)
    material, known = plan.tls, plan.files
    changed = []
    node_ca = None
    if material is not None:
        node_ca = NODE_CA if material.ca_certificate else SYSTEM_CAS
        if material.ca_certificate:
            changed.append(
                secret_file.put(
                    name="Upload the CA the health checks trust",
                    dest=NODE_CA,
                    content=material.ca_certificate,
                    mode="0644",
                    mask=public,
                    known_files=known,
                    lock_holder=plan.lock_holder,
                )
            )
    terminate = plan.config["harbor_lb_tls"] == "terminate"
    if terminate:
        changed.append(
            secret_file.put(
                name="Upload the certificate and key the load balancer serves",
                dest=SERVED_PEM,
                content=material.certificate + material.private_key,
                mode="0600",
                known_files=known,
                lock_holder=plan.lock_holder,
            )
        )
    nodes = [{"name": name, "address": plan.cluster.addresses[name]} for name in plan.cluster.nodes]
    changed.append(
        secret_file.put(
            name=f"Configure HAProxy for {len(nodes)} Harbor nodes ({plan.config['harbor_lb_tls']})",
            dest=HAPROXY_CONFIG,
            content=haproxy_cfg.render(
                nodes,
                plan.ports,
                plan.ports,
                plan.config["harbor_lb_tls"],
                node_ca=node_ca,
                certificate=SERVED_PEM if terminate else None,
            ),
            mode="0644",
            mask=public,
            known_files=known,
            lock_holder=plan.lock_holder,
            keep_original=True,
        )
    )
    # A reload hands the listening sockets, the admin socket among them, to the new
    # process as they are: HAProxy serving the package's configuration (a fresh host) is
    # restarted, so the socket is made as this configuration says.
    apply = "reload-or-restart" if plan.serving else "restart"
    pyinfra_server.shell(
        name=f"Check HAProxy's configuration and {apply.split('-')[0]} it",
        commands=[f"haproxy -c -q -f {HAPROXY_CONFIG} && systemctl {apply} {SERVICE}"],
        _if=lambda: any(op.did_change() for op in changed),
    )
    socket = known.get(haproxy_cfg.ADMIN_SOCKET)
    if socket and socket["mode"] != "600":  # made by an earlier configuration, kept by reloads
        pyinfra_server.shell(
            name=f"HAProxy's admin socket root's alone (mode 600, was {socket['mode']})",
            commands=[guarded(plan.lock_holder, "chmod 600", haproxy_cfg.ADMIN_SOCKET)],
        )
    if not plan.serving:  # pyinfra's systemd.service would start it without the lock
        pyinfra_server.shell(
            name="HAProxy enabled and running", commands=[guarded(plan.lock_holder, "systemctl enable --now", SERVICE)]
        )


@deploy("Firewall")
def firewall(plan):
    if not plan.firewall["running"]:
        return
    zone = plan.config["harbor_firewall_zone"]
    firewalld.service_ports(
        name=f"Open the load balancer's ports through firewalld service {FIREWALLD_SERVICE} in zone {zone}",
        service=FIREWALLD_SERVICE,
        ports=[f"{port}/tcp" for port in plan.ports.values()],
        zone=zone,
        description="Harbor container registry (managed by harbor-deploy)",
        firewall=plan.firewall,
        lock_holder=plan.lock_holder,
    )
