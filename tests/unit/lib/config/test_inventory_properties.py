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
    found unchanged, of the same type, where Harbor's programs read it from prepare's
    output: env files read with docker compose's rules (then given to a process, which
    no NUL survives), the database connection string core builds of them as libpq
    reads it, ``docker-compose.yml``, the registry's ``config.yml``, nginx.conf and
    logrotate.conf. How the deploy maps its keys into harbor.yml is not repeated here:
    the module renders it, prepare reads it, the values are looked for at the end.

Any other exception fails the test: never a traceback.
"""

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from pyinfra.api import DeployError

from harbor_deploy.lib.config.defaults import STORAGE_DRIVERS
from harbor_deploy.lib.config.secrets import SPECS_BY_NAME, SecretsError
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.render import harbor_yml, tls
from tests.unit.lib.config.harbor_run import (
    connection_settings,
    keep_secrets,
    let_gevent_close_directories,
    nginx_tokens,
    prepare_paths,
    process_env,
    redis_url_parts,
    run_plan,
    run_prepare,
    same,
    write_token_key,
)

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

trace = mostly(
    st.fixed_dictionaries(
        {"enabled": flag},
        optional={
            "sample_rate": st.sampled_from([0, 0.5, 1]),
            "namespace": text,
            "attributes": st.dictionaries(word, text, max_size=2),
            "jaeger": st.one_of(
                st.fixed_dictionaries({"endpoint": proxy_url}, optional={"username": word, "password": password}),
                st.fixed_dictionaries({"agent_host": dns_name, "agent_port": port}),
            ),
            "otel": st.fixed_dictionaries(
                {"endpoint": dns_name.map("{}:4318".format), "url_path": st.just("/v1/traces")},
                optional={"compression": flag, "insecure": flag, "timeout": integer(1, 30)},
            ),
        },
    ),
    st.one_of(st.just({"enabled": True}), st.just({"otel": {"timeout": 0}}), not_a_string),
)

INVENTORY = {
    "harbor_version": mostly(st.sampled_from(["v2.13.1", "v2.12.2", "latest"]), st.sampled_from(["v1.10.0", "2.13"])),
    "harbor_install_dir": server_path,
    "harbor_http_port": port,
    "harbor_https_port": port,
    "harbor_tls_extra_sans": mostly(
        st.lists(st.one_of(dns_name, st.ip_addresses().map(str)), max_size=2), st.lists(awkward, min_size=1)
    ),
    "harbor_tls_strong_ssl_ciphers": flag,
    "harbor_trace": trace,
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
    write_token_key(place / "token.key")
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


def resolved_references(record, secrets):
    """The fields of ``record`` given as ``{"secret": name}``, with the secret's value."""
    return {
        field: secrets.referenced[value["secret"]].reveal()
        for field, value in record.items()
        if isinstance(value, dict) and set(value) == {"secret"}
    }


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
    # The connection string core builds of them, as libpq (and pgx) read it.
    if external or not secrets.recovered("db_password"):
        assert connection_settings(core) == {
            "host": core["POSTGRESQL_HOST"],
            "port": core["POSTGRESQL_PORT"],
            "user": core["POSTGRESQL_USERNAME"],
            "password": core["POSTGRESQL_PASSWORD"],
            "dbname": core["POSTGRESQL_DATABASE"],
            "sslmode": core["POSTGRESQL_SSLMODE"],
        }
    # The pool: prepare replaces none of the values it is given (0 and the like are refused).
    pool = external or {}
    assert {name: core[f"POSTGRESQL_{name.upper()}"] for name in ("max_idle_conns", "max_open_conns")} == {
        "max_idle_conns": str(pool.get("max_idle_conns", 2) if external else config["harbor_db_max_idle_conns"]),
        "max_open_conns": str(pool.get("max_open_conns", 0) if external else config["harbor_db_max_open_conns"]),
    }
    assert core["POSTGRESQL_CONN_MAX_LIFETIME"] == str(config["harbor_db_conn_max_lifetime"])
    assert core["POSTGRESQL_CONN_MAX_IDLE_TIME"] == str(config["harbor_db_conn_max_idle_time"])
    assert core["MAX_JOB_WORKERS"] == str(config["harbor_jobservice_max_job_workers"])
    assert jobservice["MAX_JOB_DURATION_SECONDS"] == str(config["harbor_jobservice_max_job_duration_hours"] * 3600)
    if plan.trivy_flag:
        trivy = process_env(config_dir / "trivy-adapter" / "env")
        assert trivy["SCANNER_TRIVY_TIMEOUT"] == str(config["harbor_trivy_timeout"])
        assert trivy["SCANNER_TRIVY_SECURITY_CHECKS"] == config["harbor_trivy_security_check"]
        for field in ("ignore_unfixed", "skip_update", "skip_java_db_update", "offline_scan", "insecure"):
            assert trivy[f"SCANNER_TRIVY_{field.upper()}"] == str(config[f"harbor_trivy_{field}"])
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
    strong = any(line.strip().startswith("ssl_ciphers ECDHE") for line in nginx)
    assert strong == (https and config["harbor_tls_strong_ssl_ciphers"])
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

    # Tracing, in core's and jobservice's env files when it is on.
    trace = {**(config["harbor_trace"] or {}), **resolved_references(config["harbor_trace"] or {}, secrets)}
    for values in (core, jobservice):
        assert ("TRACE_ENABLED" in values) == bool(trace.get("enabled"))
    if trace.get("enabled"):
        assert core["TRACE_NAMESPACE"] == trace.get("namespace", "")
        assert core["TRACE_SAMPLE_RATE"] == str(trace.get("sample_rate", 1))
        assert json.loads(core["TRACE_ATTRIBUTES"]) == trace.get("attributes", {})
        jaeger = {**trace.get("jaeger", {}), **resolved_references(trace.get("jaeger", {}), secrets)}
        for name, field in (("ENDPOINT", "endpoint"), ("USERNAME", "username"), ("PASSWORD", "password")):
            if jaeger:
                assert core[f"TRACE_JAEGER_{name}"] == str(jaeger.get(field) or "")
        if trace.get("otel"):
            assert core["TRACE_OTEL_TIMEOUT"] == str(trace["otel"].get("timeout", 10))

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
        paths = prepare_paths(root / "host", controller_files / "token.key")
        run_prepare(plan, text, paths)
        assert_harbor_gets_the_data(plan, paths)
