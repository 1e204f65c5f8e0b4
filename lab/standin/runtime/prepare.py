"""Stand-in for the goharbor/prepare image (``prepare`` and ``migrate`` commands).

    prepare.py prepare [--with-trivy] [--conf /input/harbor.yml]
    prepare.py migrate -i /abs/harbor.yml [-o out.yml] [-t 2.13.0]

Run inside the image by the bundle's ``prepare`` script with the real mounts:
``/input`` (harbor.yml), ``/data`` (data_volume), ``/compose_location`` (bundle
dir), ``/config`` (bundle's common/config) and ``/hostfs`` (host ``/``). It applies
the real v2.13 validation rules, then writes docker-compose.yml and common/config/*
the way the real one lays them out. The mount points can be moved with the
``STANDIN_*_DIR`` variables (tests run it without docker).
"""

import argparse
import datetime
import json
import os
import re
import secrets
import shutil
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlsplit

import jinja2
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TOKEN_KEY_BITS = 4096
TOKEN_ISSUER = "harbor-token-issuer"
TOKEN_SERVICE = "harbor-registry"
PLACEHOLDER_CERT = "/your/certificate/path"
PLACEHOLDER_KEY = "/your/private/key/path"
STORAGE_DRIVERS = ("filesystem", "azure", "gcs", "s3", "swift", "oss")
LOG_LEVELS = ("debug", "info", "warning", "error", "fatal")
LOG_ADDRESS = "tcp://localhost:1514"
# The postgres and redis users of Harbor's harbor-db and redis images.
DATA_UID = 999
# The scanner user of the trivy-adapter image, owner of its cache (g.py DEFAULT_UID).
SCANNER_UID = 10000
# Real prepare's INTERNAL_NO_PROXY_DN: Harbor's own services are never proxied.
INTERNAL_NO_PROXY = {
    "127.0.0.1",
    "localhost",
    ".local",
    ".internal",
    "log",
    "db",
    "redis",
    "nginx",
    "core",
    "portal",
    "postgresql",
    "jobservice",
    "registry",
    "registryctl",
    "trivy-adapter",
    "exporter",
}


class ConfigError(Exception):
    """A harbor.yml the real prepare refuses."""


@dataclass
class Paths:
    """Where prepare finds its inputs and writes its outputs (container mounts)."""

    input_dir: Path = Path("/input")
    data_dir: Path = Path("/data")
    compose_dir: Path = Path("/compose_location")
    config_dir: Path = Path("/config")
    hostfs: Path = Path("/hostfs")

    @classmethod
    def from_env(cls):
        return cls(
            **{
                name: Path(os.environ[f"STANDIN_{name.upper()}"])
                for name in ("input_dir", "data_dir", "compose_dir", "config_dir", "hostfs")
                if os.environ.get(f"STANDIN_{name.upper()}")
            }
        )

    def on_host(self, path):
        """A host path as seen through the /hostfs mount."""
        return self.hostfs / str(path).lstrip("/")


def image_version():
    """The release this image stands in for, e.g. ``v2.13.1``."""
    return os.environ.get("HARBOR_STANDIN_VERSION", "v2.13.1")


def config_version(release):
    """The harbor.yml ``_version`` a release expects: ``v2.13.1`` -> ``2.13.0``."""
    major, minor = release.lstrip("v").split(".")[:2]
    return f"{major}.{minor}.0"


def parse_version(text):
    return tuple(int(part) for part in str(text).split("."))


def _hours(value):
    """``<n>h`` with n >= 2, as the real PurgeUpload check wants."""
    if not isinstance(value, str) or not value.endswith("h"):
        return None
    number = value[:-1]
    return int(number) if number.isdigit() else None


def pool_settings(database):
    """Core's connection pool from a database section, with real prepare's defaults."""
    return {
        "max_idle_conns": database.get("max_idle_conns") or 2,
        "max_open_conns": database.get("max_open_conns") or 0,
        "conn_max_lifetime": database.get("conn_max_lifetime") or "5m",
        "conn_max_idle_time": database.get("conn_max_idle_time") or 0,
    }


