"""The packaged deploys: what ``deploys/*.py`` run, to call from your own deploy file.

    from pyinfra import host
    from harbor_deploy import harbor_server, harbor_clients, harbor_configure

    if "registry" in host.groups:
        harbor_server()                            # data from the inventory (README's key table)
        harbor_configure(harbor_gc_schedule={"schedule": "Daily"})   # or overridden by keyword

Each one validates the host's data (with the keyword arguments winning) before any
host changes, exactly as the entry files do; pyinfra's global arguments (``_sudo``...)
apply to every operation inside.
"""

import json
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import server as pyinfra_server

from harbor_deploy.facts.backing import BackingHealth
from harbor_deploy.facts.docker_client import ClientRegistryState
from harbor_deploy.facts.firewalld import FirewalldState
from harbor_deploy.facts.haproxy import HaproxyServers
from harbor_deploy.facts.harbor import HarborBackups, HarborHealth, HarborInstallation, HarborLogTails
from harbor_deploy.facts.tls import CertificateExpiry
from harbor_deploy.lib.api import served_url
from harbor_deploy.lib.backing import GROUP as BACKING_GROUP
from harbor_deploy.lib.backing import service_ports
from harbor_deploy.lib.client import registry_address
from harbor_deploy.lib.cluster import LB_GROUP
from harbor_deploy.lib.defaults import SERVER_TLS_CERTIFICATE, merged
from harbor_deploy.lib.secrets import ensure_private_dir, write_private_file
from harbor_deploy.lib.status import backing_problems, backup_age_hours, load_balancer_problems
from harbor_deploy.lib.status import problems as status_problems
from harbor_deploy.operations.docker_daemon import fail_host
from harbor_deploy.stages import backing, backup, client, configure, loadbalancer, rolling, server, uninstall
from harbor_deploy.stages.context import host_data
from harbor_deploy.stages.docker_engine import docker_engine


@deploy("Harbor server")
def harbor_server(**data):
    """
    Bare server to a healthy Harbor; run again, nothing changes.

    Several ``harbor_servers`` nodes of one Harbor (README "Growing past one server")
    are installed and changed one at a time behind the ``harbor_lb`` host, which this
    deploy configures too: call it on the nodes and the load balancer from one line
    of your deploy file, so that they all take the nodes in one order.

    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_server(harbor_version="v2.13.1")
    """
    if LB_GROUP in host.groups:  # the load balancer of a Harbor of several nodes
        balancer = loadbalancer.plan(data)
        loadbalancer.haproxy(balancer)
        loadbalancer.firewall(balancer)
        nodes, config, change = balancer.cluster, balancer.config, None
    else:
        plan = server.plan(data)  # validates data and fetches the installer before any change
        server.controller_secrets(plan)
        server.preflight(plan)
        docker_engine(engine=plan.state["engine"], overview=plan.state["overview"])
        server.installer_bundle(plan)
        inputs = [*server.instance_key_files(plan), *server.tls_files(plan), server.harbor_config(plan)]
        unit = server.systemd_unit(plan)
        if plan.cluster:
            server.firewall(plan)  # before the load balancer checks the node

        def change():
            applied = server.apply(plan, inputs)
            server.service(plan)
            if not plan.cluster:
                server.firewall(plan)
            server.verify(plan, changes=[*inputs, unit, applied])

        if not plan.cluster:
            change()
            server.summary(plan)
            return
        rolling.register(server.change_pending(plan, [*inputs, unit]))
        nodes, config = plan.cluster, plan.config
    # Every node and the load balancer: the nodes changed one at a time.
    rolling.one_node_at_a_time(nodes, config, change)
    if LB_GROUP not in host.groups:
        server.summary(plan)


@deploy("Harbor backing services")
def harbor_backing(**data):
    """
    PostgreSQL, Redis and an object store (OpenStack Swift with its S3 API) from the
    distribution's packages, serving exactly what the Harbor nodes' keys say:
    ``harbor_external_database``, ``harbor_external_redis`` and ``harbor_storage_service``
    (pointing at this host); run again, nothing changes and nothing restarts.

    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        if "harbor_backing" in host.groups:
            harbor_backing(harbor_backing_allowed_sources=["10.0.0.0/24"])
    """
    plan = backing.plan(data)  # checks the keys and reads the host: no change yet
    changes = [backing.packages(plan)]
    changes += backing.postgresql(plan)
    changes += backing.redis(plan)
    changes += backing.swift(plan)
    changes.append(backing.firewall(plan))
    backing.verify(plan, changes=[op for op in changes if op is not None])


