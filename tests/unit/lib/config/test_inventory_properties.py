"""Property: any inventory data is either refused naming its key, or reaches Harbor unchanged.

Hypothesis generates host data over every key that reaches harbor.yml (hostname, ports,
TLS mode, paths, Trivy, database pool, job service, notification, log, proxy, metric,
cache, upload purging, storage, external database and Redis) and the secrets beside it
(environment variables, files of the controller secrets dir, a Harbor already installed
on the server). Each key's values are mostly valid and one time in ten not: a wrong
type, a number out of range, or a string of the characters docker compose, YAML, nginx
or a URL treat specially (``$``, ``#``, quotes, blanks, line breaks, NUL, unicode...).

For every example the server deploy's ``plan()`` runs on the controller as pyinfra calls
it before any operation (``validated``, ``load_secrets``, ``validated`` again, the TLS
material); only the host's state, the host's data and the installer download are
stand-ins. Nothing there is an operation, so a refusal there changes no host. Then either

(a) ``plan()`` stops the run with a ``DeployError`` raised from a ``ConfigError`` (or a
    ``SecretsError`` about an installed Harbor) whose every problem names a key or
    secret the example set; or
(b) ``harbor_yml.render`` renders the file the deploy uploads, the stand-in ``prepare``
    (v2.13's rules, ``lab/standin/runtime/prepare.py``) accepts it, and every value is
    found unchanged, of the same type, where Harbor reads it: harbor.yml, env files read
    with docker compose's rules (then given to a process, which no NUL survives),
    ``docker-compose.yml``, the registry's ``config.yml``, nginx.conf and logrotate.conf.

Any other exception fails the test: never a traceback.
"""

import os
import re
import tempfile
import urllib.parse
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import gevent
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from pyinfra.api import DeployError

from harbor_deploy.lib.config.defaults import (
    DEFAULT_VERSION,
    SERVER_TLS_CERTIFICATE,
    SERVER_TLS_PRIVATE_KEY,
    STORAGE_DRIVERS,
)
from harbor_deploy.lib.config.secrets import SPECS_BY_NAME, SecretsError, reference_env_var
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.render import harbor_yml, tls
from harbor_deploy.planning import server as server_planning
from lab.standin.tests.support import load_runtime

prepare = load_runtime("prepare")

HOSTNAME = "harbor.example.org"  # the provided certificate's name
REFERENCED_SECRETS = ("s3_secretkey", "proxy_url", "redis_pw")

# --- strategies: each key's values, mostly valid ------------------------------------


def mostly(valid, invalid):
    """``valid`` nine times in ten, else ``invalid``; a failure shrinks towards ``valid``."""
    return st.integers(0, 9).flatmap(lambda pick: invalid if pick == 9 else valid)


# What a person types: letters and digits, with the specials that are safe inside a value.
word = st.text(st.characters(min_codepoint=48, max_codepoint=122, categories=("L", "Nd")), min_size=1, max_size=10)
typed = st.builds(
    lambda head, middle, tail: head + middle + tail,
    word,
    st.text(st.sampled_from("@!%'\"\\#é=()[]<>|~^&*+,.;:ü-_"), max_size=6),
    word,
)
# Characters docker compose, YAML, nginx or a URL treat specially, line breaks of every
# kind, NUL, blanks of other scripts and non-ASCII letters.
SPECIALS = "$#'\" \t\\:@/!%*&|>{}[],-?~=;`\n\r\x00\x0b\x85\xa0\u2028\u3000é𝄞"
awkward = st.text(st.one_of(st.sampled_from(SPECIALS), st.characters(codec="utf-8")), max_size=14)
text = mostly(typed, awkward)
not_a_string = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.floats(-1, 1e6), st.just([1]))
# Harbor's rule for the admin password: 8-128 characters, lower, upper and digit.
password = mostly(
    st.builds("Aa1{}Zz9".format, typed),
    st.one_of(awkward, word, st.sampled_from(["Harbor12345", "root123", "", "A" * 129 + "a1"])),
)
flag = mostly(st.booleans(), st.sampled_from(["yes", 1, None]))


def integer(low, high):
    return mostly(st.integers(low, high), st.sampled_from(["10", 1.5, 10.0, None, True]))