def parse_config(configs, with_trivy=False):
    """The settings prepare works from; missing required keys raise KeyError like real."""
    conf = {
        "hostname": configs["hostname"],
        "protocol": "http",
        "http_port": (configs.get("http") or {}).get("port", 80),
        "with_trivy": with_trivy,
    }
    https = configs.get("https")
    if https:
        conf["protocol"] = "https"
        conf["https_port"] = https.get("port", 443)
        conf["cert_path"] = https["certificate"]
        conf["cert_key_path"] = https["private_key"]
        conf["strong_ssl_ciphers"] = https.get("strong_ssl_ciphers")
    if configs.get("external_url"):
        conf["public_url"] = configs["external_url"].rstrip("/")
    else:
        port_key = "https_port" if conf["protocol"] == "https" else "http_port"
        default_port = 443 if conf["protocol"] == "https" else 80
        suffix = "" if conf[port_key] == default_port else f":{conf[port_key]}"
        conf["public_url"] = f"{conf['protocol']}://{conf['hostname']}{suffix}"

    conf["data_volume"] = configs["data_volume"]
    conf["harbor_admin_password"] = configs["harbor_admin_password"]
    conf["db_password"] = (configs.get("database") or {}).get("password") or ""
    # Like real: external_database.harbor replaces the bundled database's settings.
    external_db = (configs.get("external_database") or {}).get("harbor")
    conf["external_database"] = bool(external_db)
    database = configs.get("database") or {}
    conf["database"] = {
        "host": "postgresql",
        "port": 5432,
        "db_name": "registry",
        "username": "postgres",
        "password": conf["db_password"],
        "ssl_mode": "disable",
        **pool_settings(database),
    }
    if external_db:
        conf["database"] = {
            **{key: external_db[key] for key in ("host", "port", "db_name", "username", "password", "ssl_mode")},
            **pool_settings(external_db),
        }
    # Like real: drawn afresh on every run, one value each for all of a node's services.
    conf["core_secret"] = random_string(16)
    conf["jobservice_secret"] = random_string(16)
    # utils/core.py prepare_core: drawn for core's env alone.
    conf["csrf_key"] = random_string(32)
    conf["scan_robot_prefix"] = random_string(8)
    conf["external_redis"] = bool(configs.get("external_redis"))
    conf["redis"] = redis_settings(configs.get("external_redis"))
    proxy = configs.get("proxy") or {}
    conf["proxy"] = {
        "http_proxy": proxy.get("http_proxy"),
        "https_proxy": proxy.get("https_proxy"),
        "no_proxy": proxy.get("no_proxy"),
        "components": proxy.get("components") or [],
    }

    storage = configs.get("storage_service") or {}
    conf["ca_bundle"] = storage.get("ca_bundle") or ""
    # Like real: the first of the six drivers with a non-empty configuration; any
    # other key, or an empty configuration, silently means filesystem.
    conf["storage_provider_name"] = "filesystem"
    conf["storage_provider_config"] = {}
    for driver in ("filesystem", "azure", "gcs", "s3", "swift", "oss"):
        if storage.get(driver):
            conf["storage_provider_name"] = driver
            conf["storage_provider_config"] = storage[driver]
            break
    conf["storage_redirect_disabled"] = bool((storage.get("redirect") or {}).get("disable"))

    # Like real: each missing or falsy Trivy setting takes its default.
    trivy = configs.get("trivy") or {}
    conf["trivy"] = {
        field: trivy.get(field) or default
        for field, default in (
            ("ignore_unfixed", False),
            ("skip_update", False),
            ("skip_java_db_update", False),
            ("offline_scan", False),
            ("security_check", "vuln"),
            ("insecure", False),
            ("timeout", "5m0s"),
        )
    }
    jobservice = configs.get("jobservice") or {}
    conf["max_job_workers"] = jobservice["max_job_workers"]
    # Like real: a missing, non-integer or shorter maximum job duration is 24 hours.
    hours = jobservice.get("max_job_duration_hours") or 24
    conf["max_job_duration_hours"] = hours if isinstance(hours, int) and hours >= 24 else 24
    conf["job_loggers"] = jobservice["job_loggers"]
    conf["logger_sweeper_duration"] = jobservice["logger_sweeper_duration"]
    notification = configs.get("notification") or {}
    conf["webhook_job_max_retry"] = notification["webhook_job_max_retry"]
    conf["webhook_job_http_client_timeout"] = notification["webhook_job_http_client_timeout"]

    log = configs.get("log") or {}
    conf["log_level"] = log["level"]
    local = log.get("local") or {}
    conf["log_location"] = local.get("location") or "/var/log/harbor"
    conf["log_rotate_count"] = local.get("rotate_count") or 50
    conf["log_rotate_size"] = local.get("rotate_size") or "200M"
    endpoint = log.get("external_endpoint")
    if endpoint:
        conf["log_ep_protocol"] = endpoint.get("protocol")
        conf["log_ep_host"] = endpoint.get("host")
        conf["log_ep_port"] = endpoint.get("port")

    purge = configs.get("upload_purging") or {}
    conf["upload_purging"] = {
        "enabled": bool(purge.get("enabled")),
        "age": purge.get("age") or "168h",
        "interval": purge.get("interval") or "24h",
        "dryrun": bool(purge.get("dryrun")),
    }
    cache = configs.get("cache") or {}
    conf["cache"] = {"enabled": bool(cache.get("enabled")), "expire_hours": cache.get("expire_hours")}

    metric = configs.get("metric") or {}
    conf["metric"] = {
        "enabled": bool(metric.get("enabled")),
        "port": metric.get("port", 9090),
        "path": metric.get("path", "/metrics"),
    }
    conf["trace"] = trace_settings(configs.get("trace") or {})
    # Like real: prepare never reads _version (only migrate does).
    return conf


def trace_settings(trace):
    """Like real models.Trace, JaegerExporter and OtelExporter: an exporter is on when
    its section is not empty; missing values take prepare's defaults."""
    jaeger, otel = trace.get("jaeger") or {}, trace.get("otel") or {}
    return {
        "enabled": trace.get("enabled") or False,
        "sample_rate": trace.get("sample_rate", 1),
        "namespace": trace.get("namespace") or "",
        "attributes": trace.get("attributes") or {},
        "jaeger": {"enabled": bool(jaeger), **{k: jaeger.get(k) for k in JAEGER_FIELDS}},
        "otel": {
            "enabled": bool(otel),
            "endpoint": otel.get("endpoint"),
            "url_path": otel.get("url_path"),
            "compression": otel.get("compression") or False,
            "insecure": otel.get("insecure") or False,
            "timeout": otel.get("timeout") or "10",
        },
    }


