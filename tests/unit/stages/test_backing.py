"""The harbor_backing deploy: the keys the Harbor nodes use are served as they are or
refused before any change, naming the key; the rendered files; and no secret in any
operation's name or command line."""

import base64
import configparser
import copy
from io import BytesIO, StringIO
from types import SimpleNamespace
from unittest import mock

import pytest
from cryptography import x509
from pyinfra.api import Config, DeployError, Inventory, State
from pyinfra.api.deploy import add_deploy
from pyinfra.api.host import Host
from pyinfra.context import ctx_host, ctx_state

from harbor_deploy.deploys import harbor_backing
from harbor_deploy.facts.backing import BackingState
from harbor_deploy.facts.files import FileStates
from harbor_deploy.facts.firewalld import FirewalldState
from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.config.secrets import HarborSecrets, Secret
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.render import backing as lib
from harbor_deploy.stages import backing as stage

DB_PASSWORD, REDIS_PASSWORD, STORE_KEY = "Pg-Secret'1x", "Redis-Secret2y", "S3-Secret3z"
S3 = {
    "regionendpoint": "http://10.0.0.5:8080",
    "region": "us-east-1",
    "bucket": "harbor-registry",
    "accesskey": "harbor:registry",
    "secretkey": {"secret": "store_key"},
    "secure": False,
    "v4auth": True,
}
SWIFT = {
    "authurl": "http://10.0.0.5:8080/auth/v1.0",
    "username": "harbor:registry",
    "password": {"secret": "store_key"},
    "container": "harbor-registry",
}
DATA = {
    "harbor_hostname": "harbor.example.org",
    "harbor_external_database": {
        "host": "10.0.0.5",
        "port": 5432,
        "db_name": "registry",
        "username": "harbor",
        "ssl_mode": "verify-full",
    },
    "harbor_external_redis": {"host": "10.0.0.5:6379", "password": REDIS_PASSWORD},
    "harbor_storage_service": {"s3": S3, "redirect": {"disable": True}},
    "harbor_backing_allowed_sources": ["10.0.0.11/32", "10.0.0.12"],
}
SECRETS = HarborSecrets(
    admin_password=Secret("Admin-Pw1", "test"),
    db_password=Secret("Db-Pw1", "test"),
    external_db_password=Secret(DB_PASSWORD, "env HARBOR_EXTERNAL_DB_PASSWORD"),
    referenced={"store_key": Secret(STORE_KEY, "env HARBOR_SECRET_STORE_KEY")},
)


def settings(**changes):
    return lib.settings(merged({**copy.deepcopy(DATA), **changes}), SECRETS)


def problems(**changes):
    with pytest.raises(ConfigError) as raised:
        settings(**changes)
    return raised.value.problems


def test_the_nodes_keys_are_what_the_backing_host_serves():
    served = settings()
    assert (served.address, served.db_port, served.db_name, served.db_username) == (
        "10.0.0.5",
        5432,
        "registry",
        "harbor",
    )
    assert served.db_password.reveal() == DB_PASSWORD  # from the secret external_db_password
    assert (served.redis_port, served.redis_password.reveal()) == (6379, REDIS_PASSWORD)
    assert (served.swift_port, served.swift_account, served.swift_user) == (8080, "harbor", "registry")
    assert served.swift_password.reveal() == STORE_KEY  # {secret: store_key} resolved
    assert (served.region, served.containers, served.driver) == ("us-east-1", ("harbor-registry",), "s3")
    assert served.allowed_sources == ("10.0.0.11/32", "10.0.0.12/32")
    assert served.ports == ["5432/tcp", "6379/tcp", "8080/tcp"]
    swift = settings(harbor_storage_service={"swift": SWIFT})
    assert (swift.driver, swift.swift_account, swift.swift_user, swift.containers) == (
        "swift",
        "harbor",
        "registry",
        ("harbor-registry",),
    )


