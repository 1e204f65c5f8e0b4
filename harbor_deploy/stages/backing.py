"""The ``harbor_backing`` stages: PostgreSQL, Redis and an object store (OpenStack
Swift with its S3 API) from the distribution's packages, for several Harbor nodes.

The host serves exactly what the Harbor nodes' keys say (``lib.render.backing.settings``):
``harbor_external_database``, ``harbor_external_redis``, ``harbor_storage_service``.
Decisions come from facts read before any change (``BackingState``, ``FileStates``);
a second run changes nothing and restarts nothing. Every change takes the host's
deploy lock first (``deploy_lock``): two runs never change it at once. Passwords reach
the host only inside the files of the services that read them (0600 or 0640, read by
the service alone, uploaded by ``secret_file.put``), the database's on psql's stdin:
never on a command line, in an operation's name or in ``--diff``.

Swift's object server keeps each object's metadata in user xattrs of its device's
filesystem. The device is the directory ``/srv/node/d1`` (``mount_check = false``):
mount a dedicated XFS or ext4 filesystem there for production. On Docker's overlayfs
(the lab's hosts, on ext4) user xattrs work up to ext4's one-block limit (~4 KiB per
file, far above the few hundred bytes Swift writes per object): the plan checks that
a 2 KiB user xattr can be written there and stops, before any change, when it can't.
"""

import secrets as token_source
from dataclasses import dataclass
from shlex import quote

from pyinfra import host, logger
from pyinfra.api import DeployError, deploy
from pyinfra.operations import server

from harbor_deploy.facts.backing import PACKAGES, BackingState
from harbor_deploy.facts.files import FileStates
from harbor_deploy.facts.firewalld import FirewalldState
from harbor_deploy.facts.quiet import quiet_fact
from harbor_deploy.lib.config.defaults import BACKING_FIREWALLD_SERVICE
from harbor_deploy.lib.config.secrets import load_secrets, secrets_dir
from harbor_deploy.lib.config.validate import ConfigError, validated
from harbor_deploy.lib.render import backing as lib
from harbor_deploy.lib.render import tls
from harbor_deploy.operations import firewalld, secret_file
from harbor_deploy.operations import packages as package_ops
from harbor_deploy.operations.deploy_lock import Holder, guarded, lock_holder
from harbor_deploy.operations.secret_file import public
from harbor_deploy.planning.context import host_data, refused_before_any_change

# Where earlier releases kept the role's SQL, password inside: removed.
OLD_SQL_FILE = "/etc/harbor-backing/postgres-role.sql"
# Not Debian's /etc/redis/redis.conf: its directory (0770 redis) is closed to a sudo
# login user, who stages secret files beside their destination; a systemd drop-in
# points redis-server.service here, and Debian's conffile stays as shipped.
REDIS_CONF = "/etc/harbor-backing/redis.conf"
REDIS_DROPIN = "/etc/systemd/system/redis-server.service.d/harbor-backing.conf"
SWIFT_DIR = "/etc/swift"
SWIFT_CONF = f"{SWIFT_DIR}/swift.conf"
PROXY_CONF = f"{SWIFT_DIR}/proxy-server.conf"
SWIFT_DEVICE_DIR = f"{lib.SWIFT_DEVICES}/{lib.SWIFT_DEVICE}"
MEMCACHED_CONF = "/etc/memcached.conf"
# The PostgreSQL major version each release's ``postgresql`` package installs, when
# apt can't say yet (no package lists before the first apt-get update).
POSTGRESQL_BY_CODENAME = {"trixie": "17", "bookworm": "15", "bullseye": "13", "noble": "16", "jammy": "14"}
# Every Swift daemon reading the files this stage writes: a change restarts them all
# (a replicator or auditor left running keeps the settings it started with).
SWIFT_UNITS = (
    "swift-account",
    "swift-container",
    "swift-object",
    "swift-account-replicator",
    "swift-container-replicator",
    "swift-object-replicator",
    "swift-account-auditor",
    "swift-container-auditor",
    "swift-object-auditor",
    "swift-account-reaper",
    "swift-container-updater",
    "swift-object-updater",
    "swift-proxy",
)
# Daemons Debian's swift packages enable that this one-node setup configures none of
# (no sharding, container sync or erasure-coded policy): without their config section
# each exits at start and systemd restarts it every few seconds, for ever.
SWIFT_UNUSED_UNITS = ("swift-container-sharder", "swift-container-sync", "swift-object-reconstructor")
# The units the fact reads (PostgreSQL's cluster units added per version).
SERVICE_UNITS = ("postgresql", "redis-server", "memcached", *SWIFT_UNITS, *SWIFT_UNUSED_UNITS)
# How long the checks wait for a service that was just (re)started.
WAIT_SECONDS = 60