JAEGER_FIELDS = ("endpoint", "username", "password", "agent_host", "agent_port")


def trace_env(conf, service):
    """The TRACE_* lines of a service's env file (templates/core/env.jinja and
    jobservice/env.jinja), values raw, the attributes as JSON."""
    trace = conf["trace"]
    if not trace["enabled"]:
        return {}
    values = {
        "TRACE_ENABLED": "true",
        "TRACE_SERVICE_NAME": service,
        "TRACE_SAMPLE_RATE": trace["sample_rate"],
        "TRACE_NAMESPACE": trace["namespace"],
        "TRACE_ATTRIBUTES": json.dumps(trace["attributes"]),
    }
    if trace["jaeger"]["enabled"]:
        jaeger = trace["jaeger"]
        values.update(
            {f"TRACE_JAEGER_{name.upper()}": jaeger[name] or "" for name in ("endpoint", "username", "password")}
        )
        values["TRACE_JAEGER_AGENT_HOSTNAME"] = jaeger["agent_host"] or ""
        values["TRACE_JAEGER_AGENT_PORT"] = jaeger["agent_port"] or ""
    if trace["otel"]["enabled"]:
        otel = trace["otel"]
        values.update(
            {
                "TRACE_OTEL_ENDPOINT": otel["endpoint"],
                "TRACE_OTEL_URL_PATH": otel["url_path"] or "",
                "TRACE_OTEL_COMPRESSION": otel["compression"],
                "TRACE_OTEL_TIMEOUT": otel["timeout"],
                "TRACE_OTEL_INSECURE": otel["insecure"],
            }
        )
    return values


def validate(conf, paths, release):
    """Raise ConfigError for what the real prepare rejects."""
    if conf["hostname"] == "127.0.0.1":
        raise ConfigError("127.0.0.1 can not be the hostname")
    if conf["hostname"] == "reg.mydomain.com":
        raise ConfigError("Please specify hostname")
    if conf["protocol"] == "https":
        if not conf["cert_path"] or conf["cert_path"] == PLACEHOLDER_CERT:
            raise ConfigError("Error: The protocol is https but attribute ssl_cert is not set")
        if not conf["cert_key_path"] or conf["cert_key_path"] in (PLACEHOLDER_KEY, PLACEHOLDER_CERT):
            raise ConfigError("Error: The protocol is https but attribute ssl_cert_key is not set")
    if "log_ep_host" in conf and not conf["log_ep_host"]:
        raise ConfigError("Error: must set log endpoint host to enable external host")
    if "log_ep_port" in conf and not conf["log_ep_port"]:
        raise ConfigError("Error: must set log endpoint port to enable external host")
    if "log_ep_protocol" in conf and conf["log_ep_protocol"] not in ("udp", "tcp"):
        raise ConfigError("Protocol in external log endpoint must be one of 'udp' or 'tcp' ")
    driver = conf["storage_provider_name"]
    if driver not in STORAGE_DRIVERS:
        raise ConfigError(
            f"Error: storage driver {driver} is not supported, only the following ones are supported: "
            + ",".join(STORAGE_DRIVERS)
        )
    if driver != "filesystem" and not conf["storage_provider_config"]:
        raise ConfigError(f"Error: no provider configurations are provided for provider {driver}")
    if conf["ca_bundle"]:
        bundle = paths.on_host(conf["ca_bundle"])
        if not bundle.is_file() or not os.access(bundle, os.R_OK):
            raise ConfigError("Can not get file info")
    purge = conf["upload_purging"]
    if purge["enabled"]:
        for field in ("age", "interval"):
            hours = _hours(purge[field])
            if hours is None or hours < 2:
                raise ConfigError(
                    f"purge upload {field} should set with with nh, n is the number of hour "
                    "and n should not be less than 2"
                )
    cache = conf["cache"]
    if cache["enabled"]:
        hours = cache["expire_hours"]
        if not isinstance(hours, int) or isinstance(hours, bool) or hours <= 0:
            raise ConfigError("cache expire hours should be number")
    if conf["log_level"] not in LOG_LEVELS:
        raise ConfigError("log level must be one of debug, info, warning, error, fatal")
    trace = conf["trace"]
    if trace["enabled"]:
        jaeger, otel = trace["jaeger"], trace["otel"]
        if not jaeger["enabled"] and not otel["enabled"]:
            raise ConfigError("Trace enabled but no trace exporter set")
        if jaeger["enabled"] and otel["enabled"]:
            raise ConfigError("Only can have one trace exporter at a time")
        if jaeger["enabled"] and not jaeger["endpoint"] and not jaeger["agent_host"]:
            raise ConfigError("Jaeger Colector Endpoint or Agent host not set, must set one")
        if jaeger["enabled"] and jaeger["endpoint"] and jaeger["agent_host"]:
            raise ConfigError("Jaeger Colector Endpoint and Agent host both set, only can set one")
        if otel["enabled"] and not otel["endpoint"]:
            raise ConfigError("Trace endpoint not set")
        if otel["enabled"] and not otel["url_path"]:
            raise ConfigError("Trace url path not set")


