"""What a ``harbor_backing`` host serves, read from the keys the Harbor nodes use.

A backing host gives several Harbor nodes their external PostgreSQL, Redis and object
storage (OpenStack Swift with its S3 API) from the distribution's packages. It serves
exactly what ``harbor_external_database``, ``harbor_external_redis`` and
``harbor_storage_service`` say, so the nodes and the backing host can't drift apart:
``settings`` reads them (secrets resolved as for harbor.yml) and lists every reason
they can't be served as ``(key, why)``; the ``render_*`` functions give the files.
"""

import base64
import hashlib
import hmac
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2

from harbor_deploy.lib import TEMPLATES
from harbor_deploy.lib.config.defaults import BACKING_GROUP
from harbor_deploy.lib.config.secrets import MASK, Secret, resolved
from harbor_deploy.lib.config.validate import ConfigError

DATABASE_KEY, REDIS_KEY, STORAGE_KEY = "harbor_external_database", "harbor_external_redis", "harbor_storage_service"
SOURCES_KEY = "harbor_backing_allowed_sources"

# Swift's own servers listen on loopback only, on these ports (and memcached, which
# tempauth keeps its tokens in): the keys may not name them.
SWIFT_INTERNAL_PORTS = {6200: "swift-object", 6201: "swift-container", 6202: "swift-account", 11211: "memcached"}
SWIFT_DEVICE = "d1"
SWIFT_DEVICES = "/srv/node"
TEMPAUTH_PATH = "/auth/v1.0"
# tempauth's config names a user ``user_<account>_<user>``: no "_" in the account.
ACCOUNT_RE = re.compile(r"^(?P<account>[A-Za-z0-9-]{1,64}):(?P<user>[A-Za-z0-9_.-]{1,64})$")
# A bucket (S3 rules, lower case) or container name.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CONTAINER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
# PostgreSQL takes the nodes' connections over TLS only, with a certificate of a CA of
# its own for the name the nodes connect to: they verify both.
DATABASE_SSL_MODE = "verify-full"
# In the Harbor's controller secrets dir: that CA (key included) and the certificate
# and key PostgreSQL serves (``tls.plan_generated``'s files, made once, renewed there).
TLS_FOLDER = "backing-tls"
# On the backing host: what PostgreSQL serves (the key 0600, PostgreSQL's).
DATABASE_CERTIFICATE = "/etc/harbor-backing/postgresql.crt"
DATABASE_PRIVATE_KEY = "/etc/harbor-backing/postgresql.key"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)


@dataclass(frozen=True)
class Backing:
    """What one backing host serves; passwords are ``Secret``s."""

    address: str
    allowed_sources: tuple
    db_port: int
    db_name: str
    db_username: str
    db_password: Secret
    redis_port: int
    redis_password: Secret
    swift_port: int
    swift_account: str
    swift_user: str
    swift_password: Secret
    # The S3 region, Swift's s3api location (signatures name it).
    region: str
    # Buckets/containers the registry uses, created here (distribution's s3 driver never creates one).
    containers: tuple
    driver: str

    @property
    def ports(self):
        return [f"{self.db_port}/tcp", f"{self.redis_port}/tcp", f"{self.swift_port}/tcp"]


def _host_and_port(text, default_port=None):
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit():
        return str(text), default_port
    return host, int(port)


def service_ports(config):
    """{service: port} a backing host serves for ``config`` (read without its secrets)."""
    storage = config.get(STORAGE_KEY) or {}
    endpoint = (storage.get("s3") or {}).get("regionendpoint") or (storage.get("swift") or {}).get("authurl") or ""
    return {
        "postgresql": (config.get(DATABASE_KEY) or {}).get("port", 5432),
        "redis": _host_and_port((config.get(REDIS_KEY) or {}).get("host", ""), 6379)[1],
        "swift": urlsplit(str(endpoint)).port or 8080,
    }


def _is_false(value):
    return value is False or str(value).lower() == "false"


def _endpoint(url, key, field, path=None):
    """``(host, port)`` of the plain-HTTP endpoint ``url``, or a problem."""
    parts = urlsplit(str(url or ""))
    try:
        port = parts.port or 80
    except ValueError:
        return None, f"{field} has no valid port"
    if parts.scheme != "http" or not parts.hostname:
        return None, f"{field} must be http://<backing host>:<port> (the backing host serves plain HTTP)"
    if path is not None and parts.path.rstrip("/") != path:
        return None, f"{field} must end in {path} (Swift's tempauth)"
    if path is None and parts.path not in ("", "/"):
        return None, f"{field} must have no path"
    return (parts.hostname, port), None


def _password_problem(value, what):
    if not isinstance(value, str) or not value:
        return f"{what} is required"
    if re.search(r"\s", value) or "%" in value:
        return f"{what} must hold no blank or '%' (Swift's tempauth reads it from a paste.deploy config line)"
    return None