@deploy("Harbor clients")
def harbor_clients(**data):
    """
    A Docker host trusts, logs in to, pushes to and pulls from Harbor; run again,
    nothing changes and nothing restarts.

    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_clients(harbor_client_username="robot$apps+puller")
    """
    plan = client.plan(data)  # checks data, resolves CA and password, reads the host: no change yet
    docker_engine(engine=plan.state["engine"])
    client.daemon_config(plan)
    client.trust(plan)
    client.login(plan)
    if plan.smoke_test:
        client.smoke_test(plan)


@deploy("Harbor configuration")
def harbor_configure(group="harbor_servers", **data):
    """
    Harbor's settings as code (admin password, registries, users, projects, members,
    robots, retention, GC) through its REST API, from the controller.

    + group: hosts of this group sharing an API URL are one Harbor, configured once
    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_configure(harbor_robots=[{"name": "ci", "project": "apps"}])
    """
    if not configure.configures_here(group, data):
        return
    plan = configure.plan(data)  # checks data and reaches the API before any change
    configure.admin_password(plan)
    configure.harbor_resources(plan)


@deploy("Harbor backup")
def harbor_backup(**data):
    """
    Back up Harbor into ``<harbor_backup_dir>/harbor-<UTC time>-<version>/`` on the
    server (the newest ``harbor_backup_keep`` kept) and copy it to
    ``<harbor_backup_fetch_dir>/<host>/`` on the controller: the database (``pg_dump``
    of the running harbor-db), ``<data_volume>/secret``, harbor.yml, the TLS files, the
    registry's storage with ``harbor_backup_registry``, a manifest and ``SHA256SUMS``.
    Harbor keeps serving. On a ``harbor_backing`` host: a dump of the database the
    nodes share, ``harbor-db-<UTC time>.pgdump`` (the nodes' backups hold the rest).

    + data: ``harbor_*`` keys overriding the host's data
    """
    if BACKING_GROUP in host.groups:  # the database the nodes of a scaled-out Harbor share
        backup.shared_database(data)
        return
    plan = backup.plan_backup(data)  # checks data and reads the host: no change yet
    backup.backup(plan)
    backup.fetch(plan)


@deploy("Harbor restore")
def harbor_restore(**data):
    """
    Restore the backup ``harbor_restore_from`` (``latest``: the newest on the server or
    on the controller) onto the Harbor the server deploy installed, on the same server
    or a new one: the database, ``<data_volume>/secret`` and, when the backup has it,
    the registry's storage; a backup from a newer release is refused. Harbor is
    stopped meanwhile and verified healthy after.

    + data: ``harbor_*`` keys overriding the host's data
    """
    plan = backup.plan_restore(data)  # picks the backup and checks it against the release: no change yet
    backup.restore(plan)


@deploy("Harbor rollback")
def harbor_rollback(**data):
    """
    Undo the last upgrade: the previous release (kept beside the running one) back in
    use with the database and secret dir of the backup the upgrade took first,
    verified healthy. What changed in Harbor since that backup is lost. Set
    ``harbor_version`` back in the inventory afterwards.

    + data: ``harbor_*`` keys overriding the host's data
    """
    plan = backup.plan_rollback(data)  # finds the previous release and its backup: no change yet
    backup.rollback(plan)


@deploy("Harbor uninstall")
def harbor_uninstall(**data):
    """
    Remove Harbor from a server: containers, harbor.service, the firewalld service,
    releases, images, TLS files and the installer cache. ``harbor_data_volume`` and the
    logs stay (the server deploy brings the same Harbor back on them) unless
    ``harbor_uninstall_purge`` is true and ``harbor_uninstall_purge_hostname`` repeats
    ``harbor_hostname``. Secrets the kept data needs are taken back to the controller
    first. Run again, nothing changes.

    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_uninstall()
    """
    plan = uninstall.plan(data)  # checks data and the purge confirmation, reads the host: no change yet
    server.controller_secrets(plan)
    uninstall.stop(plan)
    uninstall.unit(plan)
    uninstall.firewall(plan)
    uninstall.files(plan)
    if plan.purge:
        uninstall.purge(plan)


