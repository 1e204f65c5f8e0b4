"""A server's plan: its data checked, its state read in one round trip, its secrets,
TLS material, installer and (for several nodes) cluster and instance keys resolved on
the controller; nothing changes anywhere while it is made.

The server stages act on a ``ServerPlan``; the load balancer, uninstall and the
status read what they need of a Harbor server through the functions here.
"""

import posixpath
import threading
import weakref
from dataclasses import dataclass, field

from pyinfra import host, inventory, logger
from pyinfra.api import DeployError

from harbor_deploy.facts.files import PrivateFiles
from harbor_deploy.facts.quiet import quiet_fact
from harbor_deploy.facts.server import ServerState
from harbor_deploy.lib.config.defaults import (
    BACKING_GROUP,
    GROWN_MARKER,
    LB_GROUP,
    REMOTE_CACHE,
    SERVER_DATABASE_CA,
    SERVER_GROUP,
    SERVER_TLS_CA,
    SERVER_TLS_CERTIFICATE,
    SERVER_TLS_PRIVATE_KEY,
    SHARED_VALUES,
    SHARED_VALUES_SCRIPT,
    SYSTEMD_UNIT,
    UNFINISHED_MARKER,
    UPGRADE_UNIT,
    UPGRADE_WAIT_SECONDS,
    merged,
    release_dir,
)
from harbor_deploy.lib.config.secrets import ServerSecrets, load_secrets, secrets_dir
from harbor_deploy.lib.config.validate import ConfigError, adoption_problems, upgrade_problem, validated
from harbor_deploy.lib.harbor_api.client import public_url, served_url
from harbor_deploy.lib.plan import cluster, installer, instance_keys, shared_values
from harbor_deploy.lib.render import backing, harbor_yml, tls
from harbor_deploy.operations.deploy_lock import as_read, lock_holder, upgrade_running
from harbor_deploy.planning.context import host_data, refused_before_any_change

DOCKER_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


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
    # What the controller had of those files when read ({name: bytes}; the others were absent).
    keep_as_read: dict
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
    # The values prepare draws on every run, the same on every node (``shared_values``): bytes, or None for one node.
    shared_values: bytes | None = None
    # Trivy database bundles to place offline: (folder, controller path, sha256).
    trivy_bundles: tuple = ()
    # The CA of the backing host's PostgreSQL, placed at SERVER_DATABASE_CA (``database_ca``).
    database_ca: bytes | None = None

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


def harbor_yml_path(config):
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
        private_paths=(harbor_yml_path(config), *SERVER_TLS_FILES.values(), *private_paths),
        managed_paths=(
            *SERVER_TLS_FILES.values(),
            ca_download(config),
            SERVER_DATABASE_CA,
            f"{release_dir(install_dir, '*')}/harbor.yml",
            SYSTEMD_UNIT,
            f"{REMOTE_CACHE}/*",
            install_dir,
            *extra_paths,
        ),
        space_paths=(REMOTE_CACHE, posixpath.dirname(install_dir)),
    )
    after_an_earlier_upgrade(state["upgrade"])
    refuse_after_unfinished(state["unfinished"])
    return state


def database_ca(config):
    """The CA this node verifies the backing host's PostgreSQL with (``ssl_mode``
    verify-ca/verify-full; the backing deploy keeps it on the controller), or None.

    Harbor v2.13.1 has no setting for a database CA: core's driver (pgx) verifies with
    the system roots, which each container's start extends with the files of
    /harbor_cust_cert (install_cert.sh), filled by prepare from
    ``storage_service.ca_bundle`` (utils/cert.py ``prepare_trust_ca``): the CA goes
    there. A ``ConfigError`` when that key holds another bundle, or when the inventory
    has a backing host that has not made its CA yet."""
    database = config["harbor_external_database"] or {}
    if database.get("ssl_mode") not in ("verify-ca", "verify-full"):
        return None
    path = secrets_dir(config) / backing.TLS_FOLDER / tls.CA_CERT
    if not path.is_file():
        if inventory.get_group(BACKING_GROUP, []):
            raise ConfigError(
                [
                    (
                        "harbor_external_database",
                        f"ssl_mode {database['ssl_mode']}: the CA of the backing host's PostgreSQL is not in "
                        f"{path.parent} yet: run deploys/backing.py first, it makes it",
                    )
                ]
            )
        return None
    if (config["harbor_storage_service"] or {}).get("ca_bundle"):
        raise ConfigError(
            [
                (
                    "harbor_storage_service",
                    "ca_bundle: Harbor takes one CA bundle, and it carries the backing host's PostgreSQL CA "
                    f"({path}) to core: leave ca_bundle out",
                )
            ]
        )
    return path.read_bytes()


