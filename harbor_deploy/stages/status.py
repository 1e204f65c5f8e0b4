"""The read-only stages: what ``deploys/status.py``, ``deploys/logs.py`` and
``deploys/client_status.py`` report. None of them changes a host; status fails the
host (the run exits non-zero) when it finds a problem, for cron and monitoring."""

import json
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import server

from harbor_deploy.facts.backing import BackingHealth
from harbor_deploy.facts.docker_client import ClientRegistryState
from harbor_deploy.facts.firewalld import FirewalldState
from harbor_deploy.facts.haproxy import HaproxyServers
from harbor_deploy.facts.harbor import (
    HarborBackups,
    HarborHealth,
    HarborInstallation,
    HarborLogTails,
    SharedValueDigests,
)
from harbor_deploy.facts.host import SelinuxState
from harbor_deploy.facts.tls import CertificateExpiry
from harbor_deploy.facts.trivy import TrivyDatabases
from harbor_deploy.lib.config.defaults import FIREWALLD_SERVICE, SERVER_TLS_CERTIFICATE
from harbor_deploy.lib.config.secrets import SecretStore, ensure_private_dir, secrets_dir, write_private_file
from harbor_deploy.lib.harbor_api.client import ApiError, HarborClient, default_url, default_verify, served_url
from harbor_deploy.lib.harbor_api.resources import AdminAccess, robots
from harbor_deploy.lib.plan import shared_values
from harbor_deploy.lib.plan.client import registry_address
from harbor_deploy.lib.plan.status import (
    backing_problems,
    backup_age_hours,
    expiring_robots,
    load_balancer_problems,
    problems,
    trivy_databases,
)
from harbor_deploy.lib.render.backing import service_ports
from harbor_deploy.operations.docker_daemon import fail_host


@deploy("Load balancer status")
def load_balancer():
    servers = host.get_fact(HaproxyServers)
    report({"load_balancer": servers, "problems": load_balancer_problems(servers)})


@deploy("Backing services status")
def backing(config):
    health = host.get_fact(BackingHealth, **service_ports(config))
    report({"backing": health, "problems": backing_problems(health)})


@deploy("Harbor server status")
def harbor_server(config):
    """Installed and running version, kept releases, harbor.service, each container's
    state and health, Harbor's own health answer, the served certificate's expiry,
    Harbor's firewalld service, the SELinux mode and the labels of the data volume and
    logs, the backups on the server, the age of Trivy's databases (a warning past a
    week: scans miss newer vulnerabilities) and, asked from the controller, the robot
    accounts about to expire."""
    installation = host.get_fact(HarborInstallation, install_dir=config["harbor_install_dir"])
    health = host.get_fact(HarborHealth, url=served_url(config, "127.0.0.1"))
    certificate = host.get_fact(CertificateExpiry, path=SERVER_TLS_CERTIFICATE)
    firewall = host.get_fact(FirewalldState)
    zone = firewall["zones"].get(config["harbor_firewall_zone"], {})
    status = {
        "running_version": installation["running_version"],
        "release_dir": installation["release_dir"],
        "releases": installation["releases"],
        "service": f"{installation['service_enabled']}/{installation['service_active']}",
        "health": (health["api"] or {}).get("status", "no answer"),
        "components": {
            c["name"]: c["status"] for c in (health["api"] or {}).get("components", []) if c.get("status") != "healthy"
        },
        "containers": {name: f"{c['state']}/{c['health']}" for name, c in health["containers"].items()},
        "certificate_not_after": certificate["not_after"].isoformat() if certificate else None,
        # Harbor's ports live in the firewalld service the server deploy owns.
        "firewalld": {
            "service_ports": firewall["local_services"].get(FIREWALLD_SERVICE),
            "enabled": FIREWALLD_SERVICE in zone.get("runtime_services", []),
            "zone_ports": zone.get("runtime"),
        }
        if firewall["running"]
        else None,
    }
    # Reported, never judged: what an enforcing host holds (docs/systems.md#selinux).
    status["selinux"] = host.get_fact(SelinuxState, paths=[config["harbor_data_volume"], config["harbor_log_location"]])
    backups = host.get_fact(HarborBackups, backup_dir=config["harbor_backup_dir"])
    last = max(backups) if backups else None
    status["backups"] = {
        "count": len(backups),
        "last": last,
        "last_age_hours": round(backup_age_hours(backups[last]["created"]), 1) if last else None,
    }
    if config["harbor_with_trivy"]:
        status["trivy_databases"], warnings = trivy_databases(
            host.get_fact(TrivyDatabases, data_volume=config["harbor_data_volume"])
        )
        for warning in warnings:
            logger.warning(f"[{host.name}] {warning}")
    status["shared_values_differ"] = shared_values_differ(config)
    status["robots"] = robots_expiring(config) if status["health"] == "healthy" else None
    status["problems"] = problems(status)
    report(status)


def shared_values_differ(config):
    """For a node of a Harbor of several (the controller keeps its shared values): the
    env files and keys whose values differ from the ones every node must hold, compared
    by digest; None for a Harbor of one node."""
    kept = secrets_dir(config) / shared_values.KEEP_NAME
    if not kept.is_file():
        return None
    wanted = shared_values.digests(shared_values.parse(kept.read_bytes()))
    found = host.get_fact(SharedValueDigests, install_dir=config["harbor_install_dir"])
    return shared_values.differences(wanted, found)


def robots_expiring(config):
    """The robots of this Harbor that expire within ``harbor_robot_expiry_warning_days``,
    asked from the controller through Harbor's API as configure does (the host keeps no
    record of them): ``{expiring, error}``, or None when the check is off."""
    days = config["harbor_robot_expiry_warning_days"]
    if not days:
        return None
    try:
        api = HarborClient(default_url(config), verify=default_verify(config), retries=1, timeout=10)
        access = AdminAccess(api, SecretStore(secrets_dir(config)), rotate=config["harbor_admin_password_rotate"])
        return {"expiring": expiring_robots(robots.all_robots(access.client()), days), "error": None}
    except ApiError as error:
        return {"expiring": [], "error": str(error)}


def report(status):
    """One ``harbor-status <host> <json>`` line; a problem fails this host alone."""
    logger.info(f"harbor-status {host.name} {json.dumps(status, sort_keys=True)}")
    if status["problems"]:
        server.shell(name="Harbor is healthy", commands=[fail_host(f"Harbor: {'; '.join(status['problems'])}")])


@deploy("Harbor logs")
def logs(config):
    """The last ``harbor_logs_lines`` lines of each of Harbor's logs, one controller
    file per host and component (0600, folders 0700: logs name users and addresses)."""
    tails = host.get_fact(HarborLogTails, log_dir=config["harbor_log_location"], lines=int(config["harbor_logs_lines"]))
    directory = Path(config["harbor_logs_dir"]) / host.name
    if not tails:
        logger.warning(f"harbor-logs {host.name}: no log in {config['harbor_log_location']}")
        return
    ensure_private_dir(directory)
    for component, lines in sorted(tails.items()):
        write_private_file(directory / f"{component}.log", "".join(f"{line}\n" for line in lines).encode())
    logger.info(f"harbor-logs {host.name} {directory}: {', '.join(sorted(tails))}")


@deploy("Docker client status")
def client(config):
    """One ``client-state <host> <json>`` line: trust mode, certs.d CA sha256,
    daemon.json entries for the registry and, per login user, whether the stored login
    works."""
    state = host.get_fact(
        ClientRegistryState, registry=registry_address(config), users=list(config["harbor_client_login_users"])
    )
    print(f"client-state {host.name} {json.dumps(state, sort_keys=True)}", flush=True)