def test_missing_keys_are_each_named():
    found = dict(problems(harbor_external_database=None, harbor_external_redis=None, harbor_storage_service=None))
    assert set(found) == {"harbor_external_database", "harbor_external_redis", "harbor_storage_service"}
    assert all("required on a harbor_backing host" in why for why in found.values())


@pytest.mark.parametrize(
    "changes, key, words",
    [
        (
            {"harbor_external_redis": {"host": "10.0.0.6:6379", "password": "x"}},
            "harbor_storage_service",
            "one backing host",
        ),
        (
            {"harbor_external_redis": {"host": "10.0.0.5:5432", "password": "x"}},
            "harbor_external_database",
            "three ports",
        ),
        ({"harbor_external_redis": {"host": "10.0.0.5:6379"}}, "harbor_external_redis", "password is required"),
        (
            {"harbor_external_redis": {"host": "10.0.0.5:6379,10.0.0.6:6379", "password": "x"}},
            "harbor_external_redis",
            "Sentinel",
        ),
        (
            {"harbor_storage_service": {"s3": {**S3, "secure": True}}},
            "harbor_storage_service",
            "s3.secure must be false",
        ),
        (
            {"harbor_storage_service": {"s3": {**S3, "accesskey": "registry"}}},
            "harbor_storage_service",
            "<account>:<user>",
        ),
        (
            {"harbor_storage_service": {"s3": {**S3, "regionendpoint": "https://10.0.0.5:8080"}}},
            "harbor_storage_service",
            "plain HTTP",
        ),
        (
            {"harbor_storage_service": {"s3": {**S3, "regionendpoint": "http://10.0.0.5:11211"}}},
            "harbor_storage_service",
            "memcached",
        ),
        (
            {"harbor_storage_service": {"swift": {**SWIFT, "authurl": "http://10.0.0.5:8080/v3"}}},
            "harbor_storage_service",
            "/auth/v1.0",
        ),
        ({"harbor_storage_service": {"filesystem": {"rootdirectory": "/x"}}}, "harbor_storage_service", "s3 or swift"),
        ({"harbor_storage_service": {"s3": {**S3, "secretkey": "has blank"}}}, "harbor_storage_service", "no blank"),
        ({"harbor_backing_allowed_sources": ["10.0.0.0/33"]}, "harbor_backing_allowed_sources", "not a CIDR"),
        ({"harbor_backing_allowed_sources": ["0.0.0.0/0"]}, "harbor_backing_allowed_sources", "every address"),
        ({"harbor_backing_allowed_sources": None}, "harbor_backing_allowed_sources", "is required on a harbor_backing"),
    ],
)
def test_inconsistent_keys_are_refused_naming_the_key(changes, key, words):
    found = problems(**changes)
    assert any(name == key and words in why for name, why in found), found
    assert not any(secret in str(found) for secret in (DB_PASSWORD, REDIS_PASSWORD, STORE_KEY, "has blank"))


def test_loopback_and_unverifiable_tls_are_refused():
    database = {**DATA["harbor_external_database"], "host": "127.0.0.1", "ssl_mode": "require"}
    found = problems(
        harbor_external_database=database,
        harbor_external_redis={"host": "127.0.0.1:6379", "password": "x"},
        harbor_storage_service={"s3": {**S3, "regionendpoint": "http://127.0.0.1:8080"}},
    )
    whys = [why for key, why in found if key == "harbor_external_database"]
    assert any("over the network" in why for why in whys)
    assert any("ssl_mode require: the backing host's PostgreSQL takes TLS connections only" in why for why in whys)


def test_plan_stops_before_reading_the_host_naming_the_key():
    this = SimpleNamespace(name="bare-1", groups=("harbor_backing",))
    data = {**DATA, "harbor_external_redis": None, "harbor_secrets_dir": "/nonexistent"}
    with (
        mock.patch.object(stage, "host", this),
        mock.patch("harbor_deploy.planning.context.current_host", this),
        mock.patch.object(stage, "host_data", lambda overrides=None: data),
        mock.patch.object(stage, "quiet_fact", side_effect=AssertionError("read the host")),
        mock.patch.dict(
            "os.environ", {"HARBOR_EXTERNAL_DB_PASSWORD": DB_PASSWORD, "HARBOR_SECRET_STORE_KEY": STORE_KEY}
        ),
        pytest.raises(DeployError, match="(?s)bare-1: .*harbor_external_redis: is required on a harbor_backing host"),
    ):
        stage.plan()