@dataclass
class BackingPlan:
    """What the stages share: validated data, what to serve, and the host's state read
    once before any change."""

    config: dict
    backing: lib.Backing
    state: dict
    files: dict
    firewall: dict
    pg_version: str
    swift_hash: tuple
    # What PostgreSQL serves (``TlsMaterial``), and the files of it the controller must
    # keep ({name: bytes}) and had when read.
    tls: object
    tls_keep: dict
    tls_as_read: dict
    # Every change takes the host's deploy lock for it first: two runs never change it at once.
    lock_holder: Holder

    def unit_ready(self, unit):
        found = self.state["units"].get(unit, {})
        return found.get("enabled") == "enabled" and found.get("active") == "active"

    @property
    def pg_dir(self):
        return f"/etc/postgresql/{self.pg_version}/main"

    @property
    def pg_unit(self):
        return f"postgresql@{self.pg_version}-main"


def settings_of(data):
    """The validated configuration and ``Backing`` of host ``data``; ``DeployError``
    naming every key that can't be served, before anything changes."""
    with refused_before_any_change():
        config = validated(data)
        secrets = load_secrets(config)
        config = validated(data, secrets)
        return config, lib.settings(config, secrets)


def tls_folder(config):
    """Where the controller keeps the CA and certificate of the backing host's PostgreSQL."""
    return secrets_dir(config) / lib.TLS_FOLDER


def database_tls(config, backing):
    """``(TlsMaterial, files to keep, files as read)`` of PostgreSQL's certificate for
    the name the nodes connect to: made once, reused, renewed before it expires."""
    folder = tls_folder(config)
    found = tls.read_files(folder)
    with refused_before_any_change():
        try:
            material, new_files = tls.plan_generated(found, backing.address)
        except tls.TlsError as error:
            raise ConfigError([(lib.DATABASE_KEY, f"the backing host's certificate, in {folder}: {error}")]) from None
    return material, new_files, found


def read_state(backing):
    """``BackingState`` of this host for ``backing`` (its settings), read quietly."""
    return quiet_fact(
        BackingState,
        db_port=backing.db_port,
        db_name=backing.db_name,
        db_username=backing.db_username,
        redis_port=backing.redis_port,
        swift_port=backing.swift_port,
        account=backing.swift_account,
        user=backing.swift_user,
        containers=list(backing.containers),
        units=[*SERVICE_UNITS, *(f"postgresql@{v}-main" for v in sorted(set(POSTGRESQL_BY_CODENAME.values())))],
        devices=SWIFT_DEVICE_DIR,
    )


