"""The packaged deploys: what ``deploys/*.py`` run, to call from your own deploy file.

    from pyinfra import host
    from harbor_deploy import harbor_server, harbor_clients, harbor_configure

    if "registry" in host.groups:
        harbor_server()                            # data from the inventory (docs/keys.md)
        harbor_configure(harbor_gc_schedule={"schedule": "Daily"})   # or overridden by keyword

Each one validates the host's data (with the keyword arguments winning) before any
host changes, exactly as the entry files do; pyinfra's global arguments (``_sudo``...)
apply to every operation inside.
"""

import functools

from pyinfra import host
from pyinfra.api import deploy

from harbor_deploy.lib.config.defaults import BACKING_GROUP, CLIENT_GROUP, LB_GROUP, SERVER_GROUP
from harbor_deploy.operations.deploy_lock import lock_holder
from harbor_deploy.planning import call_stack
from harbor_deploy.planning import server as server_planning
from harbor_deploy.planning.context import config_of
from harbor_deploy.stages import (
    backing,
    backup,
    client,
    cluster_rollback,
    configure,
    grow,
    loadbalancer,
    rolling,
    server,
    status,
    sudo_askpass,
    uninstall,
)
from harbor_deploy.stages.docker_engine import docker_engine


def packaged(title):
    """A packaged deploy named ``title``: pyinfra's ``@deploy``, with a sudo password
    kept off every remote command line from its start (``sudo_askpass``) and pyinfra
    reading call stacks without source lines (``call_stack``)."""

    def decorate(function):
        @functools.wraps(function)
        def start(*args, **kwargs):
            sudo_askpass.install()
            call_stack.read_without_source()
            return function(*args, **kwargs)

        return deploy(title)(start)

    return decorate


@packaged("Harbor server")
def harbor_server(**data):
    """
    Bare server to a healthy Harbor; run again, nothing changes.

    Several ``harbor_servers`` nodes of one Harbor (docs/scale-out.md)
    are installed and changed one at a time behind the ``harbor_lb`` host, which this
    deploy configures too: call it on the nodes and the load balancer from one line
    of your deploy file, so that they all take the nodes in one order.

    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_server(harbor_version="v2.13.1")
    """
    if BACKING_GROUP in host.groups and SERVER_GROUP not in host.groups:
        # The backing host of a Harbor of several nodes: dumps their database before an upgrade.
        config = config_of(data)
        nodes = server_planning.cluster_of(config, data)
        if nodes:
            rolling.shared_database_dump(config, lock_holder("harbor_server"))
        return
    if LB_GROUP in host.groups:  # the load balancer of a Harbor of several nodes
        balancer = loadbalancer.plan(data)
        loadbalancer.haproxy(balancer)
        loadbalancer.firewall(balancer)
        nodes, config, change, holder = balancer.cluster, balancer.config, None, balancer.lock_holder
    else:
        plan = server_planning.plan(data)  # validates data and fetches the installer before any change
        server.controller_secrets(plan)
        server.preflight(plan)
        docker_engine(
            plan.config, engine=plan.state["engine"], overview=plan.state["overview"], lock_holder=plan.lock_holder
        )
        server.installer_bundle(plan)
        server.trivy_databases(plan)
        inputs = [
            *server.instance_key_files(plan),
            *server.shared_value_files(plan),
            *server.tls_files(plan),
            *server.database_ca_file(plan),
            server.harbor_config(plan),
        ]
        unit = server.systemd_unit(plan)
        if plan.cluster:
            server.firewall(plan)  # before the load balancer checks the node

        def change():
            applied = server.apply(plan, inputs)
            if plan.upgrade_from:  # the backup the upgrade took, on the controller as well
                backup.fetch(plan.config, backup.backup_manifest(plan.config))
            server.service(plan)
            if not plan.cluster:
                server.firewall(plan)
            server.verify(plan, changes=[*inputs, unit, applied])

        if not plan.cluster:
            change()
            server.summary(plan)
            return
        rolling.register(server.change_pending(plan, [*inputs, unit]), upgrade_from=plan.upgrade_from)
        nodes, config, holder = plan.cluster, plan.config, plan.lock_holder
    # Every node and the load balancer: the nodes changed one at a time.
    rolling.one_node_at_a_time(nodes, config, change, holder)
    if LB_GROUP not in host.groups:
        server.summary(plan)