def test_rendered_files():
    served = settings(harbor_backing_allowed_sources=["10.1.0.0/16", "10.2.0.0/16"])
    sql = lib.render_sql(served)
    assert "ALTER ROLE \"harbor\" WITH LOGIN PASSWORD 'Pg-Secret''1x';" in sql  # quote doubled
    assert "\\gexec" in sql and "scram-sha-256" in sql
    hba = lib.render_pg_hba(served)
    assert 'hostssl "registry"  "harbor"  10.1.0.0/16  scram-sha-256' in hba
    assert 'hostssl "registry"  "harbor"  10.2.0.0/16  scram-sha-256' in hba
    assert not [line for line in hba.splitlines() if line.startswith("host ") and "10." in line]
    conf = lib.render_postgresql_conf(served)
    assert "port = 5432" in conf and "ssl = on" in conf
    assert f"ssl_cert_file = '{lib.DATABASE_CERTIFICATE}'" in conf
    assert f"ssl_key_file = '{lib.DATABASE_PRIVATE_KEY}'" in conf
    redis = lib.render_redis_conf(served)
    assert f'requirepass "{REDIS_PASSWORD}"' in redis and "port 6379" in redis and "protected-mode yes" in redis
    assert REDIS_PASSWORD not in lib.masked_redis_conf(redis)
    proxy = lib.render_proxy_server_conf(served)
    pipeline = next(line for line in proxy.splitlines() if line.startswith("pipeline = ")).split()
    assert pipeline.index("s3api") < pipeline.index("tempauth") < pipeline.index("slo")
    assert f"user_harbor_registry = {STORE_KEY} .admin" in proxy
    assert "bind_port = 8080" in proxy and "location = us-east-1" in proxy
    assert STORE_KEY not in lib.masked_proxy_server_conf(proxy)
    swift = lib.render_swift_conf("p" * 32, "s" * 32)
    assert "swift_hash_path_suffix = " + "s" * 32 in swift and "s" * 32 not in lib.masked_swift_conf(swift)
    for kind, port in lib.SWIFT_SERVERS.items():
        conf = lib.render_swift_server_conf(kind)
        assert f"bind_port = {port}" in conf and "bind_ip = 127.0.0.1" in conf and f"egg:swift#{kind}" in conf
        # One node, one replica: the background passes rest (Swift's 30 s keeps a core busy).
        sections = configparser.ConfigParser(interpolation=None)
        sections.read_string(conf)
        assert sections[f"{kind}-replicator"]["interval"] == "1800"
        assert sections[f"{kind}-auditor"]["interval"] == "3600"


class _Shown(str):
    """A command as pyinfra may print it (text, repr, and its connector arguments but
    ``_stdin``, which is never printed), keeping the command."""

    def __new__(cls, command):
        arguments = {k: v for k, v in getattr(command, "connector_arguments", {}).items() if k != "_stdin"}
        shown = super().__new__(cls, str(command) + repr(command) + str(arguments))
        shown.connector_arguments = getattr(command, "connector_arguments", {})
        return shown