def plan(overrides=None):
    """Validate this host's data, resolve its secrets and read the host, without
    changing anything: a problem stops the run, naming the key and why."""
    config, backing = settings_of(host_data(overrides=overrides))
    state = read_state(backing)
    if not {"debian", "ubuntu"} & set(state["os"]):
        raise DeployError(
            f"{host.name}: a backing host is Debian or Ubuntu (or a derivative), this one is "
            f"{state['os'][0] if state['os'] else 'of an unknown OS'}: it serves PostgreSQL, Redis and OpenStack "
            "Swift from apt packages, and the RHEL family packages no Swift (only RDO's OpenStack repositories do) "
            "and, from RHEL 10, Valkey in place of Redis. Point harbor_external_database, harbor_external_redis "
            "and harbor_storage_service at managed services or your own, and leave harbor_backing out; nothing "
            "was changed"
        )
    version = (state["pg_clusters"] or [None])[-1] or state["pg_candidate"]
    version = version or POSTGRESQL_BY_CODENAME.get(state["codename"] or "")
    if not version:
        raise DeployError(
            f"{host.name}: cannot tell which PostgreSQL the postgresql package installs on "
            f"{state['codename'] or 'this OS'}: run apt-get update on it, or install postgresql first"
        )
    if not (state["xattr"] or "").startswith("ok "):
        raise DeployError(
            f"{host.name}: Swift keeps object metadata in user xattrs, and the filesystem of {SWIFT_DEVICE_DIR} "
            f"can't hold them ({state['xattr'] or 'python3 missing'}): mount an XFS or ext4 filesystem there; "
            "nothing was changed"
        )
    hash_found = state["swift_hash"]
    swift_hash = (hash_found.get("prefix"), hash_found.get("suffix"))
    if not all(swift_hash) or "changeme" in swift_hash:
        # Generated once; kept from swift.conf afterwards (changing it hides every object).
        swift_hash = (token_source.token_hex(16), token_source.token_hex(16))
    pg_dir = f"/etc/postgresql/{version}/main"
    known = quiet_fact(
        FileStates,
        paths=(
            OLD_SQL_FILE,
            lib.DATABASE_CERTIFICATE,
            lib.DATABASE_PRIVATE_KEY,
            REDIS_CONF,
            REDIS_DROPIN,
            SWIFT_CONF,
            PROXY_CONF,
            f"{pg_dir}/conf.d/harbor-backing.conf",
            f"{pg_dir}/pg_hba.conf",
            MEMCACHED_CONF,
            SWIFT_DEVICE_DIR,
            *(swift_server_conf(kind) for kind in lib.SWIFT_SERVERS),
        ),
    )
    material, keep, as_read = database_tls(config, backing)
    return BackingPlan(
        config=config,
        backing=backing,
        tls=material,
        tls_keep=keep,
        tls_as_read=as_read,
        state=state,
        files=known,
        firewall=host.get_fact(FirewalldState),
        pg_version=version,
        swift_hash=swift_hash,
        lock_holder=lock_holder("harbor_backing"),
    )


@deploy("Backing packages")
def packages(plan):
    return package_ops.installed(
        name="Install PostgreSQL, Redis, memcached and OpenStack Swift (Debian packages)",
        packages=[*PACKAGES, "curl"],
        lock_holder=plan.lock_holder,
    )


def _put(plan, name, dest, content, mode, owner="root:root", mask=public, keep_original=False):
    """``content`` at ``dest`` when it differs, after the lock (``secret_file.put``);
    ``keep_original``: a file the packages installed there is kept once as
    ``<dest>.harbor-deploy-orig`` (only files without secrets: a copy of ours would keep
    a password)."""
    return secret_file.put(
        name=name,
        dest=dest,
        content=content,
        mode=mode,
        owner=owner,
        mask=mask,
        known_files=plan.files,
        lock_holder=plan.lock_holder,
        keep_original=keep_original,
    )


def _restart(plan, unit_names, label, changes):
    """Enable and restart ``unit_names`` when any of ``changes`` changed or one of them
    was not enabled and running when the run started; otherwise nothing runs."""
    was_ready = all(plan.unit_ready(unit) for unit in unit_names)
    names = " ".join(unit_names)
    return server.shell(
        name=f"Enable and (re)start {label}",
        commands=[guarded(plan.lock_holder, f"systemctl enable {names} && systemctl restart {names}")],
        _if=lambda: not was_ready or any(op.did_change() for op in changes),
    )