def data_place(config):
    """What the operations on Harbor's data (``harbor_data``) need to know of this
    server's Harbor."""
    return {
        "install_dir": config["harbor_install_dir"],
        "data_volume": config["harbor_data_volume"],
        "backup_dir": config["harbor_backup_dir"],
        "hostname": config["harbor_hostname"],
        "external_database": bool(config["harbor_external_database"]),
        "keep": config["harbor_backup_keep"],
        "trivy": config["harbor_with_trivy"],
        "url": served_url(config, "127.0.0.1"),
        "timeout": config["harbor_health_timeout"],
        "log_dir": config["harbor_log_location"],
    }


def refuse_after_unfinished(marker):
    """Stop while an operation on Harbor's data (upgrade, rollback, restore) left its
    marker here: it failed, or its host went down under it. Only a restore goes on."""
    if marker:
        raise DeployError(
            f"{host.name}: an operation on Harbor's data did not finish here ({UNFINISHED_MARKER}: {marker}); "
            "nothing was changed: restore a backup with deploys/restore.py, which removes the marker once Harbor "
            "is healthy on the restored data"
        )


def installed_version(config, state):
    """The release this server has Harbor's data for, None on a fresh one: the release
    ``install_dir`` points to, running or not (a stopped Harbor is upgraded with a
    backup too), when there is data to carry over."""
    installation = state["installation"]
    database = f"{config['harbor_data_volume'].rstrip('/')}/database"
    has_data = (
        installation["running_version"] is not None
        or database in state["private"]["nonempty"]
        or bool(config["harbor_external_database"])
    )
    installed = installation["bundle_version"] or installation["running_version"]
    return installed if has_data else None


def after_an_earlier_upgrade(upgrade):
    """Stop when an upgrade an earlier run started (detached: ``harbor_data.upgrade``) still
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


def ca_download(config):
    """Served by Harbor at /api/v2.0/systeminfo/getcert for clients that fetch it."""
    return f"{config['harbor_data_volume'].rstrip('/')}/ca_download/ca.crt"


def database_dir(config):
    return f"{config['harbor_data_volume'].rstrip('/')}/database"


def server_holder(config, state):
    """The server deploy's lock ``Holder``: taken only while harbor.yml and the database
    folder, which decide a fresh install and the database password, are as ``state``
    read them (another run may have installed Harbor since)."""
    path, database = harbor_yml_path(config), database_dir(config)
    return lock_holder(
        "harbor_server",
        unchanged=as_read(
            {path: state["installation"]["harbor_yml_mtime"]}, {database: database in state["private"]["nonempty"]}
        ),
        what=f"{path} or {database}, which decide a fresh install and the database password",
    )


def secrets_on_server(config, state):
    """What an installed Harbor keeps of its secrets."""
    path = harbor_yml_path(config)
    database = database_dir(config)
    found = state["private"]
    text = found["files"].get(path)
    server = ServerSecrets(
        harbor_yml=harbor_yml.secrets_of(text.decode()) if text is not None else None,
        harbor_yml_path=path,
        database_initialised=database in found["nonempty"],
    )
    tls_files = {name: found["files"][path] for name, path in SERVER_TLS_FILES.items() if path in found["files"]}
    return server, tls_files


def _controller_tls_files(config, have, on_server):
    """The generated TLS files the controller has (``have``); when it has no CA
    certificate, the server's (what its clients trust) are taken back, marked as to keep."""
    if config["harbor_tls_mode"] != "generate" or tls.CA_CERT in have or len(on_server) < len(SERVER_TLS_FILES):
        return have, {}
    return on_server, dict(on_server)


