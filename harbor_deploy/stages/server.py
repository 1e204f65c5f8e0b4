"""The server deploy's stages: bare host to a healthy Harbor, and no change on a re-run.

Each stage is a named ``@deploy``; ``deploys/server.py`` composes them. Decisions
come from facts read before anything changes (installed release, generated
compose file, running containers), never from a marker file.
"""

import datetime
import getpass
import os
import posixpath
import shlex
import socket
import threading
import weakref
from dataclasses import dataclass, field

from pyinfra import host, inventory, logger
from pyinfra.api import DeployError, deploy
from pyinfra.api.util import get_template
from pyinfra.operations import server, systemd

from harbor_deploy.facts.harbor import COMPOSE_PROJECT
from harbor_deploy.facts.quiet import quiet_fact
from harbor_deploy.facts.server import ServerState
from harbor_deploy.lib import TEMPLATES, cluster, harbor_yml, installer, instance_keys, tls
from harbor_deploy.lib.api import public_url, served_url
from harbor_deploy.lib.cluster import LB_GROUP, SERVER_GROUP
from harbor_deploy.lib.defaults import (
    HARBOR_LOG_PORT,
    SERVER_TLS_CA,
    SERVER_TLS_CERTIFICATE,
    SERVER_TLS_PRIVATE_KEY,
    UPGRADE_UNIT,
    UPGRADE_WAIT_SECONDS,
    merged,
    release_dir,
)
from harbor_deploy.lib.secrets import MANAGED_ADMIN_PASSWORD, SecretsError, ServerSecrets, load_secrets, secrets_dir
from harbor_deploy.lib.validate import ConfigError, adoption_problems, upgrade_problem, validated
from harbor_deploy.operations import firewalld, harbor, secret_file
from harbor_deploy.operations.deploy_lock import acquire, upgrade_running
from harbor_deploy.operations.secret_file import public
from harbor_deploy.stages.context import host_data

REMOTE_CACHE = "/var/cache/harbor-deploy"
SYSTEMD_UNIT = "/etc/systemd/system/harbor.service"
# Harbor's documented minimums (CPU, memory GiB, disk GiB): below them, warn.
MINIMUM_CPUS, MINIMUM_MEMORY_GIB, MINIMUM_DISK_GIB = 2, 4, 40
DOCKER_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# Processes allowed on Harbor's ports: Harbor's own published ports.
HARBOR_PORT_OWNERS = ("docker-proxy",)


@dataclass
class ServerPlan:
    """What the stages share: validated data, the host's state (read once, before any
    change), secrets, TLS material and the resolved installer."""

    config: dict
    state: dict
    secrets: object
    tls: object
    # Files the controller secrets dir must gain ({name: bytes}) and why ({name: reason}).
    keep: dict
    keep_why: dict
    version: str
    installer: object
    install_dir: str
    release: str
    # Who takes the host's deploy lock with this run's first change (deploy_lock).
    lock_holder: str
    # The running version this run upgrades from, or None.
    upgrade_from: str | None = None
    # install_dir is a plain directory: a Harbor installed by hand, moved to ``release``.
    adopt: bool = False
    # The nodes of this Harbor when it has several (``cluster.Cluster``), else None.
    cluster: object = None
    # The keys Harbor keeps per instance, shared by its nodes ({controller name: bytes}).
    instance_keys: dict = field(default_factory=dict)

    @property
    def trivy_flag(self):
        return ["--with-trivy"] if self.config["harbor_with_trivy"] else []

    @property
    def local_url(self):
        return served_url(self.config, "127.0.0.1")


# The TLS files the server deploy places, as the controller names them.
SERVER_TLS_FILES = {
    tls.SERVER_CERT: SERVER_TLS_CERTIFICATE,
    tls.SERVER_KEY: SERVER_TLS_PRIVATE_KEY,
    tls.CA_CERT: SERVER_TLS_CA,
}