@deploy("PostgreSQL")
def postgresql(plan):
    backing = plan.backing
    secret_file.keep(
        name="Keep the backing host's PostgreSQL CA and certificate in the controller secrets dir",
        directory=str(tls_folder(plan.config)),
        files=plan.tls_keep,
        why=dict.fromkeys(plan.tls_keep, f"for PostgreSQL on {backing.address}"),
        as_read=plan.tls_as_read,
    )
    served = [
        _put(
            plan,
            f"PostgreSQL's certificate for {backing.address}",
            lib.DATABASE_CERTIFICATE,
            plan.tls.certificate,
            "0644",
        ),
        _put(
            plan,
            "PostgreSQL's private key (0600, PostgreSQL's)",
            lib.DATABASE_PRIVATE_KEY,
            plan.tls.private_key,
            "0600",
            owner="postgres:postgres",
            mask=None,
        ),
    ]
    conf = _put(
        plan,
        f"PostgreSQL listens on port {backing.db_port} of every address, over TLS",
        f"{plan.pg_dir}/conf.d/harbor-backing.conf",
        lib.render_postgresql_conf(backing),
        "0644",
        owner="postgres:postgres",
    )
    hba = _put(
        plan,
        f"pg_hba.conf: {backing.db_username} to {backing.db_name} from {', '.join(backing.allowed_sources)}",
        f"{plan.pg_dir}/pg_hba.conf",
        lib.render_pg_hba(backing),
        "0640",
        owner="postgres:postgres",
        keep_original=True,
    )
    restarted = _restart(plan, ["postgresql", plan.pg_unit], f"PostgreSQL {plan.pg_version}", [conf])
    server.shell(
        name="Reload PostgreSQL (pg_hba.conf or its certificate changed)",
        commands=[guarded(plan.lock_holder, f"systemctl reload {plan.pg_unit}")],
        _if=lambda: any(op.did_change() for op in (hba, *served)) and not restarted.did_change(),
    )
    found = plan.state
    verified = lib.password_matches(found["pg_verifier"], backing.db_password)
    current = found["pg_role"] and found["pg_database"] and verified
    changes = [*served, conf, hba, restarted]
    if not current:
        # The script holds the password: on psql's stdin, never in a file or a command line.
        changes.append(
            server.shell(
                name=f"Role {backing.db_username} (its password) and database {backing.db_name}, SQL on stdin",
                commands=[
                    guarded(
                        plan.lock_holder,
                        f"{_wait(f'pg_isready -q -h 127.0.0.1 -p {backing.db_port}', 'PostgreSQL')} && "
                        f"runuser -u postgres -- psql -X -q -p {backing.db_port} -d postgres -f -",
                        _stdin=lib.render_sql(backing),
                    )
                ],
            )
        )
    if plan.files.get(OLD_SQL_FILE):
        changes.append(
            server.shell(
                name=f"Remove {OLD_SQL_FILE} (the database password, kept there by earlier releases)",
                commands=[guarded(plan.lock_holder, f"rm -f {OLD_SQL_FILE}")],
            )
        )
    return changes


def _wait(check, what):
    """Shell: retry ``check`` each second up to ``WAIT_SECONDS``, then fail naming ``what``."""
    return (
        f"for i in $(seq {WAIT_SECONDS}); do {check} && break; sleep 1; done; "
        f"{check} || {{ echo '{what} does not answer after {WAIT_SECONDS}s' >&2; exit 1; }}"
    )


@deploy("Redis")
def redis(plan):
    backing = plan.backing
    conf = _put(
        plan,
        f"redis.conf: port {backing.redis_port} on every address, requirepass (0600, owner redis)",
        REDIS_CONF,
        lib.render_redis_conf(backing),
        "0600",
        owner="redis:redis",
        mask=lib.masked_redis_conf,
    )
    dropin = _put(
        plan,
        f"redis-server.service reads {REDIS_CONF} (systemd drop-in)",
        REDIS_DROPIN,
        "# Managed by harbor-deploy (harbor_backing).\n[Service]\nExecStart=\n"
        f"ExecStart=/usr/bin/redis-server {REDIS_CONF} --supervised systemd --daemonize no\n",
        "0644",
    )
    server.shell(
        name="Reload systemd units (redis-server drop-in changed)",
        commands=[guarded(plan.lock_holder, "systemctl daemon-reload")],
        _if=dropin.did_change,
    )
    return [conf, dropin, _restart(plan, ["redis-server"], "Redis", [conf, dropin])]