def clients_chain_change(config, material):
    """``(bytes or None, why)`` of what the controller must change of the provided chain
    the clients trust (``tls.PROVIDED_CHAIN``, read by ``harbor_client_ca_source:
    secrets``): kept while the mode is provided with a chain, removed otherwise (a
    generated CA, or a public CA's certificate); ``(None, None)`` when it is as it must be."""
    path = secrets_dir(config) / tls.PROVIDED_CHAIN
    wanted = material.ca_certificate if config["harbor_tls_mode"] == "provided" and material else None
    have = path.read_bytes() if path.is_file() else None
    if have == wanted:
        return None, None
    if wanted is None:
        return None, f"removed: no harbor_tls_chain to trust in harbor_tls_mode {config['harbor_tls_mode']}"
    return wanted, "harbor_tls_chain, which the clients trust"


def plan(overrides=None):
    """Validate this host's data and resolve secrets, TLS material and the installer on
    the controller, without writing anything (the ``controller_secrets`` stage does).

    Runs while pyinfra prepares the deploy, before any host is changed: a problem
    on any host stops the whole run with every problem listed. Secrets an installed
    Harbor depends on are never generated anew: what the controller lacks is taken
    back from the server, or the run stops saying how to provide it.
    """
    data = host_data(overrides=overrides)
    with refused_before_any_change():
        config = validated(data)
        nodes = cluster_of(config, overrides)
        key_paths = (*instance_keys.on_node(config["harbor_data_volume"]).values(), SHARED_VALUES) if nodes else ()
        script = (SHARED_VALUES_SCRIPT,) if nodes else ()
        grown = (GROWN_MARKER,) if config["harbor_external_database"] else ()
        state = read_state(config, extra_paths=(*key_paths, *script, *grown), private_paths=key_paths)
        own_data_problem(config, state)
        with _planning:
            instance, config = _resolve_instance(data, config, state, nodes)
        database_ca_pem = database_ca(config)
        if database_ca_pem:
            storage = {**(config["harbor_storage_service"] or {}), "ca_bundle": SERVER_DATABASE_CA}
            config = {**config, "harbor_storage_service": storage}
        installed = state["installation"]["running_version"] or state["installation"]["bundle_version"]
        with _planning:
            fetched = installer.fetch(
                config, arch=DOCKER_ARCH.get(state["resources"]["machine"], "amd64"), installed=installed
            )
    if config["harbor_version"] == "latest" and installed:
        logger.info(
            f"[{host.name}] harbor_version latest holds the installed Harbor {installed}: a routine run never "
            "upgrades; name a newer release in harbor_version to upgrade"
        )
    install_dir = config["harbor_install_dir"].rstrip("/")
    adopt = state["files"].get(install_dir, {}).get("type") == "directory"
    if adopt:
        found = state["private"]["files"].get(harbor_yml_path(config))
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
    installed = installed_version(config, state)
    upgrade_from = installed if installed and installed != fetched.version else None
    if upgrade_from:
        problem = upgrade_problem(upgrade_from, fetched.version)
        if problem:
            raise DeployError(f"{host.name}: harbor_version: {problem}; nothing was changed")
        if nodes:
            found = list(cluster_upgrade_problems(config, nodes))
            if found:
                with refused_before_any_change():
                    raise ConfigError(found)
    trivy_bundles = tuple(
        (folder, config[key], installer.file_hashes(config[key])[1])
        for key, folder in (("harbor_trivy_offline_db", "db"), ("harbor_trivy_offline_java_db", "java-db"))
        if config[key]
    )
    return ServerPlan(
        config=config,
        state=state,
        secrets=instance.secrets,
        tls=instance.tls,
        keep=instance.keep,
        keep_why=instance.keep_why,
        keep_as_read=instance.keep_as_read,
        version=fetched.version,
        installer=fetched,
        install_dir=install_dir,
        release=release_dir(install_dir, fetched.version),
        lock_holder=server_holder(config, state),
        upgrade_from=upgrade_from,
        adopt=adopt,
        cluster=nodes,
        instance_keys=instance.keys,
        shared_values=instance.shared_values,
        trivy_bundles=trivy_bundles,
        database_ca=database_ca_pem,
    )


