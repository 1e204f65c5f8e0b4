"""The server deploy's stages: bare host to a healthy Harbor, and no change on a re-run.

Each stage is a named ``@deploy``; ``deploys/server.py`` composes them. Decisions
come from facts read before anything changes (installed release, generated
compose file, running containers), never from a marker file.
"""

import posixpath
import shlex

from pyinfra import host, logger
from pyinfra.api import DeployError, deploy
from pyinfra.api.util import get_template
from pyinfra.operations import server, systemd

from harbor_deploy.facts.harbor import COMPOSE_PROJECT
from harbor_deploy.lib import TEMPLATES
from harbor_deploy.lib.config.defaults import (
    FIREWALLD_SERVICE,
    HARBOR_LOG_PORT,
    HARBOR_UID,
    REMOTE_CACHE,
    SERVER_DATABASE_CA,
    SERVER_TLS_CA,
    SERVER_TLS_CERTIFICATE,
    SERVER_TLS_PRIVATE_KEY,
    SHARED_VALUES,
    SHARED_VALUES_SCRIPT,
    SYSTEMD_UNIT,
    UPGRADE_UNIT,
)
from harbor_deploy.lib.config.secrets import SecretStore, current_admin_password, secrets_dir
from harbor_deploy.lib.harbor_api.client import public_url
from harbor_deploy.lib.plan import instance_keys, shared_values
from harbor_deploy.lib.render import harbor_yml
from harbor_deploy.operations import firewalld, harbor, harbor_data, secret_file, trivy
from harbor_deploy.operations.deploy_lock import acquire
from harbor_deploy.operations.secret_file import public
from harbor_deploy.planning.server import ca_download, data_place

# Harbor's documented minimums (CPU, memory GiB, disk GiB): below them, warn.
MINIMUM_CPUS, MINIMUM_MEMORY_GIB, MINIMUM_DISK_GIB = 2, 4, 40
# Processes allowed on Harbor's ports: Harbor's own published ports.
HARBOR_PORT_OWNERS = ("docker-proxy",)


@deploy("Controller secrets")
def controller_secrets(plan):
    """Keep on the controller what the run generated or took back from the server,
    before anything on the host changes."""
    secret_file.keep(
        name="Keep Harbor's secrets in the controller secrets dir",
        directory=str(secrets_dir(plan.config)),
        files=plan.keep,
        why=plan.keep_why,
        as_read=plan.keep_as_read,
    )


@deploy("Preflight checks")
def preflight(plan):
    overview, resources, docker = plan.state["overview"], plan.state["resources"], plan.state["engine"]
    engine = (
        f"docker {docker['version']}, compose {docker['compose_version'] or 'missing'}"
        if docker["installed"]
        else "no docker yet (installed next)"
    )
    logger.info(
        f"[{host.name}] {overview['os_name']}, {resources['cpus']} CPUs, "
        f"{resources['memory_mib'] // 1024} GiB memory, "
        f"{resources['disk_free_mib'] // 1024} GiB free for the data volume, {engine}"
    )
    for what, have, need in (
        ("CPUs", resources["cpus"], MINIMUM_CPUS),
        ("GiB memory", resources["memory_mib"] / 1024, MINIMUM_MEMORY_GIB),
        ("GiB free disk", resources["disk_free_mib"] / 1024, MINIMUM_DISK_GIB),
    ):
        if have < need:
            logger.warning(f"[{host.name}] {have:.0f} {what}: below Harbor's minimum of {need}")
    ports = {plan.config["harbor_http_port"], plan.config["harbor_https_port"]}
    taken = {
        port: owner
        for port, owner in resources["listening"].items()
        if port in ports and owner not in HARBOR_PORT_OWNERS
    }
    if taken:
        raise DeployError(
            f"{host.name}: port(s) already in use by another program: "
            + ", ".join(f"{port} ({owner or 'unknown'})" for port, owner in sorted(taken.items()))
        )