dns_name = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9](\.[a-z][a-z0-9-]{0,8}[a-z0-9]){1,3}\Z")
ipv4 = st.ip_addresses(v=4).map(str)
hostname = mostly(
    st.one_of(st.just(HOSTNAME), dns_name, ipv4),
    st.one_of(
        st.sampled_from(["localhost", "127.0.0.1", "reg.mydomain.com", "::1", "harbor:8443", "https://h", "-x-.org"]),
        awkward,
        not_a_string,
    ),
)
port = mostly(
    st.one_of(st.sampled_from([80, 443, 8080, 8081, 8443, 9090]), st.integers(1, 65535)),
    st.one_of(st.sampled_from([0, -1, 65536, 1514, "8443", 8443.0, True, None]), st.integers()),
)
server_path = mostly(
    st.sampled_from(["/data", "/srv/harbor-data", "/mnt/x_y.z/harbor", "/var/log/harbor", "/opt/harbor/"]),
    st.one_of(
        st.sampled_from(["/srv/harbor data", "data", "/a//b", "/a/../b", "/dätä", "/", "/usr/local", "/a$b"]),
        awkward.map("/{}".format),
        not_a_string,
    ),
)
duration = mostly(
    st.one_of(st.sampled_from(["5m", "1h30m", "0", "5m0s", "-1s", "1.5h"]), st.integers(-1, 600)),
    st.one_of(st.sampled_from(["10x", "5 m", "", 1.5]), awkward, st.booleans()),
)
hours = mostly(st.sampled_from(["168h", "24h", "2h", "72h"]), st.sampled_from(["1h", "7d", "168", 24, ""]))
# A secret named instead of given: {"secret": name}, from env HARBOR_SECRET_<NAME> or a file.
reference = st.builds(lambda name: {"secret": name}, st.sampled_from([*REFERENCED_SECRETS, "Bad-Name"]))
proxy_url = mostly(
    st.one_of(
        st.builds("http://{}:{}@{}:3128".format, word, typed, dns_name),
        st.builds("http://{}:3128".format, dns_name),
        reference,
        st.sampled_from(["", None]),
    ),
    st.one_of(awkward, not_a_string),
)
proxy = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "http_proxy": proxy_url,
            "https_proxy": proxy_url,
            "no_proxy": st.one_of(st.lists(st.one_of(dns_name, ipv4, text), max_size=3).map(",".join), st.none()),
            "components": st.lists(st.sampled_from(["core", "jobservice", "trivy"]), unique=True, max_size=3),
        },
    ),
    st.one_of(st.just({"ftp_proxy": "x"}), st.just({"components": ["portal"]}), not_a_string),
)
storage_config = st.dictionaries(
    st.sampled_from(["bucket", "region", "accesskey", "secretkey", "regionendpoint", "chunksize", "encrypt"]),
    st.one_of(text, reference, st.integers(-1, 5000), st.booleans(), st.none()),
    min_size=1,
    max_size=4,
)
storage_service = mostly(
    st.builds(
        lambda driver, config, options: {driver: config, **options},
        st.sampled_from(STORAGE_DRIVERS),
        storage_config,
        st.fixed_dictionaries(
            {},
            optional={
                "ca_bundle": st.sampled_from(["/etc/harbor/storage-ca.crt", "/etc/ssl/ca-bundle.crt"]),
                "redirect": st.fixed_dictionaries({"disable": st.booleans()}),
            },
        ),
    ),
    st.one_of(
        st.builds(
            lambda driver, config: {driver: config},
            st.sampled_from([*STORAGE_DRIVERS, "ftp"]),
            st.sampled_from([{}, "x", ["bucket"], None, 3]),
        ),
        st.builds(lambda first, second: {"s3": first, "oss": second}, storage_config, storage_config),
        st.sampled_from(
            [{"s3": {"bucket": "b"}, "ca_bundle": "ca.crt"}, {"s3": {"bucket": "b"}, "redirect": {"disable": "yes"}}]
        ),
        not_a_string,
    ),
)
external_database = mostly(
    st.fixed_dictionaries(
        {"host": mostly(dns_name, text), "port": port, "db_name": text, "username": text},
        optional={
            "password": password,
            "ssl_mode": st.sampled_from(["disable", "require", "verify-full"]),
            "max_idle_conns": integer(0, 50),
            "max_open_conns": integer(0, 500),
        },
    ),
    st.one_of(
        st.just({"host": "db.example"}),
        st.just({"host": "db", "port": 5432, "db_name": "r", "username": "u", "ssl_mode": "sometimes"}),
        st.just({"host": "db", "port": 5432, "db_name": "r", "username": "u", "prot": 1}),
        not_a_string,
    ),
)
redis_host = st.lists(st.builds("{}:{}".format, dns_name, st.integers(1, 65535)), min_size=1, max_size=3).map(",".join)
external_redis = mostly(
    st.fixed_dictionaries(
        {"host": mostly(redis_host, text)},
        optional={
            "password": password,
            "sentinel_master_set": text,
            "registry_db_index": integer(0, 15),
            "idle_timeout_seconds": integer(0, 300),
        },
    ),
    st.one_of(st.just({"password": "no-host"}), st.just({"host": "r:6379", "db_index": 1}), not_a_string),
)
log_endpoint = mostly(
    st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"protocol": st.sampled_from(["tcp", "udp"]), "host": mostly(dns_name, text), "port": port}
        ),
    ),
    st.one_of(st.just({"protocol": "http", "host": "logs", "port": 514}), st.just({"host": "logs"}), not_a_string),
)
metric = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "enabled": flag,
            "port": port,
            "path": mostly(st.sampled_from(["/metrics", "/m/x-1", "/a.b/~c_d"]), awkward.map("/{}".format)),
        },
    ),
    st.one_of(st.just({"path": "metrics"}), st.just({"enabled": True, "port": 1514}), not_a_string),
)