def _operations(state_changes=None, files=None, firewall=None):
    """Every operation of the deploy on a fresh host (or one with ``files``, firewalld
    as ``firewall`` says): (name, [command text]), and the uploaded files' contents."""
    inventory = Inventory(
        ([("bare-1", {**DATA, "harbor_secrets_dir": "/nonexistent"})], {}), harbor_backing=(["bare-1"], {})
    )
    state = State(inventory, Config())

    def fact(self, cls, *args, **kwargs):
        if cls is BackingState:
            return {
                **cls.default(),
                "codename": "trixie",
                "os": ["debian"],
                "xattr": "ok /srv",
                **(state_changes or {}),
            }
        if cls is FirewalldState:
            return firewall or {"installed": True, "running": False}
        if cls is FileStates:
            return files or {}
        return cls.default() if hasattr(cls, "default") else None

    found, uploads = [], []
    env = {"HARBOR_EXTERNAL_DB_PASSWORD": DB_PASSWORD, "HARBOR_SECRET_STORE_KEY": STORE_KEY}
    with mock.patch.object(Host, "get_fact", fact), mock.patch.dict("os.environ", env):
        host = inventory.get_host("bare-1")
        state.activate_host(host)
        add_deploy(state, harbor_backing)
        with ctx_state.use(state), ctx_host.use(host):
            for op_hash in state.get_op_order():
                commands = []
                for command in state.get_op_data_for_host(host, op_hash).command_generator():
                    src = getattr(command, "src", None)
                    if isinstance(src, BytesIO | StringIO):
                        value = src.getvalue()
                        uploads.append(value.decode() if isinstance(value, bytes) else value)
                    elif " base64 -d > " in str(command):  # secret_file.put: the file on the command's stdin
                        uploads.append(base64.b64decode(command.connector_arguments["_stdin"]).decode())
                    commands.append(_Shown(command))
                found.append((next(iter(state.op_meta[op_hash].names)).rsplit(" | ", 1)[-1], commands))
    return found, uploads


def test_no_secret_in_any_operation_name_or_command():
    operations, uploads = _operations()
    names = [name for name, _ in operations]
    assert len(names) == 26  # firewalld not running: no firewall op
    for secret in (DB_PASSWORD, REDIS_PASSWORD, STORE_KEY):
        assert not [name for name in names if secret in name]
        assert not [text for _, commands in operations for text in commands if secret in str(text)]
    for secret in (REDIS_PASSWORD, STORE_KEY):
        assert any(secret in upload for upload in uploads)  # only in the files the services read
    # The database password is in no file: only on psql's stdin.
    assert not [upload for upload in uploads if DB_PASSWORD.replace("'", "''") in upload]
    role = next(commands for name, commands in operations if name.startswith("Role harbor"))
    assert DB_PASSWORD.replace("'", "''") in role[0].connector_arguments["_stdin"]


def test_a_swift_change_restarts_its_replicators_and_auditors_too():
    """They read the server files as they start: one left running keeps its old pace."""
    operations, _ = _operations()
    [restart] = [commands for name, commands in operations if name == "Enable and (re)start Swift"]
    restarted = str(restart[0]).split("systemctl restart ", 1)[1].split()
    for kind in ("account", "container", "object"):
        assert {f"swift-{kind}", f"swift-{kind}-replicator", f"swift-{kind}-auditor"} <= set(restarted)
    assert "swift-account-reaper" in restarted and "swift-proxy" in restarted


def test_a_host_already_serving_gets_no_start_and_no_bucket():
    ready = {"enabled": "enabled", "active": "active"}
    units = {unit: ready for unit in (*stage.SERVICE_UNITS, "postgresql@17-main")}
    units.update(dict.fromkeys(stage.SWIFT_UNUSED_UNITS, {"enabled": "disabled", "active": "inactive"}))
    operations, _ = _operations(
        {
            "packages": list(stage.PACKAGES),
            "pg_clusters": ["17"],
            "pg_role": True,
            "pg_database": True,
            "units": units,
            "rings": ["account", "container", "object"],
            "swift_hash": {"prefix": "a" * 32, "suffix": "b" * 32},
            "containers": {"harbor-registry": "present"},
            "health": {"postgresql": True, "redis": True, "swift": True},
        }
    )
    names = [name for name, _ in operations]
    assert not [name for name in names if "ring(s)" in name or "Create the registry" in name]
    assert not [name for name in names if "does not use" in name]