@deploy("Harbor installer")
def installer_bundle(plan):
    """The verified offline installer on the host (sent only when its recorded
    checksum differs), unpacked into a versioned directory that ``install_dir`` points to."""
    harbor.installer_bundle(
        name=(
            f"Adopt the Harbor {plan.version} installed by hand: move {plan.install_dir} to {plan.release} "
            f"(its harbor.yml kept as harbor.yml{harbor.HAND_CONFIG_SUFFIX}), {plan.install_dir} points to it; "
            f"offline installer in {REMOTE_CACHE}"
            if plan.adopt
            else f"Harbor {plan.version} offline installer in {plan.release}"
            + ("" if plan.upgrade_from else f", {plan.install_dir} points to it")
        ),
        src=str(plan.installer.path),
        sha256=plan.installer.sha256,
        cache_dir=REMOTE_CACHE,
        release_dir=plan.release,
        install_dir=plan.install_dir,
        known_files=plan.state["files"],
        installation=plan.state["installation"],
        space={
            REMOTE_CACHE: plan.state["space"][REMOTE_CACHE],
            posixpath.dirname(plan.release): plan.state["space"][posixpath.dirname(plan.install_dir)],
        },
        switch=not plan.upgrade_from,
        lock_holder=plan.lock_holder,
    )


@deploy("Trivy databases")
def trivy_databases(plan):
    """The databases brought offline, where the trivy-adapter reads them (sent only when
    the one in place came from another bundle)."""
    for folder, src, sha256 in plan.trivy_bundles:
        trivy.database(
            name=f"Trivy's {folder} from {posixpath.basename(src)} in "
            f"{plan.config['harbor_data_volume'].rstrip('/')}/trivy-adapter/trivy/{folder} (owner uid 10000)",
            src=src,
            sha256=sha256,
            folder=folder,
            data_volume=plan.config["harbor_data_volume"],
            staging_dir=REMOTE_CACHE,
            databases=plan.state["trivy"],
            lock_holder=plan.lock_holder,
        )


@deploy("TLS certificate")
def tls_files(plan):
    material = plan.tls
    if material is None:
        logger.warning(
            f"[{host.name}] PLAIN HTTP: harbor_tls_mode is 'http'. Registry "
            "credentials and images cross the network unencrypted, and every "
            "client needs an insecure-registries entry."
        )
        return []
    known = plan.state["files"]
    certificate = secret_file.put(
        name="Upload server certificate",
        dest=SERVER_TLS_CERTIFICATE,
        content=material.certificate,
        mode="0644",
        mask=public,
        known_files=known,
        lock_holder=plan.lock_holder,
    )
    key = secret_file.put(
        name="Upload server private key",
        dest=SERVER_TLS_PRIVATE_KEY,
        content=material.private_key,
        mode="0600",
        known_files=known,
        lock_holder=plan.lock_holder,
    )
    if material.ca_certificate:
        for name, dest in (
            ("Upload CA certificate", SERVER_TLS_CA),
            ("Publish CA for /systeminfo/getcert", ca_download(plan.config)),
        ):
            secret_file.put(
                name=name,
                dest=dest,
                content=material.ca_certificate,
                mode="0644",
                mask=public,
                known_files=known,
                lock_holder=plan.lock_holder,
            )
    return [certificate, key]  # prepare copies them into Harbor's data volume


@deploy("Database CA")
def database_ca_file(plan):
    """The CA of the backing host's PostgreSQL where harbor.yml's ca_bundle names it:
    prepare hands it to core, which verifies the database with it."""
    if plan.database_ca is None:
        return []
    return [
        secret_file.put(
            name="Upload the CA of the backing host's PostgreSQL (storage_service.ca_bundle)",
            dest=SERVER_DATABASE_CA,
            content=plan.database_ca,
            mode="0644",
            mask=public,
            known_files=plan.state["files"],
            lock_holder=plan.lock_holder,
        )
    ]


@deploy("Instance keys")
def instance_key_files(plan):
    """The keys every node of one Harbor shares, placed where prepare finds them (it
    keeps keys that are there): the same on every node, never generated on one. Owned
    as prepare leaves them (it chowns them to its DEFAULT_UID/GID on every run,
    utils/cert.py): placed otherwise, every run would change them back."""
    if not plan.instance_keys:  # a Harbor of one node: prepare makes them
        return []
    return [
        secret_file.put(
            name=f"Place the shared {name} of this Harbor",
            dest=path,
            content=plan.instance_keys[name],
            mode="0600",
            owner=f"{HARBOR_UID}:{HARBOR_UID}",
            known_files=plan.state["files"],
            lock_holder=plan.lock_holder,
        )
        for name, path in instance_keys.on_node(plan.config["harbor_data_volume"]).items()
    ]