INVENTORY = {
    "harbor_version": mostly(st.sampled_from(["v2.13.1", "v2.12.2", "latest"]), st.sampled_from(["v1.10.0", "2.13"])),
    "harbor_install_dir": server_path,
    "harbor_http_port": port,
    "harbor_https_port": port,
    "harbor_tls_extra_sans": mostly(
        st.lists(st.one_of(dns_name, st.ip_addresses().map(str)), max_size=2), st.lists(awkward, min_size=1)
    ),
    "harbor_external_url": mostly(
        st.builds(
            "{}://{}{}".format,
            st.sampled_from(["https", "http"]),
            st.one_of(dns_name, ipv4),
            st.sampled_from(["", "/", ":8443", ":443/"]),
        ),
        st.one_of(st.builds("https://{}".format, awkward), st.sampled_from(["https://h:99999", "h.example"])),
    ),
    "harbor_data_volume": server_path,
    "harbor_log_location": server_path,
    "harbor_with_trivy": flag,
    **{
        f"harbor_trivy_{name}": flag
        for name in ("ignore_unfixed", "skip_update", "skip_java_db_update", "offline_scan", "insecure")
    },
    "harbor_trivy_security_check": mostly(st.sampled_from(["vuln", "vuln,secret", "config"]), awkward),
    "harbor_trivy_timeout": duration,
    "harbor_db_max_idle_conns": integer(-5, 1000),
    "harbor_db_max_open_conns": integer(-5, 1000),
    "harbor_db_conn_max_lifetime": duration,
    "harbor_db_conn_max_idle_time": duration,
    "harbor_jobservice_max_job_workers": integer(-1, 50),
    "harbor_jobservice_max_job_duration_hours": integer(1, 48),
    "harbor_jobservice_job_loggers": mostly(
        st.lists(st.sampled_from(["STD_OUTPUT", "FILE", "DB"]), min_size=1, max_size=3, unique=True),
        st.sampled_from([[], ["SYSLOG"], "FILE"]),
    ),
    "harbor_jobservice_logger_sweeper_duration": integer(-1, 30),
    "harbor_notification_webhook_job_max_retry": integer(-1, 10),
    "harbor_notification_webhook_job_http_client_timeout": integer(-1, 30),
    "harbor_log_level": mostly(
        st.sampled_from(["debug", "info", "warning", "error", "fatal"]), st.sampled_from(["verbose", "INFO", 3])
    ),
    "harbor_log_rotate_count": mostly(st.integers(1, 100), st.sampled_from([0, -1, "5", 5.0])),
    "harbor_log_rotate_size": mostly(
        st.one_of(st.integers(1, 10**9), st.sampled_from(["200M", "10k", "1G", "0"])),
        st.one_of(st.sampled_from([0, "5T", "10 M", "-1"]), awkward),
    ),
    "harbor_log_external_endpoint": log_endpoint,
    "harbor_proxy": proxy,
    "harbor_metric": metric,
    "harbor_cache": mostly(
        st.fixed_dictionaries({}, optional={"enabled": flag, "expire_hours": integer(1, 48)}),
        st.one_of(st.just({"enabled": True, "expire_hours": 0}), not_a_string),
    ),
    "harbor_upload_purging": mostly(
        st.fixed_dictionaries({}, optional={"enabled": flag, "age": hours, "interval": hours, "dryrun": flag}),
        st.one_of(st.just({"max_age": "168h"}), not_a_string),
    ),
    "harbor_storage_service": storage_service,
    "harbor_external_database": external_database,
    "harbor_external_redis": external_redis,
}
# Keys that are wrong whatever their value: a typo, a secret put in the inventory.
MISTAKES = {"harbor_hostnme": st.just(HOSTNAME), "harbor_admin_password": password}
# "provided-missing": mode provided with a certificate file that is not there.
TLS_MODE = mostly(st.sampled_from(["generate", "http", "provided"]), st.sampled_from(["provided-missing", "self"]))