def test_the_swift_daemons_this_setup_does_not_use_are_stopped_once():
    """Sharder, container sync and reconstructor have no section in the files written:
    left enabled, each exits at start and systemd restarts it every few seconds."""
    unused = stage.SWIFT_UNUSED_UNITS
    # A fresh host: the packages this run installs bring them.
    assert stage.unused_swift_units({"packages": [], "units": {}}) == list(unused)
    installed = list(stage.PACKAGES)
    looping = {"enabled": "enabled", "active": "activating"}
    at_rest = {"enabled": "disabled", "active": "inactive"}
    unknown = {"enabled": "", "active": "inactive"}  # a release without that daemon
    states = {unused[0]: looping, unused[1]: at_rest, unused[2]: unknown}
    assert stage.unused_swift_units({"packages": installed, "units": states}) == [unused[0]]
    failed = {"enabled": "disabled", "active": "failed"}
    assert stage.unused_swift_units({"packages": installed, "units": {unused[2]: failed}}) == [unused[2]]
    operations, _ = _operations()
    [stop] = [commands for name, commands in operations if "does not use" in name]
    assert all("systemctl disable --now $u" in str(stop[0]) and unit in str(stop[0]) for unit in unused)


def test_every_change_takes_the_hosts_deploy_lock_first():
    """On a fresh host every operation changing it starts with the lock's shell, for the
    backing deploy's holder."""
    operations, _ = _operations()
    # Neither the health check (it only reads) nor what the controller keeps (not the host's).
    changing = [
        (name, commands)
        for name, commands in operations
        if commands and "health check" not in name and "controller secrets dir" not in name
    ]
    assert len(changing) == len([name for name, commands in operations if commands]) - 2
    for name, commands in changing:
        assert commands[0].startswith("( if systemctl is-active --quiet harbor-deploy-upgrade.service"), name
        assert "(harbor_backing, started " in commands[0], name


def test_a_rhel_family_host_is_refused_with_the_reason_before_any_change():
    """AlmaLinux's os-release (ID almalinux, ID_LIKE "rhel centos fedora"), as the fact
    reads it: no Swift packaged there, so nothing is planned."""
    state = BackingState().process(
        ["codename ", "os almalinux rhel centos fedora", "unit postgresql e= a=", "xattr ok /srv"]
    )
    assert state["os"] == ["almalinux", "rhel", "centos", "fedora"] and state["codename"] is None
    with pytest.raises(DeployError) as refused:
        _operations({"os": state["os"], "codename": None})
    why = str(refused.value)
    assert why.startswith("bare-1: a backing host is Debian or Ubuntu (or a derivative), this one is almalinux")
    assert "packages no Swift" in why and "nothing was changed" in why


def test_ubuntu_and_debian_derivatives_are_backing_hosts():
    state = BackingState().process(["codename noble", "os ubuntu debian", "xattr ok /srv"])
    assert state["os"] == ["ubuntu", "debian"]
    operations, _ = _operations({"os": state["os"], "codename": "noble"})
    assert operations[0][0].endswith("(Debian packages)")


def _scram(password, salt=b"0123456789abcdef", iterations=4096):
    """A SCRAM-SHA-256 verifier as PostgreSQL stores it (RFC 5803)."""
    import base64
    import hashlib
    import hmac

    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    encode = lambda value: base64.b64encode(value).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{encode(salt)}${encode(stored_key)}:{encode(server_key)}"


def test_the_roles_password_is_checked_against_postgresqls_verifier():
    password = Secret(DB_PASSWORD, "test")
    assert lib.password_matches(_scram(DB_PASSWORD), password)
    assert not lib.password_matches(_scram("another"), password)
    assert not lib.password_matches("md5abcdef", password) and not lib.password_matches(None, password)


def test_a_role_with_the_password_already_is_left_alone_and_the_old_sql_file_removed():
    served = {"pg_role": True, "pg_database": True, "pg_verifier": _scram(DB_PASSWORD)}
    names = [name for name, _ in _operations(served)[0]]
    assert not [name for name in names if name.startswith("Role harbor")]
    changed = [name for name, _ in _operations({**served, "pg_verifier": _scram("old")})[0]]
    assert [name for name in changed if name.startswith("Role harbor")]
    names = [name for name, _ in _operations(served, files={stage.OLD_SQL_FILE: {"type": "file"}})[0]]
    assert any(name.startswith(f"Remove {stage.OLD_SQL_FILE}") for name in names)