def _harbor_yml_path(config):
    return f"{config['harbor_install_dir'].rstrip('/')}/harbor.yml"


def read_state(config, extra_paths=(), private_paths=()):
    """The host's state in one round trip (``ServerState``), read without printing it:
    it holds what an installed Harbor keeps of its secrets. ``extra_paths`` join the
    managed files whose state is read, ``private_paths`` the files read whole (never
    printed). An upgrade an earlier run left running is
    waited for first; one still running after that stops the run."""
    install_dir = config["harbor_install_dir"].rstrip("/")
    state = quiet_fact(
        ServerState,
        install_dir=install_dir,
        data_volume=config["harbor_data_volume"],
        url=served_url(config, "127.0.0.1"),
        private_paths=(_harbor_yml_path(config), *SERVER_TLS_FILES.values(), *private_paths),
        managed_paths=(
            *SERVER_TLS_FILES.values(),
            _ca_download(config),
            f"{release_dir(install_dir, '*')}/harbor.yml",
            SYSTEMD_UNIT,
            f"{REMOTE_CACHE}/*",
            install_dir,
            *extra_paths,
        ),
        space_paths=(REMOTE_CACHE, posixpath.dirname(install_dir)),
    )
    _after_an_earlier_upgrade(state["upgrade"])
    return state


def _after_an_earlier_upgrade(upgrade):
    """Stop when an upgrade an earlier run started (detached: ``harbor.upgrade``) still
    runs after the wait (``UpgradeUnit``); say how it ended when this run waited for it."""
    if upgrade["running"]:
        raise DeployError(
            f"{host.name}: still running after {UPGRADE_WAIT_SECONDS}s: {upgrade_running()} (log {upgrade['log']})"
        )
    if upgrade["waited"]:
        logger.warning(
            f"[{host.name}] waited for the upgrade or rollback an earlier run started ({UPGRADE_UNIT}) to end: "
            f"{upgrade['outcome'] or 'no output'} (log {upgrade['log']})"
        )


def _ca_download(config):
    """Served by Harbor at /api/v2.0/systeminfo/getcert for clients that fetch it."""
    return f"{config['harbor_data_volume'].rstrip('/')}/ca_download/ca.crt"


def _on_server(config, state):
    """What an installed Harbor keeps of its secrets."""
    harbor_yml_path = _harbor_yml_path(config)
    database = f"{config['harbor_data_volume'].rstrip('/')}/database"
    found = state["private"]
    text = found["files"].get(harbor_yml_path)
    server = ServerSecrets(
        harbor_yml=harbor_yml.secrets_of(text.decode()) if text is not None else None,
        harbor_yml_path=harbor_yml_path,
        database_initialised=database in found["nonempty"],
    )
    tls_files = {name: found["files"][path] for name, path in SERVER_TLS_FILES.items() if path in found["files"]}
    return server, tls_files


def _controller_tls_files(config, directory, on_server):
    """The generated TLS files the controller has; when it has no CA certificate, the
    server's (what its clients trust) are taken back, marked as to keep."""
    have = tls.read_files(directory)
    if config["harbor_tls_mode"] != "generate" or tls.CA_CERT in have or len(on_server) < len(SERVER_TLS_FILES):
        return have, {}
    return on_server, dict(on_server)