def cluster_of(config, overrides=None):
    """The ``Cluster`` this host's Harbor is (the ``harbor_servers`` hosts serving its
    URL, the ``harbor_lb`` host in front of them, the ``harbor_backing`` host serving
    their state), or None for a Harbor of one node.
    Several nodes without their state shared outside them, or whose settings differ,
    raise ``ConfigError``: each would keep a Harbor of its own behind one name."""
    if not {SERVER_GROUP, LB_GROUP, BACKING_GROUP} & set(host.groups):
        return None
    url = public_url(config)
    configs = {other.name: merged(host_data(other, overrides)) for other in inventory.get_group(SERVER_GROUP, [])}
    nodes = cluster.members(url, configs)
    if len(nodes) < 2 and (host.name in configs or BACKING_GROUP in host.groups):
        return None
    if host.name not in configs and not {LB_GROUP, BACKING_GROUP} & set(host.groups):
        return None
    if host.name in configs:
        peers = [name for name in nodes if name != host.name]
        own = configs[host.name]
        found = [
            *cluster.shared_state_problems(own, peers),
            *cluster.version_problems(own, peers),
            *cluster.difference_problems(own, {name: configs[name] for name in peers}),
        ]
        if found:
            raise ConfigError(found)
    lbs, backings = (
        [
            other.name
            for other in inventory.get_group(group, [])
            if public_url(merged(host_data(other, overrides))) == url
        ]
        for group in (LB_GROUP, BACKING_GROUP)
    )
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
        backing=backings[0] if backings else None,
    )


def own_data_problem(config, state):
    """Refuse to point a Harbor that keeps its data in its own database (a non-empty
    ``<data_volume>/database``) at ``harbor_external_database``: it would start there
    without its projects and images. ``deploys/grow.py`` moves it (and leaves
    ``GROWN_MARKER``)."""
    database = database_dir(config)
    if (
        config["harbor_external_database"]
        and database in state["private"]["nonempty"]
        and GROWN_MARKER not in state["files"]
    ):
        raise ConfigError(
            [
                (
                    "harbor_external_database",
                    f"this Harbor keeps its data in its own database ({database}): pointed at the external one it "
                    "would start without its projects and images; move them first (deploys/grow.py, when it becomes "
                    "a node of several; otherwise pg_dump and pg_restore it yourself, then rename that folder)",
                )
            ]
        )