def _storage(storage, problems):
    """``(drivers, {field: (host, port)}, account, user, password, region, containers)``
    of the storage_service's s3 and/or swift driver, or None without either."""
    endpoints, credentials, containers = {}, set(), []
    region, drivers = "us-east-1", []
    s3, swift = storage.get("s3"), storage.get("swift")
    if not isinstance(s3, dict) and not isinstance(swift, dict):
        problems.append((STORAGE_KEY, "must use the s3 or swift driver: the backing host serves Swift and its S3 API"))
        return None
    if isinstance(s3, dict):
        drivers.append("s3")
        endpoint, why = _endpoint(s3.get("regionendpoint"), STORAGE_KEY, "s3.regionendpoint")
        if why:
            problems.append((STORAGE_KEY, why))
        else:
            endpoints["s3.regionendpoint"] = endpoint
        if not _is_false(s3.get("secure", True)):
            problems.append((STORAGE_KEY, "s3.secure must be false: the backing host serves plain HTTP"))
        region = str(s3.get("region") or "")
        if not re.match(r"^[a-z0-9-]{1,64}$", region):
            problems.append((STORAGE_KEY, "s3.region is required (e.g. us-east-1): Swift's s3api serves it"))
        bucket = str(s3.get("bucket") or "")
        if not BUCKET_RE.match(bucket):
            problems.append((STORAGE_KEY, "s3.bucket must be an S3 bucket name (3-63 of a-z, 0-9, . and -)"))
        else:
            containers.append(bucket)
        credentials.add(("s3.accesskey", s3.get("accesskey"), "s3.secretkey", s3.get("secretkey")))
    if isinstance(swift, dict):
        drivers.append("swift")
        endpoint, why = _endpoint(swift.get("authurl"), STORAGE_KEY, "swift.authurl", TEMPAUTH_PATH)
        if why:
            problems.append((STORAGE_KEY, why))
        else:
            endpoints["swift.authurl"] = endpoint
        container = str(swift.get("container") or "")
        if not CONTAINER_RE.match(container):
            problems.append((STORAGE_KEY, "swift.container must be a container name (letters, digits, . _ -)"))
        else:
            containers.append(container)
        for field in ("tenant", "tenantid", "domain", "domainid", "trustid"):
            if swift.get(field):
                problems.append((STORAGE_KEY, f"swift.{field} is Keystone's: the backing host's Swift uses tempauth"))
        credentials.add(("swift.username", swift.get("username"), "swift.password", swift.get("password")))
    accounts = {(user, password) for _, user, _, password in credentials}
    if len(accounts) > 1:
        problems.append((STORAGE_KEY, "s3.accesskey/secretkey and swift.username/password must be the same account"))
    account = user = password = None
    for user_field, login, password_field, secret in sorted(credentials, key=lambda c: c[0]):
        match = ACCOUNT_RE.match(str(login or ""))
        if not match:
            problems.append((STORAGE_KEY, f"{user_field} must be <account>:<user> (Swift tempauth)"))
        else:
            account, user = match.group("account"), match.group("user")
        why = _password_problem(secret, password_field)
        if why:
            problems.append((STORAGE_KEY, why))
        else:
            password = secret
    if len(set(endpoints.values())) > 1:
        problems.append((STORAGE_KEY, "s3.regionendpoint and swift.authurl must name the same host and port"))
    return drivers, endpoints, account, user, password, region, tuple(dict.fromkeys(containers))