def plan(overrides=None):
    """Validate this host's data and resolve secrets, TLS material and the installer on
    the controller, without writing anything (the ``controller_secrets`` stage does).

    Runs while pyinfra prepares the deploy, before any host is changed: a problem
    on any host stops the whole run with every problem listed. Secrets an installed
    Harbor depends on are never generated anew: what the controller lacks is taken
    back from the server, or the run stops saying how to provide it.
    """
    data = host_data(overrides=overrides)
    try:
        config = validated(data)
        nodes = cluster_of(config, overrides)
        key_paths = tuple(instance_keys.on_node(config["harbor_data_volume"]).values()) if nodes else ()
        state = read_state(config, extra_paths=key_paths, private_paths=key_paths)
        with _planning:
            instance, config = _resolve_instance(data, config, state, nodes)
    except (ConfigError, SecretsError) as error:
        raise DeployError(f"{host.name}: {error}") from None
    except tls.TlsError as error:
        raise DeployError(f"{host.name}: harbor TLS: {error}") from None
    try:
        with _planning:
            fetched = installer.fetch(config, arch=DOCKER_ARCH.get(state["resources"]["machine"], "amd64"))
    except installer.InstallerError as error:
        raise DeployError(f"{host.name}: {error}") from None
    install_dir = config["harbor_install_dir"].rstrip("/")
    adopt = state["files"].get(install_dir, {}).get("type") == "directory"
    if adopt:
        found = state["private"]["files"].get(_harbor_yml_path(config))
        refused = list(
            adoption_problems(
                install_dir,
                found.decode() if found is not None else None,
                state["installation"]["bundle_version"],
                fetched.version,
                config,
            )
        )
        if refused:
            raise DeployError(
                f"{host.name}: Harbor installed by hand in {install_dir}, not adopted: "
                + "; ".join(f"{key}: {why}" for key, why in refused)
                + "; nothing was changed"
            )
    running = state["installation"]["running_version"]
    upgrade_from = running if running and running != fetched.version else None
    if upgrade_from:
        problem = upgrade_problem(upgrade_from, fetched.version)
        if problem:
            raise DeployError(f"{host.name}: harbor_version: {problem}; nothing was changed")
    return ServerPlan(
        config=config,
        state=state,
        secrets=instance.secrets,
        tls=instance.tls,
        keep=instance.keep,
        keep_why=instance.keep_why,
        version=fetched.version,
        installer=fetched,
        install_dir=install_dir,
        release=release_dir(install_dir, fetched.version),
        lock_holder=lock_holder("harbor_server"),
        upgrade_from=upgrade_from,
        adopt=adopt,
        cluster=nodes,
        instance_keys=instance.keys,
    )


def cluster_of(config, overrides=None):
    """The ``Cluster`` this host's Harbor is (the ``harbor_servers`` hosts serving its
    URL, and the ``harbor_lb`` host in front of them), or None for a Harbor of one node.
    Several nodes without their state shared outside them, or whose settings differ,
    raise ``ConfigError``: each would keep a Harbor of its own behind one name."""
    if SERVER_GROUP not in host.groups and LB_GROUP not in host.groups:
        return None
    url = public_url(config)
    configs = {other.name: merged(host_data(other, overrides)) for other in inventory.get_group(SERVER_GROUP, [])}
    nodes = cluster.members(url, configs)
    if (len(nodes) < 2 and host.name in configs) or (host.name not in configs and LB_GROUP not in host.groups):
        return None
    if host.name in configs:
        peers = [name for name in nodes if name != host.name]
        own = configs[host.name]
        found = [
            *cluster.shared_state_problems(own, peers),
            *cluster.difference_problems(own, {name: configs[name] for name in peers}),
        ]
        if found:
            raise ConfigError(found)
    lbs = [
        other.name
        for other in inventory.get_group(LB_GROUP, [])
        if public_url(merged(host_data(other, overrides))) == url
    ]
    if lbs and host.name in configs and not host.state.is_host_in_limit(inventory.get_host(lbs[0])):
        raise ConfigError(
            [
                (
                    "--limit",
                    f"leaves out {lbs[0]}, the load balancer of {url}: this node would restart without being "
                    f"drained; run the server deploy on the nodes and {lbs[0]} together",
                )
            ]
        )
    return cluster.Cluster(
        url=url,
        nodes=nodes,
        addresses={name: cluster.node_address(name, inventory.get_host(name).data.dict()) for name in nodes},
        lb=lbs[0] if lbs else None,
    )