@st.composite
def inventories(draw):
    """Host data: a hostname, a TLS mode and up to eight other keys."""
    data = {"harbor_hostname": draw(hostname), "harbor_tls_mode": draw(TLS_MODE)}
    if data["harbor_tls_mode"] == "provided" and draw(mostly(st.just(True), st.just(False))):
        data["harbor_hostname"] = HOSTNAME  # the provided certificate's name
    for name in draw(st.lists(st.sampled_from(sorted(INVENTORY)), max_size=8, unique=True)):
        data[name] = draw(INVENTORY[name])
    for name in draw(mostly(st.just([]), st.lists(st.sampled_from(sorted(MISTAKES)), min_size=1, unique=True))):
        data[name] = draw(MISTAKES[name])
    return data


# How each secret reaches the controller: not at all (generated, or missing), its env
# var, or its file in the secrets dir (one line: the file's line break is not part of it).
secret_source = st.one_of(st.none(), st.tuples(st.sampled_from(["env", "file"]), password))
secret_sources = st.fixed_dictionaries({name: secret_source for name in [*SPECS_BY_NAME, *REFERENCED_SECRETS]})
# What an installed Harbor keeps: nothing (a fresh host), its harbor.yml with the
# passwords it runs with, or an initialised database without harbor.yml. Those passwords
# are on one line without NUL: with either, that Harbor's env files would not have worked.
running_password = password.filter(lambda value: not re.search("[\n\r\x00]", value))
server_state = mostly(
    st.just(None),
    st.one_of(
        st.fixed_dictionaries(
            {"admin_password": running_password, "db_password": running_password, "database_initialised": st.booleans()}
        ),
        st.just({"database_initialised": True}),
    ),
)

# --- how Harbor's programs read what prepare wrote -----------------------------------

# Go's unicode.IsSpace, and the blanks compose's dotenv parser skips before a value.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
GO_SPACE += "\u2028\u2029\u202f\u205f\u3000"
DOTENV_LEADING_BLANKS = "\t\v\f\r \x85\xa0"


class Changed:
    """A value a reader does not pass on as written (what it makes of it depends on more
    than the file); equal to nothing, so an assertion on it fails showing why."""

    def __init__(self, why):
        self.why = why

    def __repr__(self):
        return f"<changed: {self.why}>"


def compose_env_file(text):
    """An env file as docker compose reads it (compose-go's dotenv parser): ``KEY=value``
    per line; blanks before the value and at its end are trimmed, `` #`` starts a comment,
    a leading quote makes a quoted value (its quotes go) and every ``$`` is interpolated
    (``$$`` too)."""
    values, rest = {}, text
    while True:
        rest = rest.lstrip(GO_SPACE)
        if not rest:
            return values
        if rest.startswith("#"):
            rest = rest.partition("\n")[2]
            continue
        key, separator, rest = rest.partition("=")
        assert separator and "\n" not in key, f"prepare wrote a line without '=': {key!r}"
        rest = rest.lstrip(DOTENV_LEADING_BLANKS)
        value, _, rest = rest.partition("\n")
        if value[:1] in ("'", '"'):
            values[key.strip()] = Changed("quoted")
            continue
        value = value.partition(" #")[0].rstrip(GO_SPACE)
        values[key.strip()] = Changed("interpolated") if "$" in value else value


def process_env(path):
    """What a container's process gets from an env file: execve takes no NUL."""
    values = compose_env_file(path.read_text())
    return {key: Changed("NUL") if "\x00" in str(value) else value for key, value in values.items()}


def nginx_tokens(line):
    """One line of nginx.conf as nginx's tokenizer splits it (unquoted tokens end at a
    blank, ``;``, ``{`` or ``}``; quotes and ``\\`` escape; ``#`` starts a comment)."""
    tokens, current, quote, index = [], None, None, 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and index + 1 < len(line):
                index += 1
                current += line[index]
            elif char == quote:
                tokens.append(current)
                current, quote = None, None
            else:
                current += char
        elif char in " \t\r\n":
            if current is not None:
                tokens.append(current)
                current = None
        elif char in ";{}":
            if current is not None:
                tokens.append(current)
                current = None
            tokens.append(char)
        elif current is None and char == "#":
            break
        elif current is None and char in "'\"":
            current, quote = "", char
        elif char == "\\" and index + 1 < len(line):
            index += 1
            current = (current or "") + line[index]
        else:
            current = (current or "") + char
        index += 1
    if current is not None:
        tokens.append(current)
    return tokens