def cluster_upgrade_problems(config, nodes):
    """Why the nodes of ``nodes`` (a ``Cluster``) must not upgrade in this run: the
    first node's core migrates the database they share, and no node of the older
    release starts on it afterwards, so a dump of it comes first (the backing host's,
    in this run), or a snapshot of a managed database named by the operator."""
    if nodes.backing is None:
        if not config["harbor_cluster_upgrade_snapshot"]:
            yield (
                "harbor_cluster_upgrade_snapshot",
                f"upgrading the nodes of {nodes.url} migrates the database they share, and no node of the older "
                "release starts on it afterwards; with no harbor_backing host to dump it, take a snapshot of it "
                "with your provider's tools and name it here",
            )
    elif not host.state.is_host_in_limit(inventory.get_host(nodes.backing)):
        yield (
            "--limit",
            f"leaves out {nodes.backing}, which dumps the shared database before the first node of {nodes.url} "
            "migrates it in this upgrade: run the server deploy on it too",
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
    keep_as_read: dict
    shared_values: bytes | None = None


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
    server, server_tls = secrets_on_server(config, state)
    secrets = load_secrets(config, server=server)
    config = validated(data, secrets)
    controller_tls = tls.read_files(secrets_dir(config))
    tls_files, recovered_tls = _controller_tls_files(config, controller_tls, server_tls)
    material, new_tls = tls.tls_material(config, tls_files)
    keep = {name: secret for name, (secret, _) in secrets.to_keep.items()}
    keep_why = {name: why for name, (_, why) in secrets.to_keep.items()}
    keep.update(recovered_tls)
    keep_why.update({name: "recovered from the server" for name in recovered_tls})
    keep.update(new_tls)
    keep_why.update({name: "generated" for name in new_tls})
    if tls.CA_CERT in new_tls and tls.CA_CERT in tls_files:
        keep_why[tls.CA_CERT] = "generated anew (expiring, or a name it may not sign): run deploys/client.py"
    chain, chain_change = clients_chain_change(config, material)
    if chain_change:
        keep[tls.PROVIDED_CHAIN] = chain
        keep_why[tls.PROVIDED_CHAIN] = chain_change
    keys, values = {}, None
    if cluster_nodes:
        peers = [name for name in cluster_nodes.nodes if name != host.name]
        keys, why = instance_keys_of(config, state, peers)
        keep.update({name: keys[name] for name in why})
        keep_why.update(why)
        values, why = shared_values_of(config, state, peers)
        if why:
            keep[shared_values.KEEP_NAME], keep_why[shared_values.KEEP_NAME] = values, why
    # Secrets and instance keys are kept only when the controller lacked them; a TLS file may be renewed.
    as_read = {name: controller_tls[name] for name in keep if name in controller_tls}
    kept_chain = secrets_dir(config) / tls.PROVIDED_CHAIN
    if tls.PROVIDED_CHAIN in keep and kept_chain.is_file():
        as_read[tls.PROVIDED_CHAIN] = kept_chain.read_bytes()  # replaced, or removed, as this run read it
    instance = Instance(
        secrets=secrets,
        tls=material,
        keys=keys,
        keep=keep,
        keep_why=keep_why,
        keep_as_read=as_read,
        shared_values=values,
    )
    if cluster_nodes:
        _instance_memo()[str(secrets_dir(config))] = instance
    return instance, config


def _keys_on_node(config, state):
    """The instance keys this node keeps ({controller name: bytes}), those it has."""
    found = state["private"]["files"]
    paths = instance_keys.on_node(config["harbor_data_volume"])
    return {name: found[path] for name, path in paths.items() if path in found}


def from_peers(paths, peers):
    """``(peer, {path: bytes})`` of the first of ``peers`` (node names, in order) that
    holds any of ``paths``, read quietly; ``(None, {})`` when none does. A node planned
    before the one holding a Harbor's keys (a Harbor of one node growing) finds them."""
    for name in peers:
        found = quiet_fact(PrivateFiles, on=inventory.get_host(name), paths=list(paths))["files"]
        if found:
            return name, found
    return None, {}


def instance_keys_of(config, state, peers=()):
    """The keys Harbor keeps per instance: the controller's, else this node's, else
    another node's (taken back), else new; with {name: why} of those the controller
    must keep."""
    directory = secrets_dir(config)
    have = {name: (directory / name).read_bytes() for name in instance_keys.NODE_PATHS if (directory / name).is_file()}
    why = {}
    if not have:
        have = _keys_on_node(config, state)
        why = {name: "recovered from the server" for name in have}
    if not have:
        paths = instance_keys.on_node(config["harbor_data_volume"])
        peer, found = from_peers(paths.values(), peers)
        have = {name: found[path] for name, path in paths.items() if path in found}
        why = {name: f"recovered from {peer}" for name in have}
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


def shared_values_of(config, state, peers=()):
    """The values prepare draws on every run, as every node of this Harbor holds them
    (``shared_values``): the controller's, else this node's copy or another node's
    (taken back), else new; with why the controller must keep them (None when it has
    them)."""
    kept = secrets_dir(config) / shared_values.KEEP_NAME
    peer, on_peer = (
        (None, {})
        if kept.is_file() or SHARED_VALUES in state["private"]["files"]
        else (from_peers([SHARED_VALUES], peers))
    )
    if kept.is_file():
        values, why = kept.read_bytes(), None
    elif SHARED_VALUES in state["private"]["files"]:
        values, why = state["private"]["files"][SHARED_VALUES], "recovered from the server"
    elif on_peer:
        values, why = on_peer[SHARED_VALUES], f"recovered from {peer}"
    else:
        values, why = shared_values.generate(), "generated"
    found = shared_values.problems(values)
    if found:
        where = kept if not why or why == "generated" else f"{peer or host.name}:{SHARED_VALUES}"
        raise ConfigError([("shared values", f"{where}: {problem}") for problem in found])
    return values, why