# pyinfra plans the hosts side by side (a greenlet each; threading is gevent's then):
# one at a time resolves an instance or downloads an installer, so the nodes of one
# Harbor get what the first one resolved, and one download serves them all.
_planning = threading.Lock()
# What the nodes of one Harbor share, resolved by the first of them this run plans
# (and reused by the others and the load balancer): {(run, secrets dir): Instance}.
_instances: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Instance:
    """What every node of one Harbor gets alike: its secrets, TLS material and the keys
    Harbor keeps per instance, with what the controller must keep of them."""

    secrets: object
    tls: object
    keys: dict
    keep: dict
    keep_why: dict


def _instance_memo():
    return _instances.setdefault(host.state, {})


def shared_instance(config):
    """The ``Instance`` a node of this run already resolved for ``config``'s Harbor, or None."""
    return _instance_memo().get(str(secrets_dir(config)))


def _resolve_instance(data, config, state, cluster_nodes):
    """Secrets, TLS material and (for several nodes) instance keys of this host's
    Harbor: resolved once per run and Harbor, so every node gets the same."""
    found = shared_instance(config) if cluster_nodes else None
    if found is not None:
        if cluster_nodes:
            _same_instance_keys(config, state, found.keys)
        return found, validated(data, found.secrets)
    server, server_tls = _on_server(config, state)
    secrets = load_secrets(config, server=server)
    config = validated(data, secrets)
    tls_files, recovered_tls = _controller_tls_files(config, secrets_dir(config), server_tls)
    material, new_tls = tls.tls_material(config, tls_files)
    keep = {name: secret for name, (secret, _) in secrets.to_keep.items()}
    keep_why = {name: why for name, (_, why) in secrets.to_keep.items()}
    keep.update(recovered_tls)
    keep_why.update({name: "recovered from the server" for name in recovered_tls})
    keep.update(new_tls)
    keep_why.update({name: "generated" for name in new_tls})
    keys = {}
    if cluster_nodes:
        keys, why = _instance_keys(config, state)
        keep.update({name: keys[name] for name in why})
        keep_why.update(why)
    instance = Instance(secrets=secrets, tls=material, keys=keys, keep=keep, keep_why=keep_why)
    if cluster_nodes:
        _instance_memo()[str(secrets_dir(config))] = instance
    return instance, config


def _keys_on_node(config, state):
    """The instance keys this node keeps ({controller name: bytes}), those it has."""
    found = state["private"]["files"]
    paths = instance_keys.on_node(config["harbor_data_volume"])
    return {name: found[path] for name, path in paths.items() if path in found}


def _instance_keys(config, state):
    """The keys Harbor keeps per instance: the controller's, else this node's (taken
    back), else new; with {name: why} of those the controller must keep."""
    directory = secrets_dir(config)
    have = {name: (directory / name).read_bytes() for name in instance_keys.NODE_PATHS if (directory / name).is_file()}
    why = {}
    if not have:
        have = _keys_on_node(config, state)
        why = {name: "recovered from the server" for name in have}
    if not have:
        have = instance_keys.generate()
        why = {name: "generated" for name in have}
    found = instance_keys.problems(have)
    if found:
        raise ConfigError([("instance keys", f"{directory}: {problem}") for problem in found])
    _same_instance_keys(config, state, have)
    return have, why


def _same_instance_keys(config, state, keys):
    """Refuse a node keeping other instance keys than the ones resolved: replacing them
    would make the credentials and tokens of its Harbor unreadable."""
    differ = sorted(name for name, value in _keys_on_node(config, state).items() if value != keys[name])
    if differ:
        raise ConfigError(
            [
                (
                    "instance keys",
                    f"{', '.join(instance_keys.NODE_PATHS[name] for name in differ)} under harbor_data_volume differ "
                    f"from the ones of this Harbor ({secrets_dir(config)} or the node planned first): each node "
                    "holds another Harbor's keys; nothing was changed",
                )
            ]
        )