def redis_url_parts(url):
    """(password, host) of a redis:// URL the way Go's url.Parse splits it."""
    netloc = urllib.parse.urlsplit(url).netloc
    userinfo, _, host = netloc.rpartition("@")
    return urllib.parse.unquote(userinfo.partition(":")[2]), host


def same(read, written):
    """Equal and of the same types all the way down (in Python 10.0 == 10 and True == 1,
    in Harbor's Go programs they are not)."""
    return yaml.safe_dump(read) == yaml.safe_dump(written)


# --- the run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def controller_files(tmp_path_factory):
    """A provided certificate, key and chain for HOSTNAME, and prepare's token signing
    key: made once, generating keys is slow."""
    place = tmp_path_factory.mktemp("provided")
    ca_key, ca_cert = tls.generate_ca("provided-ca")
    key = tls.new_key()
    cert = tls.issue_server_certificate(ca_key, ca_cert, key, tls.wanted_names(HOSTNAME))
    (place / "server.crt").write_bytes(tls.cert_pem(cert))
    (place / "server.key").write_bytes(tls.key_pem(key))
    (place / "chain.crt").write_bytes(tls.cert_pem(ca_cert))
    token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (place / "token.key").write_bytes(
        token_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return place


def tls_data(mode, place):
    """The TLS keys of a drawn mode."""
    if mode == "provided":
        return {
            "harbor_tls_certificate": str(place / "server.crt"),
            "harbor_tls_private_key": str(place / "server.key"),
            "harbor_tls_chain": str(place / "chain.crt"),
        }
    if mode == "provided-missing":
        return {"harbor_tls_mode": "provided", "harbor_tls_certificate": str(place / "missing.crt")}
    return {}


def keep_secrets(directory, hostname, sources):
    """The example's secrets as the controller has them: the env vars returned, the
    files written in ``directory`` (when the hostname can name a directory)."""
    env = {}
    for name, source in sources.items():
        if source is None:
            continue
        how, value = source
        env_var = SPECS_BY_NAME[name].env_var if name in SPECS_BY_NAME else reference_env_var(name)
        if how == "env" and "\x00" not in value:  # no environment holds a NUL
            env[env_var] = value
        elif how == "file" and isinstance(hostname, str) and re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", hostname):
            path = directory / hostname / name
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(value + "\n")
            path.chmod(0o600)
    return env


def server_files(state, config):
    """The host's state as ``read_state`` reads it for ``config``: a fresh host, or an
    installed Harbor where this data says it is."""
    files, nonempty = {}, []
    if state and "admin_password" in state:
        text = yaml.safe_dump(
            {"harbor_admin_password": state["admin_password"], "database": {"password": state["db_password"]}}
        )
        files[f"{config['harbor_install_dir'].rstrip('/')}/harbor.yml"] = text.encode()
    if state and state["database_initialised"]:
        nonempty.append(f"{config['harbor_data_volume'].rstrip('/')}/database")
    # Nothing runs: the version check of an upgrade is test_validate's.
    installation = {"running_version": None, "bundle_version": None, "harbor_yml_mtime": None}
    return {
        "private": {"files": files, "nonempty": nonempty},
        "resources": {"machine": "x86_64"},
        "installation": installation,
        "files": {},  # install_dir is no plain directory: nothing to adopt
    }


def run_plan(data, env, state):
    """``plan()`` on the controller, as pyinfra calls it, with the environment holding ``env``."""

    def fetch(config, **_):
        version = DEFAULT_VERSION if config["harbor_version"] == "latest" else config["harbor_version"]
        return SimpleNamespace(version=version, path=Path("/nonexistent.tgz"), sha256="0" * 64)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ))
        for name in [name for name in os.environ if name.startswith("HARBOR_")]:
            del os.environ[name]
        os.environ.update(env)
        this = SimpleNamespace(name="harbor-1", groups=())
        stack.enter_context(mock.patch.object(server_planning, "host", this))
        stack.enter_context(mock.patch("harbor_deploy.planning.context.current_host", this))
        stack.enter_context(mock.patch.object(server_planning, "host_data", lambda overrides=None: dict(data)))
        stack.enter_context(
            mock.patch.object(server_planning, "read_state", lambda config, **_: server_files(state, config))
        )
        stack.enter_context(mock.patch.object(server_planning.installer, "fetch", fetch))
        return server_planning.plan()