@packaged("Harbor backing services")
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


@packaged("Harbor clients")
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
    docker_engine(config_of(data, checked=False), engine=plan.state["engine"], compose=False)
    client.daemon_config(plan)
    client.trust(plan)
    client.login(plan)
    if plan.smoke_test:
        client.smoke_test(plan)


@packaged("Harbor configuration")
def harbor_configure(group="harbor_servers", **data):
    """
    Harbor's settings as code (admin password, sign-in, system settings, registries,
    users, groups, projects, members, robots, retention, immutable tag rules, webhooks,
    replication policies, GC, CVE allowlists, audit-log purge, default scanner,
    scan-all schedule) through its REST API, from the controller; ``harbor_config_file``
    adds the keys of a file (an export) under the host's.

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


@packaged("Harbor robot secrets")
def harbor_robot_refresh(group="harbor_servers", **data):
    """
    Replace the secrets of the robots ``harbor_robot_refresh`` names and log the Docker
    clients of those robots in again with the new ones, in one run: the first host of
    ``group`` with a Harbor's API URL replaces them (kept in the secrets dir, the old
    ones refused by Harbor from then on); every client waits for that, reads its robot's
    secret again and, when it changed, logs in with it. Call it on the servers and the
    clients from one line, so that they all share that order.

    + group: hosts of this group sharing an API URL are one Harbor, changed once
    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_robot_refresh(harbor_robot_refresh=["apps+ci"])
    """
    changes_here = group in host.groups and configure.configures_here(group, data)
    configure.robot_secrets(configure.refresh_plan(data) if changes_here else None)
    if CLIENT_GROUP in host.groups:
        client.login(client.plan(data))


@packaged("Harbor export")
def harbor_export(group="harbor_servers", **data):
    """
    Read a running Harbor and write, to ``harbor_export_file`` on the controller, YAML of
    the configure keys for what it has (projects, members, robots, users, groups,
    registries, retention, schedules, allowlist, auth and system settings), secrets
    left out and named by where configure reads them; configure takes the file back
    through ``harbor_config_file`` and, on the same Harbor, changes nothing. Changes
    nothing in Harbor.

    + group: hosts of this group sharing an API URL are one Harbor, exported once
    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_export(harbor_export_file="exports/harbor.yml")
    """
    if not configure.configures_here(group, data):
        return
    configure.export_file(configure.export_plan(data))


@packaged("Harbor backup")
def harbor_backup(**data):
    """
    Back up Harbor into ``<harbor_backup_dir>/harbor-<UTC time>-<version>/`` on the
    server, named by its clock (the newest ``harbor_backup_keep`` by that time kept, and
    the one a rollback needs) and copy it to
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
    backup.fetch(plan.config, plan.manifest)


@packaged("Harbor restore")
def harbor_restore(**data):
    """
    Restore the backup ``harbor_restore_from`` (its name, on the server or in the
    controller copy, or the path of a backup folder) onto the Harbor the server deploy
    installed, on the same server or a new one, confirmed by ``harbor_restore_hostname``
    repeating ``harbor_hostname``, on one named host: a safety backup of the live data
    first, the backup loaded beside the live data and swapped in once complete,
    verified healthy. Refused, nothing changed, when the backup comes from a newer
    release, or is older than the live data (unless ``harbor_discard_newer_data``).

    + data: ``harbor_*`` keys overriding the host's data
    """
    plan = backup.plan_restore(data)  # picks and checks the backup, the confirmation, the live data: no change yet
    backup.restore(plan)