def lock_holder(deploy_name):
    """Who takes a host's deploy lock: this controller's user, host and process, the
    deploy and when (UTC), as another run's refusal names it."""
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} ({deploy_name}, started {started})"


@deploy("Controller secrets")
def controller_secrets(plan):
    """Keep on the controller what the run generated or took back from the server,
    before anything on the host changes."""
    secret_file.keep(
        name="Keep Harbor's secrets in the controller secrets dir",
        directory=str(secrets_dir(plan.config)),
        files=plan.keep,
        why=plan.keep_why,
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
            ("Publish CA for /systeminfo/getcert", _ca_download(plan.config)),
        ):
            secret_file.put(
                name=name, dest=dest, content=material.ca_certificate, mode="0644", mask=public, known_files=known
            )
    return [certificate, key]  # prepare copies them into Harbor's data volume


@deploy("Instance keys")
def instance_key_files(plan):
    """The keys every node of one Harbor shares, placed where prepare finds them (it
    keeps keys that are there): the same on every node, never generated on one."""
    if not plan.instance_keys:  # a Harbor of one node: prepare makes them
        return []
    return [
        secret_file.put(
            name=f"Place the shared {name} of this Harbor",
            dest=path,
            content=plan.instance_keys[name],
            mode="0600",
            known_files=plan.state["files"],
            lock_holder=plan.lock_holder,
        )
        for name, path in instance_keys.on_node(plan.config["harbor_data_volume"]).items()
    ]


@deploy("harbor.yml")
def harbor_config(plan):
    text = harbor_yml.render(plan.config, plan.secrets, plan.version)
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
            install_dir=plan.install_dir, project=COMPOSE_PROJECT, log_port=HARBOR_LOG_PORT
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
    """The running release to ``plan.version``, backed up first, rolled back on failure."""
    backup_dir = plan.config["harbor_backup_dir"]
    created = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    manifest = {
        "name": f"harbor-{created}-{plan.upgrade_from}",
        "created": created,
        "hostname": plan.config["harbor_hostname"],
        "version": plan.upgrade_from,
        "data_volume": plan.config["harbor_data_volume"],
        "database": harbor.EXTERNAL_DATABASE_NOTE if plan.config["harbor_external_database"] else "pg_dump",
        "registry": False,
        "reason": f"before the upgrade to {plan.version}",
    }
    return harbor.upgrade(
        name=f"Upgrade Harbor {plan.upgrade_from} -> {plan.version}: back up to {backup_dir}/{manifest['name']}, "
        f"stop, point {plan.install_dir} to {plan.release}, migrate harbor.yml with prepare {plan.version}, "
        f"install.sh, check health and the data; on failure {plan.upgrade_from} comes back with that backup "
        f"(as {UPGRADE_UNIT}: it ends on the host if the connection drops)",
        from_version=plan.upgrade_from,
        to_version=plan.version,
        install_dir=plan.install_dir,
        backup_manifest=manifest,
        backup_dir=backup_dir,
        data_volume=plan.config["harbor_data_volume"],
        url=plan.local_url,
        trivy=plan.config["harbor_with_trivy"],
        timeout=plan.config["harbor_health_timeout"],
        log_dir=plan.config["harbor_log_location"],
        keep_backups=plan.config["harbor_backup_keep"],
        keep_releases=plan.config["harbor_releases_keep"],
        lock_holder=plan.lock_holder,
        _env={"TERM": "xterm", "COMPOSE_PROJECT_NAME": COMPOSE_PROJECT},
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


# The firewalld service holding Harbor's ports: a port the data no longer names closes.
FIREWALLD_SERVICE = "harbor"


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
    managed = secrets_dir(plan.config) / MANAGED_ADMIN_PASSWORD
    where = (
        f"file {managed}, rotated by deploys/configure.py" if managed.exists() else plan.secrets.admin_password.source
    )
    logger.info(f"[{host.name}] Harbor {plan.version}: {url} (admin password: {where})")
    return url