def owned_dir(path, uid, mode=None):
    """Real prepare's ``prepare_dir``: the mode set, and the tree chowned to ``uid``
    (group the same) unless the directory is owned by it already."""
    if mode is not None:
        path.chmod(mode)
    if path.stat().st_uid != uid or path.stat().st_gid != uid:
        for root, dirs, files in os.walk(path):
            for name in (root, *(os.path.join(root, entry) for entry in dirs + files)):
                os.lchown(name, uid, uid)


def write_file(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    print(f"Generated configuration file: {path}")


def random_string(length=16):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def clear_dir(path):
    """The real prepare's ``delfile`` on common/config: every file in the tree is
    removed, every directory is kept (so a component's folder stays, empty, after it
    is turned off). Like real, links are followed (a link to a file is removed, a link
    to a directory is walked), anything else (a dangling link, a socket) stays, and a
    file that cannot be removed is reported and skipped."""
    if path.is_file():
        try:
            path.unlink()
        except OSError as error:
            print(error)
        else:
            print(f"Clearing the configuration file: {path}")
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            clear_dir(child)


def secret_key(data_dir):
    """Real prepare's ``get_secret_key`` (utils/cert.py ``_get_secret``): the key core
    encrypts the credentials it stores with, ``secret/keys/secretkey``, 16 letters and
    digits, read when there, else generated; ``mark_file``: mode 0600, owned by
    g.py's DEFAULT_UID/GID."""
    path = data_dir / "secret" / "keys" / "secretkey"
    if path.is_file():
        print(f"loaded secret from file: {path}")
        key = path.read_text()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = random_string(16)
        path.write_text(key)
        print(f"Generated and saved secret to file: {path}")
    path.chmod(0o600)
    os.chown(path, SCANNER_UID, SCANNER_UID)  # mark_file
    if len(key) != 16:
        raise ConfigError(f"secret key's length has to be 16 chars, current length: {len(key)}")
    return key


def harbor_owned(path):
    """Real prepare's ``prepare_registry_ca`` on every run: the token pair owned by
    g.py's DEFAULT_UID/GID, whoever wrote it."""
    if path.stat().st_uid != SCANNER_UID or path.stat().st_gid != SCANNER_UID:
        os.chown(path, SCANNER_UID, SCANNER_UID)


def token_key(data_dir):
    """The token signing key, created once and kept like the real secret/core key."""
    key_path = data_dir / "secret" / "core" / "private_key.pem"
    if key_path.is_file():
        harbor_owned(key_path)
        return serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=TOKEN_KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(pem)
    key_path.chmod(0o600)
    harbor_owned(key_path)
    print(f"Generated token signing key: {key_path}")
    return key


def token_certificate(key, data_dir):
    """root.crt for the registry: a self-signed cert over the token key (reused while it matches)."""
    cert_path = data_dir / "secret" / "registry" / "root.crt"
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert_path.is_file():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        existing_public = existing.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if existing_public == public:
            harbor_owned(cert_path)
            return cert_path.read_bytes()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harbor-token-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(pem)
    cert_path.chmod(0o600)
    harbor_owned(cert_path)
    return pem


def copy_server_cert(conf, paths):
    """Copy the host's cert/key to <data_volume>/secret/cert/server.crt|server.key."""
    target = paths.data_dir / "secret" / "cert"
    target.mkdir(parents=True, exist_ok=True)
    for source, name, mode in (
        (conf["cert_path"], "server.crt", 0o644),
        (conf["cert_key_path"], "server.key", 0o600),
    ):
        destination = target / name
        shutil.copyfile(paths.on_host(source), destination)
        destination.chmod(mode)
        print(f"Copied {source} to {destination}")


# g.py: the shared trust folder and the names prepare_trust_ca gives the CAs it copies.
TRUST_DIR = Path("shared") / "trust-certificates"
TRUST_FILES = {"ca_bundle": "storage_ca_bundle.crt", "redis_root_ca": "redis_tls_ca.crt"}
# The services that mount it at /harbor_cust_cert (templates/docker_compose), whose
# start (install_cert.sh) appends its CAs to the system bundle.
TRUST_MOUNT = "./common/config/shared/trust-certificates:/harbor_cust_cert"


def prepare_trust_ca(conf, paths):
    """Like real ``prepare_trust_ca`` (utils/cert.py): the trust folder made afresh,
    holding ``storage_service.ca_bundle`` and ``external_redis.tlsOptions.rootCA`` (the
    internal TLS CA too, which the stand-in has none of), each read on the host, mode
    0644; a path that is missing or not a file is skipped."""
    folder = paths.config_dir / TRUST_DIR
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tls = conf["redis"].get("tlsOptions") or {}
    rootca = tls.get("rootCA") if conf["external_redis"] and tls.get("enable") else None
    for source, name in ((conf["ca_bundle"], TRUST_FILES["ca_bundle"]), (rootca, TRUST_FILES["redis_root_ca"])):
        print(f"copy {source} to shared trust ca dir as name {name} ...")
        if not source or not paths.on_host(source).is_file():
            continue
        shutil.copy2(paths.on_host(source), folder / name)
        (folder / name).chmod(0o644)


def nginx_config(conf):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("nginx.conf.jinja").render(
        https=conf["protocol"] == "https",
        https_port=conf.get("https_port", 443),
        strong_ssl_ciphers=conf.get("strong_ssl_ciphers", False),
        metric=conf["metric"],
    )


def storage_provider_info(name, settings):
    """Like real ``get_storage_provider_info``: ``key: value`` lines formatted raw."""
    settings = dict(settings or {})
    if name == "filesystem":
        settings.setdefault("rootdirectory", "/storage")
    if name == "gcs" and settings.get("keyfile"):
        settings["keyfile"] = "/etc/registry/gcs.key"
    lines = [f"{name}:"]
    for key, value in settings.items():
        # Like real: "== True", so 1 and 1.0 are written true too.
        lines.append(f"{key}: {'' if value is None else 'true' if value == True else value}")  # noqa: E712
    return ("\n" + " " * 4).join(lines)


def _template(name):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name)