def test_files_of_the_packages_are_kept_once_before_the_first_replacement():
    """Decided on the host: on a fresh one the package installing pg_hba.conf runs after
    the run read it."""
    fresh = {name.split(":")[0]: " ".join(texts) for name, texts in _operations()[0]}
    assert (
        "[ -e /etc/memcached.conf.harbor-deploy-orig ] || [ ! -e /etc/memcached.conf ]"
        in fresh["memcached on 127.0.0.1"]
    )
    present = {"type": "file", "mode": "640", "user": "postgres", "group": "postgres", "sha256": "0" * 64}
    files = {f"/etc/postgresql/17/main/{name}": present for name in ("pg_hba.conf", "conf.d/harbor-backing.conf")}
    files[stage.REDIS_CONF] = present
    operations, _ = _operations(files=files)
    commands = {name.split(":")[0]: " ".join(texts) for name, texts in operations}
    hba = commands["pg_hba.conf"]
    hba_file = "/etc/postgresql/17/main/pg_hba.conf"
    assert f"[ -e {hba_file}.harbor-deploy-orig ] || [ ! -e {hba_file} ] || cp -p {hba_file}" in hba
    # Ours, holding a password: no copy of it.
    assert "harbor-deploy-orig" not in commands["redis.conf"]
    assert "harbor-deploy-orig" not in commands["PostgreSQL listens on port 5432 of every address, over TLS"]


def test_the_ports_open_to_the_allowed_sources_only_and_the_open_service_closes():
    zone = {"permanent": [], "runtime": [], "services": ["harbor-backing", "ssh"], "runtime_services": ["ssh"]}
    rule = 'rule family="ipv4" source address="0.0.0.0/0" port port="5432" protocol="tcp" accept'
    firewall = {
        "installed": True,
        "running": True,
        "default_zone": "public",
        "zones": {"public": {**zone, "rich_rules": [rule], "runtime_rich_rules": []}},
        "local_services": {"harbor-backing": ["5432/tcp", "6379/tcp", "8080/tcp"]},
    }
    operations, _ = _operations(firewall=firewall)
    commands = {name: " ".join(texts) for name, texts in operations}
    closed = commands["Close firewalld service harbor-backing (the ports open to every source)"]
    assert "--remove-service=harbor-backing" in closed and "--delete-service=harbor-backing" in closed
    opened = commands["Open 5432/tcp, 6379/tcp, 8080/tcp in zone public to 10.0.0.11/32, 10.0.0.12/32 only"]
    for port in (5432, 6379, 8080):
        for source in ("10.0.0.11/32", "10.0.0.12/32"):
            wanted = f'rule family="ipv4" source address="{source}" port port="{port}" protocol="tcp" accept'
            assert opened.count(wanted) == 4  # permanent and runtime, each as text and repr
    assert "--permanent --zone=public '--remove-rich-rule=" + rule + "'" in opened


def test_postgresql_serves_a_certificate_of_the_controllers_ca_for_the_nodes_name(tmp_path):
    """Made once in the secrets dir, then reused byte for byte: nothing to keep, nothing to upload."""
    config = {**merged(DATA), "harbor_secrets_dir": str(tmp_path)}
    material, keep, found = stage.database_tls(config, settings())
    assert found == {} and set(keep) == {"ca.crt", "ca.key", "server.crt", "server.key"}
    certificate = x509.load_pem_x509_certificate(material.certificate)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(address) for address in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    folder = stage.tls_folder(config)
    folder.mkdir(parents=True)
    for name, pem in keep.items():
        (folder / name).write_bytes(pem)
    again, keep_again, _ = stage.database_tls(config, settings())
    assert keep_again == {} and again == material
    operations, _ = _operations()
    key = next(commands for name, commands in operations if name.startswith("PostgreSQL's private key"))
    assert "chown postgres:postgres" in " ".join(key) and "chmod 0600" in " ".join(key)