@packaged("Harbor rollback")
def harbor_rollback(**data):
    """
    Undo the last upgrade, confirmed by ``harbor_rollback_hostname`` repeating
    ``harbor_hostname``, on one named host: a safety backup of the live data, then the
    previous release (kept beside the running one) back in use with the data of the
    backup the upgrade took, restored as a restore does, verified healthy. Refused when
    the live data is newer than that backup (unless ``harbor_discard_newer_data``). Set
    ``harbor_version`` back in the inventory afterwards.

    A Harbor of several nodes goes back as one (its nodes, load balancer and backing
    host in the run, ``harbor_version`` naming the release to go back to): every node
    stops, the backing host restores the shared database from its dump taken before
    the upgrade (a safety dump first), every node serves the older release again.

    + data: ``harbor_*`` keys overriding the host's data
    """
    several = cluster_rollback.plan(data)  # a Harbor of several nodes: every node and the shared database
    if several is None:
        if SERVER_GROUP in host.groups:
            plan = backup.plan_rollback(data)  # finds the previous release and its backup, checks the live data
            backup.rollback(plan)
        return
    cluster_rollback.stop_nodes(several)
    cluster_rollback.shared_database(several)
    cluster_rollback.nodes_back(several)
    cluster_rollback.load_balancer(several)


@packaged("Harbor grow")
def harbor_grow(**data):
    """
    Make the Harbor of one node named by ``harbor_grow_from`` a node of the Harbor of
    several nodes the inventory describes, confirmed by ``harbor_grow_hostname``
    repeating ``harbor_hostname``: Harbor stops there, its database moves into the
    backing host's empty shared database and its registry's files into the object
    store; nothing on the node is removed. Run ``deploys/server.py`` next: it points
    the node at the shared services and installs the other nodes and the load balancer.

    + data: ``harbor_*`` keys overriding the host's data

    **Example:**

    .. code:: python

        harbor_grow(harbor_grow_from="harbor-1", harbor_grow_hostname="registry.example.com")
    """
    plan = grow.plan(data)  # the node's Harbor and the empty shared services checked: no change yet
    grow.export(plan)
    grow.load(plan)
    grow.finish(plan)


@packaged("Harbor uninstall")
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


@packaged("Harbor status")
def harbor_status(**data):
    """
    Print one ``harbor-status <host> <json>`` line: installed and running version, kept
    releases, harbor.service, each container's state and health, Harbor's own health
    answer (and its unhealthy components), the served certificate's expiry, Harbor's
    firewalld service, the SELinux mode and the labels of the data volume and logs, the
    backups on the server (how many, the last one and its age), the robot accounts about
    to expire (asked from the controller through the API) and the problems among them;
    for a load balancer its view of each node, for a backing host whether its services
    answer. Changes nothing; the host fails
    (the run exits non-zero) when there is a problem.

    + data: ``harbor_*`` keys overriding the host's data
    """
    config = config_of(data, checked=False)  # reads only: no validation, no secrets
    if LB_GROUP in host.groups:
        status.load_balancer()
    elif BACKING_GROUP in host.groups:
        status.backing(config)
    else:
        status.harbor_server(config)


@packaged("Harbor logs")
def harbor_logs(**data):
    """
    Fetch the last ``harbor_logs_lines`` lines of each of Harbor's logs
    (``<harbor_log_location>/<component>.log``) to the controller, one file per host and
    component: ``<harbor_logs_dir>/<host>/<component>.log`` (0600, folders 0700: logs
    name users and addresses). Changes nothing on the host.

    + data: ``harbor_*`` keys overriding the host's data
    """
    status.logs(config_of(data, checked=False))  # reads only: no secrets needed


@packaged("Harbor client status")
def harbor_client_status(**data):
    """
    Print one ``client-state <host> <json>`` line: trust mode, certs.d CA sha256,
    daemon.json entries for the registry and, per login user, whether the stored login
    works. Changes nothing.

    + data: ``harbor_*`` keys overriding the host's data
    """
    status.client(config_of(data, checked=False))  # needs no password: it only reads


__all__ = [
    "harbor_backing",
    "harbor_backup",
    "docker_engine",
    "harbor_client_status",
    "harbor_clients",
    "harbor_configure",
    "harbor_export",
    "harbor_logs",
    "harbor_restore",
    "harbor_robot_refresh",
    "harbor_rollback",
    "harbor_server",
    "harbor_status",
    "harbor_uninstall",
]