def registry_config(conf):
    """Distribution's config.yml: token auth against core, storage as configured; the
    stand-in's registry keeps its layer cache in memory and writes the Redis section
    (as real parse_redis makes it of the registry's Redis URL) only for an external one."""
    return _template("registry_config.yml.jinja").render(
        log_level="debug" if conf["log_level"] == "debug" else "info",
        storage_provider_info=storage_provider_info(conf["storage_provider_name"], conf["storage_provider_config"]),
        purge=conf["upload_purging"],
        redirect_disabled=conf["storage_redirect_disabled"],
        redis=registry_redis(redis_url(conf["redis"], conf["redis"]["registry_db_index"]))
        if conf["external_redis"]
        else None,
        token_issuer=TOKEN_ISSUER,
        token_service=TOKEN_SERVICE,
        public_url=conf["public_url"],
    )


def proxy_env(conf, component):
    """HTTP(S)_PROXY/NO_PROXY lines of a component, raw, when the proxy covers it."""
    proxy = conf["proxy"]
    if component not in proxy["components"]:
        return {}
    no_proxy = ",".join(sorted(INTERNAL_NO_PROXY | set(filter(None, (proxy["no_proxy"] or "").split(",")))))
    return {"HTTP_PROXY": proxy["http_proxy"] or "", "HTTPS_PROXY": proxy["https_proxy"] or "", "NO_PROXY": no_proxy}


def env_file(values):
    """An env file the way real prepare writes one: ``KEY=value`` lines, values raw."""
    return "".join(f"{key}={value}\n" for key, value in values.items())


# Real get_redis_configs' defaults: Harbor's own Redis and its database numbers.
REDIS_DEFAULTS = {
    "host": "redis:6379",
    "password": "",
    "registry_db_index": 1,
    "jobservice_db_index": 2,
    "trivy_db_index": 5,
    "idle_timeout_seconds": 30,
}


def redis_settings(external):
    """Like real ``get_redis_configs``: the defaults overwritten by the external_redis
    values that are truthy, so a 0 (db index, idle timeout) or an empty password keeps
    the default; with TLS on, ``rootCA`` is read (a KeyError without it, like real)."""
    redis = {**REDIS_DEFAULTS, **{key: value for key, value in (external or {}).items() if value}}
    tls = redis.get("tlsOptions") or {}
    if tls.get("enable") and "rootCA" not in tls:
        raise KeyError("rootCA")  # real reads redis['tlsOptions']['rootCA'] then
    return redis


def redis_url(redis, db_index):
    """Like real ``get_redis_url``: rediss with TLS and +sentinel with a master set, the
    username raw, the password URL-quoted, no database part for 0, and the idle timeout."""
    scheme = ("rediss" if (redis.get("tlsOptions") or {}).get("enable") else "redis") + (
        "+sentinel" if redis.get("sentinel_master_set") else ""
    )
    password = quote(str(redis.get("password") or ""), safe="")
    auth = (redis.get("username") or "") + (f":{password}@" if password else "")
    sentinel = f"/{redis['sentinel_master_set']}" if redis.get("sentinel_master_set") else ""
    database = f"/{db_index}" if db_index else ""
    params = f"?{urlencode({'idle_timeout_seconds': redis['idle_timeout_seconds']})}"
    return f"{scheme}://{auth}{redis['host']}{sentinel}{database}{params}"


def registry_redis(url):
    """Like real ``parse_redis``: what the registry's config.yml gets of the registry's
    Redis URL (the password unquoted again, written raw)."""
    parts = urlsplit(url)
    path = parts.path.split("/")
    if parts.scheme.endswith("+sentinel"):
        database = int(path[2]) if len(path) == 3 else 0
    else:
        database = int(parts.path[1:]) if parts.path else 0
    return {
        "host": parts.netloc.split("@")[-1],
        "password": "" if parts.password is None else unquote(parts.password),
        "db": database,
    }