def settings(config, secrets):
    """The ``Backing`` a host serves for ``config`` (merged, validated data) and
    ``secrets`` (``HarborSecrets``); raises ``ConfigError`` listing every reason the keys
    can't be served as they are."""
    problems = []
    database, redis, storage = config.get(DATABASE_KEY), config.get(REDIS_KEY), config.get(STORAGE_KEY)
    for key, value, what in (
        (DATABASE_KEY, database, "{host, port, db_name, username, password}"),
        (REDIS_KEY, redis, "{host: <host>:<port>, password}"),
        (STORAGE_KEY, storage, "{s3: {...}} or {swift: {...}} pointing at the backing host"),
    ):
        if not value:
            problems.append((key, f"is required on a {BACKING_GROUP} host, which serves it: {what}"))
    hosts = {}
    db_password = redis_password = None
    if database:
        hosts[f"{DATABASE_KEY}.host"] = (str(database["host"]), database["port"])
        value = database.get("password")
        db_password = Secret(value, f"{DATABASE_KEY}.password") if value else secrets.external_db_password
        if db_password is None or not db_password.reveal():
            problems.append((DATABASE_KEY, "password is required (in the dict, or the secret external_db_password)"))
        mode = database.get("ssl_mode", "disable")
        if mode != DATABASE_SSL_MODE:
            problems.append(
                (
                    DATABASE_KEY,
                    f"ssl_mode {mode}: the backing host's PostgreSQL takes TLS connections only, its certificate "
                    f"issued for {database['host']} by a CA of its own that the nodes trust: set ssl_mode "
                    f"{DATABASE_SSL_MODE}, so the nodes verify the certificate and the name",
                )
            )
    if redis:
        if "," in redis["host"] or redis.get("sentinel_master_set"):
            problems.append((REDIS_KEY, "host must be one <host>:<port>: the backing host serves no Sentinel"))
        hosts[f"{REDIS_KEY}.host"] = _host_and_port(redis["host"])
        if redis.get("username"):
            problems.append((REDIS_KEY, "username: the backing host's Redis has the default user only"))
        if (redis.get("tlsOptions") or {}).get("enable"):
            problems.append((REDIS_KEY, "tlsOptions.enable: the backing host's Redis serves no TLS"))
        value = redis.get("password")
        redis_password = Secret(value, f"{REDIS_KEY}.password") if value else secrets.external_redis_password
        if redis_password is None or not redis_password.reveal():
            problems.append((REDIS_KEY, "password is required (in the dict, or the secret external_redis_password)"))
        elif re.search(r"[\s\"\\]", redis_password.reveal()):
            problems.append((REDIS_KEY, "password must hold no blank, quote or backslash (redis.conf's requirepass)"))
    store = None
    if storage:
        store = _storage(resolved(storage, secrets.referenced), problems)
        if store:
            for field, endpoint in store[1].items():
                hosts[f"{STORAGE_KEY}.{field}"] = endpoint
    names = {where: host.lower() for where, (host, _) in hosts.items()}
    for where, name in names.items():
        if name in LOOPBACK_NAMES or name.startswith("127.") or name == "::1":
            problems.append(
                (where.split(".")[0], f"{where} is {name}: the Harbor nodes reach the backing host over the network")
            )
    if len(set(names.values())) > 1:
        listed = ", ".join(f"{where} = {name}" for where, name in names.items())
        problems.append((STORAGE_KEY if store else REDIS_KEY, f"name one backing host in every key: {listed}"))
    ports = {where: port for where, (_, port) in hosts.items()}
    for where, port in ports.items():
        if port in SWIFT_INTERNAL_PORTS:
            problems.append(
                (where.split(".")[0], f"{where} port {port} is {SWIFT_INTERNAL_PORTS[port]}'s on the backing host")
            )
    if len(set(ports.values())) < len(ports):
        listed = ", ".join(f"{where}: {port}" for where, port in ports.items())
        problems.append((DATABASE_KEY, f"the three services need three ports: {listed}"))
    sources = config.get(SOURCES_KEY) or []
    for source in sources:
        try:
            network = ipaddress.ip_network(source, strict=False)
        except ValueError:
            problems.append((SOURCES_KEY, f"{source!r} is not a CIDR (e.g. 10.0.0.0/24)"))
            continue
        if network.prefixlen == 0:
            problems.append((SOURCES_KEY, f"{source} is every address: list the networks the Harbor nodes are in"))
    if not sources:
        problems.append(
            (
                SOURCES_KEY,
                f"is required on a {BACKING_GROUP} host: the CIDRs the Harbor nodes connect from (e.g. "
                "[10.0.0.11/32, 10.0.0.12/32]), the only sources PostgreSQL, Redis and Swift answer "
                "(firewalld, pg_hba.conf); it no longer defaults to 0.0.0.0/0",
            )
        )
    if problems:
        raise ConfigError(dict.fromkeys(problems))
    drivers, endpoints, account, user, password, region, containers = store
    return Backing(
        address=next(iter(names.values())),
        allowed_sources=tuple(str(ipaddress.ip_network(s, strict=False)) for s in sources),
        db_port=database["port"],
        db_name=database["db_name"],
        db_username=database["username"],
        db_password=db_password,
        redis_port=hosts[f"{REDIS_KEY}.host"][1],
        redis_password=redis_password,
        swift_port=next(iter(endpoints.values()))[1],
        swift_account=account,
        swift_user=user,
        swift_password=Secret(password, f"{STORAGE_KEY} credentials"),
        region=region,
        containers=containers,
        driver="+".join(drivers),
    )


def _ident(name):
    return '"' + name.replace('"', '""') + '"'


def _literal(value):
    return "'" + value.replace("'", "''") + "'"