@deploy("Shared values")
def shared_value_files(plan):
    """The values prepare draws afresh on every run, the same on every node of one
    Harbor, and the script harbor.service writes them into prepare's env files with,
    before every start (``templates/harbor.service.j2``)."""
    if plan.shared_values is None:  # a Harbor of one node: prepare's own values
        return []
    return [
        secret_file.put(
            name=f"Place the values every node of this Harbor shares ({', '.join(shared_values.LENGTHS)})",
            dest=SHARED_VALUES,
            content=plan.shared_values,
            mode="0600",
            known_files=plan.state["files"],
            lock_holder=plan.lock_holder,
        ),
        secret_file.put(
            name="Install the script writing them after prepare",
            dest=SHARED_VALUES_SCRIPT,
            content=(TEMPLATES / "harbor-shared-values.sh").read_bytes(),
            mode="0755",
            mask=public,
            known_files=plan.state["files"],
            lock_holder=plan.lock_holder,
        ),
    ]


@deploy("harbor.yml")
def harbor_config(plan):
    nodes = len(plan.cluster.nodes) if plan.cluster else 1
    text = harbor_yml.render(plan.config, plan.secrets, plan.version, nodes=nodes)
    return secret_file.put(
        name="Render harbor.yml",
        dest=f"{plan.release}/harbor.yml",
        content=text,
        mask=harbor_yml.masked,
        mode="0600",
        known_files=plan.state["files"],
        lock_holder=plan.lock_holder,
    )


@deploy("systemd unit")
def systemd_unit(plan):
    unit = secret_file.put(
        name="Install harbor.service",
        dest=SYSTEMD_UNIT,
        content=get_template(str(TEMPLATES / "harbor.service.j2")).render(
            install_dir=plan.install_dir,
            project=COMPOSE_PROJECT,
            log_port=HARBOR_LOG_PORT,
            shared_values=SHARED_VALUES if plan.shared_values is not None else None,
            shared_values_script=SHARED_VALUES_SCRIPT,
        ),
        mode="0644",
        mask=public,
        known_files=plan.state["files"],
        lock_holder=plan.lock_holder,
    )
    # Reload before enabling, only when the unit changed (a reload every run is a change).
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    return unit


@deploy("Apply Harbor")
def apply(plan, inputs):
    """Install on a fresh host; re-run prepare and restart when ``inputs`` (the ops
    writing harbor.yml and the TLS files) changed, or harbor.yml is newer than what
    prepare last generated.

    prepare runs while the old containers still serve (they keep the configuration
    they started with) and Harbor restarts once after it: the outage is the restart
    alone, and a configuration prepare refuses leaves the running Harbor untouched."""
    if plan.upgrade_from:
        return upgrade(plan)
    env = {"TERM": "xterm", "COMPOSE_PROJECT_NAME": COMPOSE_PROJECT}
    if _fresh(plan):
        return server.shell(
            name=f"Install Harbor {plan.version} (install.sh)",
            commands=[
                " ".join(
                    [acquire(plan.lock_holder), "&&", "cd", shlex.quote(plan.install_dir), "&&", "./install.sh"]
                    + plan.trivy_flag
                )
            ],
            _env=env,
        )
    return server.shell(
        name="Regenerate Harbor config (prepare) and restart Harbor",
        commands=[
            " ".join(
                [acquire(plan.lock_holder), "&&", "cd", shlex.quote(plan.install_dir), "&&", "./prepare"]
                + plan.trivy_flag
            ),
            "systemctl restart harbor.service",
        ],
        _env=env,
        _if=lambda: _regenerate(plan) or any(op.did_change() for op in inputs),
    )


def _fresh(plan):
    """No Harbor of this release installed and running yet: install.sh."""
    state = plan.state["installation"]
    return (
        plan.version not in state["core_images"]
        or state["compose_mtime"] is None
        or "harbor-core" not in state["containers"]
    )


def _regenerate(plan):
    """What the host holds asks for prepare and a restart whatever this run uploads:
    harbor.yml newer than what prepare generated, or Trivy not as the data says."""
    state = plan.state["installation"]
    config_newer = (state["harbor_yml_mtime"] or 0) > (state["compose_mtime"] or 0)
    return config_newer or plan.config["harbor_with_trivy"] != ("trivy-adapter" in state["containers"])