def core_env(conf):
    database = conf["database"]
    values = {
        "CONFIG_PATH": "/etc/core/app.conf",
        "EXT_ENDPOINT": conf["public_url"],
        "HARBOR_ADMIN_PASSWORD": conf["harbor_admin_password"],
        "MAX_JOB_WORKERS": conf["max_job_workers"],
        "AUTH_MODE": "db_auth",
        "CORE_URL": "http://core:8080",
        "CORE_SECRET": conf["core_secret"],
        "JOBSERVICE_SECRET": conf["jobservice_secret"],
        "CSRF_KEY": conf["csrf_key"],
        "ROBOT_SCANNER_NAME_PREFIX": conf["scan_robot_prefix"],
        "TOKEN_SERVICE_URL": "http://core:8080/service/token",
        "TOKEN_PRIVATE_KEY_PATH": "/etc/core/private_key.pem",
        "TOKEN_EXPIRATION": "30",
        "PORTAL_URL": "http://portal:8080",
        "REGISTRY_URL": "http://registry:5000",
        "REGISTRY_CONTROLLER_URL": "http://registryctl:8080",
        "REGISTRY_STORAGE_PROVIDER_NAME": conf["storage_provider_name"],
        "JOBSERVICE_URL": "http://jobservice:8080",
        "TRIVY_ADAPTER_URL": "http://trivy-adapter:8080",
        "WITH_TRIVY": "true" if conf["with_trivy"] else "false",
        "POSTGRESQL_HOST": database["host"],
        "POSTGRESQL_PORT": database["port"],
        "POSTGRESQL_USERNAME": database["username"],
        "POSTGRESQL_PASSWORD": database["password"],
        "POSTGRESQL_DATABASE": database["db_name"],
        "POSTGRESQL_SSLMODE": database["ssl_mode"],
        "POSTGRESQL_MAX_IDLE_CONNS": database["max_idle_conns"],
        "POSTGRESQL_MAX_OPEN_CONNS": database["max_open_conns"],
        "POSTGRESQL_CONN_MAX_LIFETIME": database["conn_max_lifetime"],
        "POSTGRESQL_CONN_MAX_IDLE_TIME": database["conn_max_idle_time"],
        "_REDIS_URL_CORE": redis_url(conf["redis"], 0),
        "_REDIS_URL_REG": redis_url(conf["redis"], conf["redis"]["registry_db_index"]),
        "LOG_LEVEL": conf["log_level"],
        "DATA_DIR": "/data",
        "CA_DOWNLOAD_PATH": "/etc/core/ca/ca.crt",
    }
    return env_file({**values, **proxy_env(conf, "core"), **trace_env(conf, "harbor-core")})


def jobservice_config(conf):
    """templates/jobservice/config.yml.jinja, the part the stand-in reads: the Redis
    queue of jobs (the jobservice database of Harbor's Redis, or external_redis)."""
    pool = {
        "redis_url": redis_url(conf["redis"], conf["redis"]["jobservice_db_index"]),
        "namespace": "harbor_job_service_namespace",
        "idle_timeout_second": 3600,
    }
    return yaml.safe_dump({"protocol": "http", "port": 8080, "worker_pool": {"backend": "redis", "redis_pool": pool}})


def logrotate_config(conf):
    return (
        "/var/log/docker/*.log {\n"
        f"    rotate {conf['log_rotate_count']}\n"
        f"    size {conf['log_rotate_size']}\n"
        "    copytruncate\n    compress\n    missingok\n    nodateext\n}\n"
    )


def _syslog(tag):
    return {"driver": "syslog", "options": {"syslog-address": LOG_ADDRESS, "tag": tag}}


def _service(image, container, tag, depends_on=("log",), **extra):
    service = {
        "image": image,
        "container_name": container,
        "restart": "always",
        "networks": ["harbor"],
        "dns_search": ".",
        **extra,
        "depends_on": list(depends_on),
        "logging": _syslog(tag),
    }
    return service