@deploy("Swift object store")
def swift(plan):
    backing = plan.backing
    found = plan.files.get(SWIFT_DEVICE_DIR, {})
    changes = []
    if [found.get(field) for field in ("type", "user", "group", "mode")] != ["directory", "swift", "swift", "755"]:
        changes.append(
            server.shell(
                name=f"Swift device {SWIFT_DEVICE_DIR}",
                commands=[guarded(plan.lock_holder, f"install -d -o swift -g swift -m 0755 {SWIFT_DEVICE_DIR}")],
            )
        )
    changes += [
        _put(
            plan,
            "swift.conf (hash path prefix and suffix kept)",
            SWIFT_CONF,
            lib.render_swift_conf(*plan.swift_hash),
            "0640",
            owner="root:swift",
            mask=lib.masked_swift_conf,
        ),
        _put(
            plan,
            f"proxy-server.conf: port {backing.swift_port}, tempauth user "
            f"{backing.swift_account}:{backing.swift_user}, s3api (region {backing.region})",
            PROXY_CONF,
            lib.render_proxy_server_conf(backing),
            "0640",
            owner="root:swift",
            mask=lib.masked_proxy_server_conf,
        ),
    ]
    for kind in lib.SWIFT_SERVERS:
        changes.append(
            _put(
                plan,
                f"{kind}-server.conf (loopback, port {lib.SWIFT_SERVERS[kind]})",
                swift_server_conf(kind),
                lib.render_swift_server_conf(kind),
                "0644",
                keep_original=True,
            )
        )
    missing = [kind for kind in lib.SWIFT_SERVERS if kind not in plan.state["rings"]]
    if missing:
        changes.append(
            server.shell(
                name=f"Build Swift's {', '.join(missing)} ring(s): 1 replica, device {lib.SWIFT_DEVICE}",
                commands=[guarded(plan.lock_holder, _ring(kind)) for kind in missing],
            )
        )
    memcached = _put(
        plan,
        "memcached on 127.0.0.1:11211 (Swift's tokens)",
        MEMCACHED_CONF,
        lib.render_memcached_conf(),
        "0644",
        keep_original=True,
    )
    changes += [memcached, _restart(plan, ["memcached"], "memcached", [memcached])]
    changes.append(_restart(plan, list(SWIFT_UNITS), "Swift", list(changes)))
    unused = unused_swift_units(plan.state)
    if unused:
        names = " ".join(unused)
        # One by one: a release packaging one of them not at all fails none of the others.
        stop = f"{{ for u in {names}; do systemctl disable --now $u; systemctl reset-failed $u; done; true; }}"
        server.shell(
            name=f"Stop and disable Swift daemons this setup does not use: {', '.join(unused)}",
            commands=[guarded(plan.lock_holder, stop, "2>/dev/null")],
        )
    absent = [name for name in backing.containers if plan.state["containers"].get(name) != "present"]
    if absent:
        changes.append(
            server.shell(
                name=f"Create the registry's {'bucket/container' if len(absent) == 1 else 'containers'} "
                f"{', '.join(absent)} (the registry creates no S3 bucket)",
                commands=[
                    guarded(
                        plan.lock_holder,
                        _wait(f"curl -fsS -m 5 -o /dev/null http://127.0.0.1:{backing.swift_port}/healthcheck", "Swift")
                        + " && "
                        + _containers_command("create", backing, absent),
                    )
                ],
            )
        )
    return changes


def unused_swift_units(state):
    """The unused daemons still enabled or not stopped; all of them when the packages
    bringing them are installed by this run (read before, their units were unknown)."""
    if not {"swift-container", "swift-object"} <= set(state["packages"]):
        return list(SWIFT_UNUSED_UNITS)
    at_rest = {"enabled": ("", "disabled", "masked"), "active": ("", "inactive")}
    return [
        unit
        for unit in SWIFT_UNUSED_UNITS
        if any(state["units"].get(unit, {}).get(key, "") not in values for key, values in at_rest.items())
    ]