def render_sql(backing):
    """psql script: the role (password hashed with SCRAM) and its database, created
    when missing, the password set every time the script runs."""
    user, db = backing.db_username, backing.db_name
    return (
        "\\set ON_ERROR_STOP on\n"
        "SET password_encryption = 'scram-sha-256';\n"
        f"SELECT format('CREATE ROLE %I LOGIN', {_literal(user)}) "
        f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(user)})\\gexec\n"
        f"ALTER ROLE {_ident(user)} WITH LOGIN PASSWORD {_literal(backing.db_password.reveal())};\n"
        f"SELECT format('CREATE DATABASE %I OWNER %I', {_literal(db)}, {_literal(user)}) "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(db)})\\gexec\n"
        f"ALTER DATABASE {_ident(db)} OWNER TO {_ident(user)};\n"
    )


def password_matches(verifier, password):
    """Whether ``verifier`` (the role's ``pg_authid.rolpassword``,
    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, RFC 5803) was made
    from ``password``: the role's password is checked without keeping it in a file."""
    match = re.match(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$", verifier or "")
    if not match:
        return False
    iterations, salt, stored_key = int(match.group(1)), base64.b64decode(match.group(2)), match.group(3)
    # PostgreSQL SASLprep-normalises the password (NFKC) and keeps it raw when that fails.
    text = password.reveal()
    salted = hashlib.pbkdf2_hmac("sha256", unicodedata.normalize("NFKC", text).encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(base64.b64encode(hashlib.sha256(client_key).digest()).decode(), stored_key)


def _render(name, **context):
    return _ENV.get_template(name).render(**context)


def render_postgresql_conf(backing):
    return _render(
        "backing-postgresql.conf.j2",
        backing=backing,
        certificate=DATABASE_CERTIFICATE,
        private_key=DATABASE_PRIVATE_KEY,
    )


def render_pg_hba(backing):
    return _render(
        "backing-pg_hba.conf.j2", backing=backing, db=_ident(backing.db_name), user=_ident(backing.db_username)
    )


def render_redis_conf(backing):
    return _render("backing-redis.conf.j2", backing=backing, password=backing.redis_password.reveal())


def masked_redis_conf(text):
    return re.sub(r"^requirepass .*$", f'requirepass "{MASK}"', text, flags=re.MULTILINE)


def render_swift_conf(hash_prefix, hash_suffix):
    return _render("backing-swift.conf.j2", prefix=hash_prefix, suffix=hash_suffix)


def masked_swift_conf(text):
    return re.sub(r"^(swift_hash_path_(?:prefix|suffix)) = .*$", rf"\1 = {MASK}", text, flags=re.MULTILINE)


def render_proxy_server_conf(backing):
    return _render("backing-proxy-server.conf.j2", backing=backing, password=backing.swift_password.reveal())


def masked_proxy_server_conf(text):
    return re.sub(r"^(user_\S+) = \S+", rf"\1 = {MASK}", text, flags=re.MULTILINE)


def render_memcached_conf():
    return _render("backing-memcached.conf.j2")


SWIFT_SERVERS = {"account": 6202, "container": 6201, "object": 6200}


def render_swift_server_conf(kind):
    return _render("backing-swift-server.conf.j2", kind=kind, port=SWIFT_SERVERS[kind], devices=SWIFT_DEVICES)


# Run on the backing host by python3 (Swift's own interpreter): logs in to Swift's
# tempauth with the key its proxy-server.conf holds (read there, as root: never on a
# command line) and HEADs (``check``, ``verify``) or creates (``create``) containers.
# Arguments: <mode> <port> <account> <user> <container>...; prints
# ``container <name> present|missing`` lines, or ``swift-auth <error>``.
SWIFT_CONTAINERS_SCRIPT = r"""
import configparser, sys, urllib.error, urllib.request
mode, port, account, user, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
def call(method, url, headers):
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers
try:
    conf = configparser.RawConfigParser(strict=False)
    conf.read("/etc/swift/proxy-server.conf")
    key = conf.get("filter:tempauth", "user_%s_%s" % (account, user)).split()[0]
    status, headers = call("GET", "http://127.0.0.1:%s/auth/v1.0" % port,
                           {"X-Auth-User": "%s:%s" % (account, user), "X-Auth-Key": key})
    if status != 200:
        raise RuntimeError("HTTP %s" % status)
    token, storage = headers["X-Auth-Token"], headers["X-Storage-Url"]
except Exception as error:
    print("swift-auth %s" % (str(error) or type(error).__name__).replace("\n", " "))
    sys.exit(0 if mode == "check" else 1)
failed = False
for name in names:
    status, _ = call("HEAD", storage + "/" + name, {"X-Auth-Token": token})
    if status == 404 and mode == "create":
        call("PUT", storage + "/" + name, {"X-Auth-Token": token})
        status, _ = call("HEAD", storage + "/" + name, {"X-Auth-Token": token})
    present = 200 <= status < 300
    failed = failed or not present
    print("container %s %s" % (name, "present" if present else "missing"))
sys.exit(1 if failed and mode != "check" else 0)
"""