def _healthy(plan):
    health = plan.state["health"]
    return (
        (health["api"] or {}).get("status") == "healthy"
        and bool(health["containers"])
        and all(c["state"] == "running" and c["health"] in ("healthy", "none") for c in health["containers"].values())
    )


def change_pending(plan, changes):
    """Whether this run changes the running Harbor (evaluated while the run executes,
    once ``changes``, the ops feeding it, have run): an install, an upgrade, prepare
    and a restart, a start, or a wait for health."""
    state = plan.state["installation"]
    known = bool(plan.upgrade_from or _fresh(plan) or _regenerate(plan) or not _healthy(plan))
    stopped = state["service_enabled"] != "enabled" or state["service_active"] != "active"
    return lambda: known or stopped or any(op.did_change() for op in changes)


def upgrade(plan):
    """The installed release to ``plan.version``, backed up first, put back on failure."""
    return harbor_data.upgrade(
        name=f"Upgrade Harbor {plan.upgrade_from} -> {plan.version}: stop, back up to "
        f"{plan.config['harbor_backup_dir']}/harbor-<UTC time>-{plan.upgrade_from}, point {plan.install_dir} to "
        f"{plan.release}, migrate harbor.yml with prepare {plan.version}, install.sh, check health and the data; on "
        + (
            "failure Harbor stops on this node, left drained (the shared database may hold the new schema)"
            if plan.cluster
            else f"failure {plan.upgrade_from} comes back as it was"
        )
        + f" (as {UPGRADE_UNIT}: it ends on the host if the connection drops)",
        from_version=plan.upgrade_from,
        to_version=plan.version,
        keep_releases=plan.config["harbor_releases_keep"],
        several_nodes=plan.cluster is not None,
        lock_holder=plan.lock_holder,
        **data_place(plan.config),
    )


@deploy("Harbor service")
def service(plan):
    state = plan.state["installation"]
    if state["service_enabled"] != "enabled" or state["service_active"] != "active":
        server.shell(
            name="Enable and start harbor.service",
            commands=[
                f"{acquire(plan.lock_holder)} && systemctl enable harbor.service && systemctl start harbor.service"
            ],
        )


def firewall_ports(config):
    """The ports Harbor serves that its firewalld service opens, as ``<port>/tcp``."""
    ports = [config["harbor_https_port"]] if config["harbor_tls_mode"] != "http" else []
    ports.append(config["harbor_http_port"])  # http redirects to https, as Harbor does
    if config["harbor_metric"]["enabled"]:
        ports.append(config["harbor_metric"]["port"])
    if config["harbor_firewall_open_syslog"]:
        ports.append(HARBOR_LOG_PORT)
    return [f"{port}/tcp" for port in ports]


@deploy("Firewall")
def firewall(plan):
    if not plan.state["firewall"]["running"]:
        logger.info(f"[{host.name}] firewalld is not running: no ports opened")
        return
    zone = plan.config["harbor_firewall_zone"]
    firewalld.service_ports(
        name=f"Open Harbor's ports through firewalld service {FIREWALLD_SERVICE} " f"in zone {zone}",
        service=FIREWALLD_SERVICE,
        ports=firewall_ports(plan.config),
        zone=zone,
        description="Harbor container registry (managed by harbor-deploy)",
        firewall=plan.state["firewall"],
        lock_holder=plan.lock_holder,
    )


@deploy("Verify Harbor health")
def verify(plan, changes):
    """Wait (bounded) for every container and /api/v2.0/health to be healthy, when
    anything changed in this run or Harbor was unhealthy when it started."""
    healthy = _healthy(plan)
    harbor.wait_healthy(
        name="Wait until Harbor is healthy",
        url=plan.local_url,
        timeout=plan.config["harbor_health_timeout"],
        log_dir=plan.config["harbor_log_location"],
        _if=lambda: not healthy or any(op.did_change() for op in changes),
    )


def summary(plan):
    url = public_url(plan.config)
    password = current_admin_password(SecretStore(secrets_dir(plan.config))) or plan.secrets.admin_password
    logger.info(f"[{host.name}] Harbor {plan.version}: {url} (admin password: {password.source})")
    return url