def swift_server_conf(kind):
    return f"{SWIFT_DIR}/{kind}-server.conf"


def _containers_command(mode, backing, names):
    return (
        f"python3 -c {quote(lib.SWIFT_CONTAINERS_SCRIPT)} {mode} {backing.swift_port} "
        f"{quote(backing.swift_account)} {quote(backing.swift_user)} {' '.join(quote(n) for n in names)}"
    )


def _ring(kind):
    """Shell: the ``kind`` ring of one device on loopback, built when missing
    (``rebalance`` exits 1 for a warning, which a one-device ring always has)."""
    builder = f"{SWIFT_DIR}/{kind}.builder"
    return (
        f"cd {SWIFT_DIR} && {{ [ -f {builder} ] || swift-ring-builder {builder} create 10 1 1; }} && "
        f"{{ swift-ring-builder {builder} search --device {lib.SWIFT_DEVICE} >/dev/null 2>&1 || "
        f"swift-ring-builder {builder} add --region 1 --zone 1 --ip 127.0.0.1 --port {lib.SWIFT_SERVERS[kind]} "
        f"--device {lib.SWIFT_DEVICE} --weight 100; }} && "
        f"{{ swift-ring-builder {builder} rebalance; [ $? -le 1 ]; }} && [ -s {SWIFT_DIR}/{kind}.ring.gz ]"
    )


@deploy("Backing firewall")
def firewall(plan):
    if not plan.firewall["running"]:
        logger.warning(
            f"[{host.name}] firewalld is not running: PostgreSQL, Redis and Swift are not limited to "
            f"{', '.join(plan.backing.allowed_sources)} by a firewall here"
        )
        return
    zone = plan.config["harbor_firewall_zone"]
    # Earlier releases opened the ports to the whole zone through this service.
    firewalld.service_removed(
        name=f"Close firewalld service {BACKING_FIREWALLD_SERVICE} (the ports open to every source)",
        service=BACKING_FIREWALLD_SERVICE,
        firewall=plan.firewall,
        lock_holder=plan.lock_holder,
    )
    return firewalld.source_ports(
        name=f"Open {', '.join(plan.backing.ports)} in zone {zone} to {', '.join(plan.backing.allowed_sources)} only",
        ports=plan.backing.ports,
        sources=plan.backing.allowed_sources,
        zone=zone,
        firewall=plan.firewall,
        lock_holder=plan.lock_holder,
    )


def health_commands(backing):
    """Shell checks, each waiting for its service: PostgreSQL answers and the role's
    database exists, Redis answers and demands a password, Swift's proxy is healthy
    and its tempauth user sees the registry's containers."""
    return [
        _wait(f"pg_isready -q -h 127.0.0.1 -p {backing.db_port}", f"PostgreSQL on port {backing.db_port}"),
        _wait(
            f"redis-cli -h 127.0.0.1 -p {backing.redis_port} ping 2>&1 | grep -q NOAUTH",
            f"Redis on port {backing.redis_port} (asking for a password)",
        ),
        _wait(
            f"curl -fsS -m 5 -o /dev/null http://127.0.0.1:{backing.swift_port}/healthcheck",
            f"Swift on port {backing.swift_port}",
        ),
        _containers_command("verify", backing, backing.containers),
    ]


@deploy("Verify backing services")
def verify(plan, changes):
    """Check every service when any of ``changes`` (this run's operations) changed, or
    one was not healthy when the run started: the run fails naming what did not come up."""
    healthy = all(plan.state["health"].get(name) for name in ("postgresql", "redis", "swift")) and all(
        plan.state["containers"].get(name) == "present" for name in plan.backing.containers
    )
    server.shell(
        name="PostgreSQL, Redis and Swift answer (health check)",
        commands=health_commands(plan.backing),
        _if=lambda: not healthy or any(op.did_change() for op in changes),
    )