def key_root(key):
    """The key a problem is about: ``harbor_proxy`` of ``harbor_proxy.http_proxy``,
    ``admin_password`` of ``admin_password (env HARBOR_ADMIN_PASSWORD)``."""
    return re.split(r"[\[. ]", key)[0]


def assert_names_its_keys(error, data, sources, state):
    """(a): the run stops before any operation, every problem named by a key the data set
    (or the secret it is about)."""
    cause = error.__context__
    assert isinstance(cause, ConfigError | SecretsError), repr(cause)
    given_names = set(data) | {name for name, source in sources.items() if source is not None}
    for key, why in cause.problems:
        assert key in str(error)
        if isinstance(cause, SecretsError):
            assert key in SPECS_BY_NAME and state, (key, why)
        else:
            # A rule between two keys may name the one left at its default.
            assert key_root(key) in given_names or any(name in why for name in given_names), (key, why)


def assert_harbor_yml_holds_the_data(text, config, secrets):
    """harbor.yml, as prepare reads it, holds every value as the data gave it."""
    read = yaml.safe_load(text)
    written = {
        "hostname": config["harbor_hostname"],
        "http": {"port": config["harbor_http_port"]},
        "data_volume": config["harbor_data_volume"],
        "trivy": {
            field: config[f"harbor_trivy_{field}"]
            for field in (
                "ignore_unfixed",
                "skip_update",
                "skip_java_db_update",
                "offline_scan",
                "security_check",
                "insecure",
                "timeout",
            )
        },
        "jobservice": {
            field: config[f"harbor_jobservice_{field}"]
            for field in ("max_job_workers", "max_job_duration_hours", "job_loggers", "logger_sweeper_duration")
        },
        "notification": {
            field: config[f"harbor_notification_{field}"]
            for field in ("webhook_job_max_retry", "webhook_job_http_client_timeout")
        },
        "metric": config["harbor_metric"],
        "cache": config["harbor_cache"],
        "upload_purging": config["harbor_upload_purging"],
    }
    assert same({name: read[name] for name in written}, written)
    database = {
        field: config[f"harbor_db_{field}"]
        for field in ("max_idle_conns", "max_open_conns", "conn_max_lifetime", "conn_max_idle_time")
    }
    assert same({field: read["database"][field] for field in database}, database)
    log = read["log"]
    assert same(log["level"], config["harbor_log_level"])
    local = {field: config[f"harbor_log_{field}"] for field in ("rotate_count", "rotate_size", "location")}
    assert same(log["local"], local)
    assert same(log.get("external_endpoint"), config["harbor_log_external_endpoint"] or None)
    if config["harbor_external_url"]:
        assert same(read["external_url"], config["harbor_external_url"])
    proxy = {**config["harbor_proxy"], **resolved_references(config["harbor_proxy"], secrets)}
    assert same(read["proxy"], proxy)
    storage = config["harbor_storage_service"]
    if storage:
        driver = next(name for name in storage if name not in ("ca_bundle", "redirect"))
        resolved = {**storage, driver: {**storage[driver], **resolved_references(storage[driver], secrets)}}
        assert same(read["storage_service"], resolved)
    if config["harbor_external_database"]:
        external = config["harbor_external_database"]
        assert same({field: read["external_database"]["harbor"][field] for field in external}, external)
    if config["harbor_external_redis"]:
        external = config["harbor_external_redis"]
        assert same({field: read["external_redis"][field] for field in external}, external)


def resolved_references(record, secrets):
    """The fields of ``record`` given as ``{"secret": name}``, with the secret's value."""
    return {
        field: secrets.referenced[value["secret"]].reveal()
        for field, value in record.items()
        if isinstance(value, dict) and set(value) == {"secret"}
    }


def prepare_paths(root, token_key):
    """The directories prepare works in (its container's mounts), its token key in place."""
    paths = prepare.Paths(
        input_dir=root / "bundle" / "input",
        data_dir=root / "data",
        compose_dir=root / "bundle",
        config_dir=root / "bundle" / "common" / "config",
        hostfs=root / "hostfs",
    )
    for directory in (paths.input_dir, paths.config_dir, paths.hostfs):
        directory.mkdir(parents=True)
    key = paths.data_dir / "secret" / "core" / "private_key.pem"
    key.parent.mkdir(parents=True)
    key.write_bytes(token_key.read_bytes())
    return paths