@deploy("Harbor status")
def harbor_status(**data):
    """
    Print one ``harbor-status <host> <json>`` line: installed and running version, kept
    releases, harbor.service, each container's state and health, Harbor's own health
    answer (and its unhealthy components), the served certificate's expiry, Harbor's
    firewalld service, the backups on the server (how many, the last one and its age)
    and the problems among them. Changes nothing; the host fails
    (the run exits non-zero) when there is a problem.

    + data: ``harbor_*`` keys overriding the host's data
    """
    config = merged(host_data(overrides=data))  # reads only: no validation, no secrets
    if LB_GROUP in host.groups:
        servers = host.get_fact(HaproxyServers)
        _status_report({"load_balancer": servers, "problems": load_balancer_problems(servers)})
        return
    if BACKING_GROUP in host.groups:
        health = host.get_fact(BackingHealth, **service_ports(config))
        _status_report({"backing": health, "problems": backing_problems(health)})
        return
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
            "service_ports": firewall["local_services"].get(server.FIREWALLD_SERVICE),
            "enabled": server.FIREWALLD_SERVICE in zone.get("runtime_services", []),
            "zone_ports": zone.get("runtime"),
        }
        if firewall["running"]
        else None,
    }
    backups = host.get_fact(HarborBackups, backup_dir=config["harbor_backup_dir"])
    last = max(backups) if backups else None
    status["backups"] = {
        "count": len(backups),
        "last": last,
        "last_age_hours": round(backup_age_hours(backups[last]["created"]), 1) if last else None,
    }
    status["problems"] = status_problems(status)
    _status_report(status)


def _status_report(status):
    logger.info(f"harbor-status {host.name} {json.dumps(status, sort_keys=True)}")
    if status["problems"]:
        # A command failing only this host: the run exits non-zero, for cron and monitoring.
        pyinfra_server.shell(name="Harbor is healthy", commands=[fail_host(f"Harbor: {'; '.join(status['problems'])}")])


@deploy("Harbor logs")
def harbor_logs(**data):
    """
    Fetch the last ``harbor_logs_lines`` lines of each of Harbor's logs
    (``<harbor_log_location>/<component>.log``) to the controller, one file per host and
    component: ``<harbor_logs_dir>/<host>/<component>.log`` (0600, folders 0700: logs
    name users and addresses). Changes nothing on the host.

    + data: ``harbor_*`` keys overriding the host's data
    """
    config = merged(host_data(overrides=data))  # reads only: no secrets needed
    tails = host.get_fact(HarborLogTails, log_dir=config["harbor_log_location"], lines=int(config["harbor_logs_lines"]))
    directory = Path(config["harbor_logs_dir"]) / host.name
    if not tails:
        logger.warning(f"harbor-logs {host.name}: no log in {config['harbor_log_location']}")
        return
    ensure_private_dir(directory)
    for component, lines in sorted(tails.items()):
        write_private_file(directory / f"{component}.log", "".join(f"{line}\n" for line in lines).encode())
    logger.info(f"harbor-logs {host.name} {directory}: {', '.join(sorted(tails))}")


@deploy("Harbor client status")
def harbor_client_status(**data):
    """
    Print one ``client-state <host> <json>`` line: trust mode, certs.d CA sha256,
    daemon.json entries for the registry and, per login user, whether the stored login
    works. Changes nothing.

    + data: ``harbor_*`` keys overriding the host's data
    """
    config = merged(host_data(overrides=data))  # needs no password: it only reads
    state = host.get_fact(
        ClientRegistryState, registry=registry_address(config), users=list(config["harbor_client_login_users"])
    )
    print(f"client-state {host.name} {json.dumps(state, sort_keys=True)}", flush=True)


__all__ = [
    "harbor_backing",
    "harbor_backup",
    "docker_engine",
    "harbor_client_status",
    "harbor_clients",
    "harbor_configure",
    "harbor_logs",
    "harbor_restore",
    "harbor_rollback",
    "harbor_server",
    "harbor_status",
    "harbor_uninstall",
]