def compose_config(conf, release):
    """docker-compose.yml: the real 2.13 services, containers, ports and mounts."""
    data = conf["data_volume"].rstrip("/")
    local_state = [
        name
        for name, external in (("redis", conf["external_redis"]), ("postgresql", conf["external_database"]))
        if not external
    ]
    services = {
        "log": {
            "image": f"goharbor/harbor-log:{release}",
            "container_name": "harbor-log",
            "restart": "always",
            "dns_search": ".",
            "volumes": [
                f"{conf['log_location'].rstrip('/')}/:/var/log/docker/:z",
                "./common/config/log/logrotate.conf:/etc/logrotate.d/logrotate.conf:z",
            ],
            "ports": ["127.0.0.1:1514:10514"],
            "networks": ["harbor"],
        },
        "registry": _service(
            f"goharbor/registry-photon:{release}",
            "registry",
            "registry",
            volumes=[f"{data}/registry:/storage:z", "./common/config/registry/:/etc/registry/:z", TRUST_MOUNT],
        ),
        "registryctl": _service(
            f"goharbor/harbor-registryctl:{release}",
            "registryctl",
            "registryctl",
            env_file=["./common/config/registryctl/env"],
            volumes=[f"{data}/registry:/storage:z", "./common/config/registry/:/etc/registry/:z", TRUST_MOUNT],
        ),
        "postgresql": _service(
            f"goharbor/harbor-db:{release}",
            "harbor-db",
            "postgresql",
            env_file=["./common/config/db/env"],
            volumes=[f"{data}/database:/var/lib/postgresql/data:z"],
        ),
        "core": _service(
            f"goharbor/harbor-core:{release}",
            "harbor-core",
            "core",
            depends_on=("log", "registry", *local_state),
            env_file=["./common/config/core/env"],
            volumes=[
                f"{data}/ca_download/:/etc/core/ca/:z",
                f"{data}/:/data/:z",
                f"{data}/secret/core/private_key.pem:/etc/core/private_key.pem:z",
                TRUST_MOUNT,
            ],
        ),
        "portal": _service(f"goharbor/harbor-portal:{release}", "harbor-portal", "portal"),
        "jobservice": _service(
            f"goharbor/harbor-jobservice:{release}",
            "harbor-jobservice",
            "jobservice",
            depends_on=("core",),
            env_file=["./common/config/jobservice/env"],
            volumes=[
                f"{data}/job_logs:/var/log/jobs:z",
                "./common/config/jobservice/config.yml:/etc/jobservice/config.yml:z",
                TRUST_MOUNT,
            ],
        ),
        "redis": _service(
            f"goharbor/redis-photon:{release}",
            "redis",
            "redis",
            volumes=[f"{data}/redis:/var/lib/redis"],
        ),
    }
    proxy_ports = [f"{conf['http_port']}:8080"]
    proxy_volumes = ["./common/config/nginx:/etc/nginx:z", TRUST_MOUNT]
    if conf["protocol"] == "https":
        proxy_ports.append(f"{conf['https_port']}:8443")
        proxy_volumes.append(f"{data}/secret/cert:/etc/cert:z")
    if conf["metric"]["enabled"]:
        proxy_ports.append(f"{conf['metric']['port']}:9090")
    services["proxy"] = _service(
        f"goharbor/nginx-photon:{release}",
        "nginx",
        "proxy",
        depends_on=("registry", "core", "portal", "log"),
        volumes=proxy_volumes,
        ports=proxy_ports,
    )
    if conf["with_trivy"]:
        services["trivy-adapter"] = _service(
            f"goharbor/trivy-adapter-photon:{release}",
            "trivy-adapter",
            "trivy-adapter",
            depends_on=("log", *[name for name in local_state if name == "redis"]),
            env_file=["./common/config/trivy-adapter/env"],
            volumes=[
                f"{data}/trivy-adapter/trivy:/home/scanner/.cache/trivy",
                f"{data}/trivy-adapter/reports:/home/scanner/.cache/reports",
                TRUST_MOUNT,
            ],
        )
    if conf["metric"]["enabled"]:
        services["exporter"] = _service(
            f"goharbor/harbor-exporter:{release}",
            "harbor-exporter",
            "exporter",
            depends_on=("core",),
            env_file=["./common/config/exporter/env"],
            volumes=[TRUST_MOUNT],
        )
    # Like real: with external_database / external_redis, no harbor-db / redis container.
    for name in ("postgresql", "redis"):
        if name not in local_state:
            del services[name]
    return {"version": "2.3", "services": services, "networks": {"harbor": {"external": False}}}