def run_prepare(plan, text, paths):
    """The stand-in prepare on the server's files: the uploaded harbor.yml, the TLS pair
    the deploy places, and the operator's storage CA bundle."""
    config = plan.config
    on_host = {}
    if plan.tls is not None:
        on_host[SERVER_TLS_CERTIFICATE] = plan.tls.certificate
        on_host[SERVER_TLS_PRIVATE_KEY] = plan.tls.private_key
    if (config["harbor_storage_service"] or {}).get("ca_bundle"):
        on_host[config["harbor_storage_service"]["ca_bundle"]] = b"CA\n"
    for path, content in on_host.items():
        paths.on_host(path).parent.mkdir(parents=True, exist_ok=True)
        paths.on_host(path).write_bytes(content)
    (paths.input_dir / "harbor.yml").write_text(text)
    assert prepare.prepare(paths, paths.input_dir / "harbor.yml", bool(plan.trivy_flag), plan.version) == 0


def assert_harbor_gets_the_data(plan, paths):
    """Every value, where Harbor's containers read it."""
    config, secrets = plan.config, plan.secrets
    config_dir = paths.config_dir
    core = process_env(config_dir / "core" / "env")
    jobservice = process_env(config_dir / "jobservice" / "env")
    compose_text = (paths.compose_dir / "docker-compose.yml").read_text()
    assert "$" not in compose_text  # compose interpolates it
    compose = yaml.safe_load(compose_text)
    registry = yaml.safe_load((config_dir / "registry" / "config.yml").read_text())
    nginx = (config_dir / "nginx" / "nginx.conf").read_text().split("\n")
    logrotate = (config_dir / "log" / "logrotate.conf").read_text().split("\n")

    # Passwords, byte for byte where the containers get them; one taken back from the
    # installed Harbor is passed on as that Harbor has it (not data: not judged).
    if not secrets.recovered("admin_password"):
        assert core["HARBOR_ADMIN_PASSWORD"] == secrets.admin_password.reveal()
    external = config["harbor_external_database"]
    if external:
        expected = {
            "POSTGRESQL_HOST": external["host"],
            "POSTGRESQL_PORT": str(external["port"]),
            "POSTGRESQL_DATABASE": external["db_name"],
            "POSTGRESQL_USERNAME": external["username"],
            "POSTGRESQL_PASSWORD": external.get("password") or secrets.external_db_password.reveal(),
            "POSTGRESQL_SSLMODE": external.get("ssl_mode", "disable"),
        }
        assert {name: core[name] for name in expected} == expected
        assert "postgresql" not in compose["services"]
    elif not secrets.recovered("db_password"):
        assert process_env(config_dir / "db" / "env")["POSTGRES_PASSWORD"] == secrets.db_password.reveal()
        assert core["POSTGRESQL_PASSWORD"] == secrets.db_password.reveal()
    if config["harbor_metric"]["enabled"]:
        exporter = process_env(config_dir / "exporter" / "env")
        assert exporter["HARBOR_DATABASE_PASSWORD"] == core["POSTGRESQL_PASSWORD"]
    redis = config["harbor_external_redis"]
    if redis:
        password = redis.get("password") or (
            secrets.external_redis_password.reveal() if secrets.external_redis_password else ""
        )
        assert registry["redis"]["addr"] == redis["host"]
        assert same(registry["redis"]["password"], password or None)
        assert redis_url_parts(core["_REDIS_URL_CORE"]) == (password, redis["host"])
        assert "redis" not in compose["services"]

    # Where clients reach Harbor: the endpoint, the token realm and the published ports.
    https = config["harbor_tls_mode"] != "http"
    scheme, port = ("https", config["harbor_https_port"]) if https else ("http", config["harbor_http_port"])
    endpoint = config["harbor_external_url"] or (
        f"{scheme}://{config['harbor_hostname']}" + ("" if port == (443 if https else 80) else f":{port}")
    )
    assert core["EXT_ENDPOINT"] == endpoint.rstrip("/")
    assert registry["auth"]["token"]["realm"] == f"{endpoint.rstrip('/')}/service/token"
    ports = [f"{config['harbor_http_port']}:8080"]
    if https:
        ports.append(f"{config['harbor_https_port']}:8443")
        redirect = next(line for line in nginx if "return 308" in line)
        suffix = "" if config["harbor_https_port"] == 443 else f":{config['harbor_https_port']}"
        assert nginx_tokens(redirect) == ["return", "308", f"https://$host{suffix}$request_uri", ";"]
    metric = config["harbor_metric"]
    if metric["enabled"]:
        ports.append(f"{metric['port']}:9090")
        location = next(line for line in nginx if line.strip().startswith("location = "))
        assert nginx_tokens(location) == ["location", "=", metric["path"], "{"]
    assert compose["services"]["proxy"]["ports"] == ports
    assert ("exporter" in compose["services"]) == bool(metric["enabled"])
    assert ("trivy-adapter" in compose["services"]) == bool(plan.trivy_flag)

    # Paths the containers mount, and the log and webhook settings.
    data_volume = config["harbor_data_volume"].rstrip("/")
    assert f"{data_volume}/registry:/storage:z" in compose["services"]["registry"]["volumes"]
    assert f"{config['harbor_log_location'].rstrip('/')}/:/var/log/docker/:z" in compose["services"]["log"]["volumes"]
    assert core["LOG_LEVEL"] == config["harbor_log_level"]
    assert f"    rotate {config['harbor_log_rotate_count']}" in logrotate
    assert f"    size {config['harbor_log_rotate_size']}" in logrotate
    assert jobservice["JOBSERVICE_WEBHOOK_JOB_MAX_RETRY"] == str(config["harbor_notification_webhook_job_max_retry"])
    timeout = config["harbor_notification_webhook_job_http_client_timeout"]
    assert jobservice["JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT"] == str(timeout)

    # The proxy, in the env files of the components it covers.
    proxy = {**config["harbor_proxy"], **resolved_references(config["harbor_proxy"], secrets)}
    wanted = {item.strip() for item in (proxy["no_proxy"] or "").split(",") if item.strip()}
    env_files = {"core": core, "jobservice": jobservice}
    if plan.trivy_flag:
        env_files["trivy"] = process_env(config_dir / "trivy-adapter" / "env")
        assert env_files["trivy"]["SCANNER_LOG_LEVEL"] == config["harbor_log_level"]
    for component, values in env_files.items():
        if component not in proxy["components"]:
            assert "HTTP_PROXY" not in values
            continue
        assert values["HTTP_PROXY"] == (proxy["http_proxy"] or "")
        assert values["HTTPS_PROXY"] == (proxy["https_proxy"] or "")
        # Go's proxy settings read NO_PROXY item by item, blanks trimmed.
        assert wanted <= {item.strip() for item in values["NO_PROXY"].split(",")}

    # Storage: the registry's config.yml holds the driver's settings as written.
    storage = config["harbor_storage_service"] or {}
    driver = next((name for name in storage if name not in ("ca_bundle", "redirect")), "filesystem")
    assert core["REGISTRY_STORAGE_PROVIDER_NAME"] == driver
    settings = {**storage.get(driver, {}), **resolved_references(storage.get(driver, {}), secrets)}
    if driver == "gcs":
        settings.pop("keyfile", None)  # prepare points it at the file it mounts
    assert same({field: registry["storage"][driver][field] for field in settings}, settings)
    assert registry["storage"].get("redirect", {}).get("disable", False) == (storage.get("redirect") or {}).get(
        "disable", False
    )
    assert same(registry["storage"]["maintenance"]["uploadpurging"], config["harbor_upload_purging"])


def let_gevent_close_directories():
    """tests/conftest.py's gevent defers closing a directory's descriptor (as rmtree does)
    until its loop runs, which nothing here does: each example would leave ~30 open."""
    gevent.idle()


@settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "300")),  # more to hunt further than CI
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is repeatable
    database=None,  # and no .hypothesis directory
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.generate, Phase.shrink],  # no slow "explain" pass over a failure
)
@given(data=inventories(), sources=secret_sources, state=server_state)
def test_inventory_data_is_refused_naming_its_key_or_reaches_harbor_unchanged(controller_files, data, sources, state):
    let_gevent_close_directories()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        data = {**data, **tls_data(data["harbor_tls_mode"], controller_files), "harbor_secrets_dir": str(root / "s")}
        env = keep_secrets(root / "s", data["harbor_hostname"], sources)
        try:
            plan = run_plan(data, env, state)
        except DeployError as error:
            event(f"refused: {type(error.__context__).__name__}")
            for key, _ in getattr(error.__context__, "problems", ()):
                event(f"refused for {key_root(key)}")
            assert_names_its_keys(error, data, sources, state)
            return
        event("accepted")
        text = harbor_yml.render(plan.config, plan.secrets, plan.version)
        assert_harbor_yml_holds_the_data(text, plan.config, plan.secrets)
        paths = prepare_paths(root / "host", controller_files / "token.key")
        run_prepare(plan, text, paths)
        assert_harbor_gets_the_data(plan, paths)