def prepare(paths, config_file, with_trivy, release):
    """Validate harbor.yml and write everything the compose project needs."""
    configs = yaml.safe_load(Path(config_file).read_text())
    clear_dir(paths.config_dir)
    conf = parse_config(configs, with_trivy=with_trivy)
    try:
        validate(conf, paths, release)
    except ConfigError as error:
        print("Error happened in config validation...")
        print(f"ERROR:root:{error}", file=sys.stderr)
        return 255

    for sub in ("registry", "database", "redis", "job_logs", "ca_download", "secret/cert"):
        (paths.data_dir / sub).mkdir(parents=True, exist_ok=True)
    # Like real: the bundled PostgreSQL and Redis run as uid 999 and own their data.
    if not conf["external_database"]:
        owned_dir(paths.data_dir / "database", DATA_UID, mode=0o700)
    if not conf["external_redis"]:
        owned_dir(paths.data_dir / "redis", DATA_UID)
    if with_trivy:
        # utils/trivy_adapter.py: both owned by the scanner user (g.py DEFAULT_UID).
        for sub in ("trivy-adapter/trivy", "trivy-adapter/reports"):
            (paths.data_dir / sub).mkdir(parents=True, exist_ok=True)
            owned_dir(paths.data_dir / sub, SCANNER_UID, mode=0o755)

    config_dir = paths.config_dir
    write_file(config_dir / "nginx" / "nginx.conf", nginx_config(conf))
    if conf["protocol"] == "https":
        copy_server_cert(conf, paths)
    else:
        print(
            "WARNING:root:WARNING: HTTP protocol is insecure. Harbor will deprecate http protocol in the future. "
            "Please make sure to upgrade to https"
        )

    key = token_key(paths.data_dir)
    root_crt = token_certificate(key, paths.data_dir).decode()
    write_file(config_dir / "registry" / "root.crt", root_crt)
    write_file(config_dir / "registry" / "config.yml", registry_config(conf))
    write_file(config_dir / "core" / "env", core_env(conf), mode=0o600)
    write_file(config_dir / "db" / "env", env_file({"POSTGRES_PASSWORD": conf["db_password"]}), mode=0o600)
    write_file(
        config_dir / "jobservice" / "env",
        env_file(
            {
                "CORE_SECRET": conf["core_secret"],
                "JOBSERVICE_SECRET": conf["jobservice_secret"],
                "CORE_URL": "http://core:8080",
                "REGISTRY_CONTROLLER_URL": "http://registryctl:8080",
                "JOBSERVICE_WEBHOOK_JOB_MAX_RETRY": conf["webhook_job_max_retry"],
                "JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT": conf["webhook_job_http_client_timeout"],
                "MAX_JOB_DURATION_SECONDS": conf["max_job_duration_hours"] * 3600,
                **proxy_env(conf, "jobservice"),
                **trace_env(conf, "harbor-jobservice"),
            }
        ),
        mode=0o600,
    )
    write_file(
        config_dir / "registryctl" / "env",
        env_file({"CORE_SECRET": conf["core_secret"], "JOBSERVICE_SECRET": conf["jobservice_secret"]}),
        mode=0o600,
    )
    write_file(config_dir / "jobservice" / "config.yml", jobservice_config(conf), mode=0o600)
    if with_trivy:
        write_file(
            config_dir / "trivy-adapter" / "env",
            env_file(
                {
                    "SCANNER_LOG_LEVEL": conf["log_level"],
                    "SCANNER_REDIS_URL": redis_url(conf["redis"], conf["redis"]["trivy_db_index"]),
                    # Fixed in templates/trivy-adapter/env.jinja: where the database is read.
                    "SCANNER_TRIVY_CACHE_DIR": "/home/scanner/.cache/trivy",
                    "SCANNER_TRIVY_REPORTS_DIR": "/home/scanner/.cache/reports",
                    "SCANNER_TRIVY_VULN_TYPE": "os,library",
                    "SCANNER_TRIVY_SEVERITY": "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",
                    **{
                        variable: conf["trivy"][field]
                        for variable, field in (
                            ("SCANNER_TRIVY_IGNORE_UNFIXED", "ignore_unfixed"),
                            ("SCANNER_TRIVY_SKIP_UPDATE", "skip_update"),
                            ("SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE", "skip_java_db_update"),
                            ("SCANNER_TRIVY_OFFLINE_SCAN", "offline_scan"),
                            ("SCANNER_TRIVY_SECURITY_CHECKS", "security_check"),
                            ("SCANNER_TRIVY_INSECURE", "insecure"),
                            ("SCANNER_TRIVY_TIMEOUT", "timeout"),
                        )
                    },
                    **proxy_env(conf, "trivy"),
                }
            ),
            mode=0o600,
        )
    if conf["metric"]["enabled"]:
        database = conf["database"]
        write_file(
            config_dir / "exporter" / "env",
            env_file(
                {
                    "HARBOR_DATABASE_HOST": database["host"],
                    "HARBOR_DATABASE_PORT": database["port"],
                    "HARBOR_DATABASE_USERNAME": database["username"],
                    "HARBOR_DATABASE_PASSWORD": database["password"],
                    "HARBOR_DATABASE_DBNAME": database["db_name"],
                    "HARBOR_REDIS_URL": redis_url(conf["redis"], conf["redis"]["jobservice_db_index"]),
                }
            ),
            mode=0o600,
        )
    write_file(config_dir / "log" / "logrotate.conf", logrotate_config(conf))
    prepare_trust_ca(conf, paths)
    secret_key(paths.data_dir)
    write_file(
        paths.compose_dir / "docker-compose.yml",
        yaml.safe_dump(compose_config(conf, release), sort_keys=False),
    )
    return 0


def host_path(path, paths):
    """A path given on the host command line, read through /hostfs like the real migrate."""
    text = str(path)
    if text.startswith(str(paths.hostfs) + "/"):
        return Path(text)
    return paths.on_host(text)


def migrate(input_path, output_path, target):
    """Move harbor.yml's ``_version`` forward to ``target``, at most two minors at once."""
    text = Path(input_path).read_text()
    current = str((yaml.safe_load(text) or {}).get("_version"))
    if current == target:
        print(f"Version of input harbor.yml is identical to target {target}, no need to upgrade")
        return 0
    if not re.fullmatch(r"\d+\.\d+\.\d+", current) or parse_version(current) < (1, 9, 0):
        print(f"the version {current} not supported, make sure the version in input file above 1.8.0")
        return 255
    old, new = parse_version(current), parse_version(target)
    if old > new:
        print(f"the version {current} is newer than the target {target}")
        return 255
    if old[0] != new[0] or new[1] - old[1] > 2:
        print(f"upgrading from {current} to {target} skips more than two minor versions: upgrade in steps")
        return 255
    for minor in range(old[1] + 1, new[1] + 1):
        print(f"migrating to version {new[0]}.{minor}.0")
    migrated = re.sub(r"(?m)^_version:.*$", f"_version: {target}", text)
    Path(output_path).write_text(migrated)
    print(f"Written new values to {output_path}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="prepare")
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_cmd = commands.add_parser("prepare")
    prepare_cmd.add_argument("--conf", default=None, help="the path of Harbor configuration file")
    prepare_cmd.add_argument("--with-trivy", action="store_true")
    migrate_cmd = commands.add_parser("migrate")
    migrate_cmd.add_argument("-i", "--input", dest="input_", required=True)
    migrate_cmd.add_argument("-o", "--output", default="")
    migrate_cmd.add_argument("-t", "--target", default=None)
    args = parser.parse_args(argv)

    paths = Paths.from_env()
    release = image_version()
    if args.command == "prepare":
        config_file = args.conf or paths.input_dir / "harbor.yml"
        return prepare(paths, config_file, args.with_trivy, release)
    source = host_path(args.input_, paths)
    output = host_path(args.output, paths) if args.output else source
    return migrate(source, output, args.target or config_version(release))


if __name__ == "__main__":
    sys.exit(main())
