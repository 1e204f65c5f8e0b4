"""harbor.yml from the deploy's configuration and secrets.

``render`` returns the complete file (every key Harbor's ``prepare`` needs) as
text, byte-identical for the same input. Values are YAML-quoted by the ``y`` and
``block`` helpers the template receives in its context, so ``context(...)`` also
works with pyinfra's ``files.template(src=TEMPLATE, jinja_env_kwargs=JINJA_ENV_KWARGS,
**context(...))``.
``masked`` returns the text with secret values replaced, for dry-run diffs.
"""

import functools
import re

import jinja2
import yaml

from harbor_deploy.lib import TEMPLATES
from harbor_deploy.lib.config.defaults import SERVER_TLS_CERTIFICATE, SERVER_TLS_PRIVATE_KEY
from harbor_deploy.lib.config.secrets import MASK, resolved
from harbor_deploy.lib.config.validate import STORAGE_OPTIONS, VERSION_RE

TEMPLATE = TEMPLATES / "harbor.yml.j2"
JINJA_ENV_KWARGS = {"trim_blocks": True, "lstrip_blocks": True}

# Harbor's defaults for the external database fields the inventory may leave out.
EXTERNAL_DATABASE_DEFAULTS = {"ssl_mode": "disable", "max_idle_conns": 2, "max_open_conns": 0}

# Keys whose values are secrets anywhere in harbor.yml.
SECRET_KEY_RE = re.compile(
    r"[\w-]*(?:password|secret|token|accesskey|accountkey|encodedkey|privatekey|keyfile)[\w-]*", re.IGNORECASE
)
# Sections whose values are all treated as secrets (credentials of storage drivers,
# databases, Redis, proxies and log endpoints have many names), but these fields.
SECRET_SECTIONS = ("storage_service", "external_database", "external_redis", "proxy", "external_endpoint")
NOT_SECRET_FIELDS = frozenset(
    (
        "ca_bundle",
        "redirect",
        "disable",
        "maxthreads",
        "rootdirectory",
        "region",
        "bucket",
        "regionendpoint",
        "encrypt",
        "secure",
        "skipverify",
        "v4auth",
        "chunksize",
        "storageclass",
        "multipartcopychunksize",
        "multipartcopymaxconcurrency",
        "multipartcopythresholdsize",
        "container",
        "realm",
        "accountname",
        "insecureskipverify",
        "authurl",
        "tenant",
        "tenantid",
        "domain",
        "domainid",
        "internal",
        "endpoint",
        "host",
        "port",
        "db_name",
        "username",
        "ssl_mode",
        "max_idle_conns",
        "max_open_conns",
        "conn_max_lifetime",
        "conn_max_idle_time",
        "protocol",
        "components",
        "no_proxy",
        "http_proxy",
        "https_proxy",
        "sentinel_master_set",
        "registry_db_index",
        "jobservice_db_index",
        "trivy_db_index",
        "harbor_db_index",
        "cache_layer_db_index",
        "idle_timeout_seconds",
    )
)
LINE_RE = re.compile(r"^(?P<indent>\s*)(?P<item>-\s+)?(?:(?P<key>[\w.-]+)\s*:(?:\s+|$))?(?P<value>.*?)\s*$")
# user:password@ (or a token@) in any URL.
URL_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
EMPTY_VALUES = ("", "null", "~", "''", '""')


# YAML 1.1 line breaks; a string holding one is emitted double-quoted and escaped.
LINE_BREAKS = "\n\r\x85\u2028\u2029"


class _Dumper(yaml.SafeDumper):
    """Safe YAML where every string stays on one line (escaped), so masking works per line."""


def _represent_str(dumper, value):
    style = '"' if any(c in value for c in LINE_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def y(value):
    """``value`` as a one-line YAML scalar or flow collection, quoted when needed."""
    return _dump(value, default_flow_style=True)


def block(value, indent):
    """``value`` (dict or list) as block YAML, every line indented by ``indent`` spaces."""
    text = _dump(value, default_flow_style=False)
    return "\n".join(" " * indent + line for line in text.split("\n"))


def _dump(value, **style):
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=float("inf"), **style)
    return text.removesuffix("\n...\n").removesuffix("\n")


def config_version(version):
    """harbor.yml's ``_version``: ``v2.13.1`` -> ``2.13.0`` (migrate knows only X.Y.0)."""
    match = VERSION_RE.match(version)
    if not match:
        raise ValueError(f'not a concrete Harbor version: {version!r} (resolve "latest" first)')
    major, minor, _ = match.groups()
    return f"{major}.{minor}.0"


def duration(value):
    """A Go duration for harbor.yml: always a string, as prepare keeps "0" but replaces
    an integer 0 by its default (make/photon/prepare/utils/configs.py ``or '5m'``)."""
    return str(value)


def driver_settings(settings):
    """A storage driver's settings for harbor.yml, numbers written as strings: prepare
    writes every setting raw into the registry's config.yml but turns one that
    ``== True`` (1, 1.0) into ``true`` (utils/registry.py get_storage_provider_info);
    the string "1" it writes as ``1``, which the registry reads as the number."""
    return {
        name: str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        for name, value in settings.items()
    }


def storage_service(storage):
    if not storage:
        return storage
    return {
        name: driver_settings(value) if name not in STORAGE_OPTIONS and isinstance(value, dict) else value
        for name, value in storage.items()
    }


def _password(inline, secret):
    if inline:
        return inline
    return secret.reveal() if secret is not None else None


def job_loggers(config, nodes=1):
    """The job loggers: the data's, with ``DB`` added for a Harbor of several nodes. A
    ``FILE`` log stays on the node that ran the job; only ``DB`` makes a job's log
    readable from every node (jobservice's logger backends, src/jobservice/logger)."""
    loggers = list(config["harbor_jobservice_job_loggers"])
    return [*loggers, "DB"] if nodes > 1 and "DB" not in loggers else loggers


def context(config, secrets, version=None, nodes=1):
    """The template's variables for ``config`` (merged, validated data) and ``secrets``.

    ``version`` is the concrete release when ``config["harbor_version"]`` is "latest".
    """
    version = version or config["harbor_version"]
    https = None
    if config["harbor_tls_mode"] != "http":
        https = {
            "port": config["harbor_https_port"],
            "certificate": SERVER_TLS_CERTIFICATE,
            "private_key": SERVER_TLS_PRIVATE_KEY,
        }
    lifetimes = {
        "conn_max_lifetime": duration(config["harbor_db_conn_max_lifetime"]),
        "conn_max_idle_time": duration(config["harbor_db_conn_max_idle_time"]),
    }
    external_database = None
    if config["harbor_external_database"]:
        # prepare reads the pool's lifetimes of an external database from its own section.
        external_database = {**EXTERNAL_DATABASE_DEFAULTS, **config["harbor_external_database"], **lifetimes}
        external_database["password"] = _password(external_database.get("password"), secrets.external_db_password)
    external_redis = None
    if config["harbor_external_redis"]:
        external_redis = dict(config["harbor_external_redis"])
        external_redis["password"] = _password(external_redis.get("password"), secrets.external_redis_password)
    return {
        "y": y,
        "block": block,
        "hostname": config["harbor_hostname"],
        "http_port": config["harbor_http_port"],
        "https": https,
        "external_url": config["harbor_external_url"],
        "admin_password": secrets.admin_password.reveal(),
        "database": {
            "password": secrets.db_password.reveal(),
            "max_idle_conns": config["harbor_db_max_idle_conns"],
            "max_open_conns": config["harbor_db_max_open_conns"],
            **lifetimes,
        },
        "data_volume": config["harbor_data_volume"],
        "storage_service": storage_service(resolved(config["harbor_storage_service"], secrets.referenced)),
        "trivy": {
            **{
                field: config[f"harbor_trivy_{field}"]
                for field in (
                    "ignore_unfixed",
                    "skip_update",
                    "skip_java_db_update",
                    "offline_scan",
                    "security_check",
                    "insecure",
                )
            },
            **offline_trivy(config),
            "timeout": duration(config["harbor_trivy_timeout"]),
        },
        "jobservice": {
            **{
                field: config[f"harbor_jobservice_{field}"]
                for field in ("max_job_workers", "max_job_duration_hours", "logger_sweeper_duration")
            },
            "job_loggers": job_loggers(config, nodes),
        },
        "notification": {
            field: config[f"harbor_notification_{field}"]
            for field in ("webhook_job_max_retry", "webhook_job_http_client_timeout")
        },
        "log": {
            field: config[f"harbor_log_{field}"]
            for field in ("level", "rotate_count", "rotate_size", "location", "external_endpoint")
        },
        "config_version": config_version(version),
        "external_database": external_database,
        "external_redis": external_redis,
        "proxy": resolved(config["harbor_proxy"], secrets.referenced),
        "strong_ssl_ciphers": config["harbor_tls_strong_ssl_ciphers"],
        "trace": resolved(config["harbor_trace"], secrets.referenced),
        "metric": config["harbor_metric"],
        "upload_purging": config["harbor_upload_purging"],
        "cache": config["harbor_cache"],
    }


@functools.cache
def _template():
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        **JINJA_ENV_KWARGS,
    )
    return environment.get_template(TEMPLATE.name)


def offline_trivy(config):
    """The trivy settings a database brought offline implies: no download of it (with
    ``skip_update`` alone a first run still tries, goharbor/harbor#17623; the placed
    database is there), and scans without network lookups."""
    implied = {}
    if config["harbor_trivy_offline_db"]:
        implied.update({"skip_update": True, "offline_scan": True})
    if config["harbor_trivy_offline_java_db"]:
        implied["skip_java_db_update"] = True
    return implied


def render(config, secrets, version=None, nodes=1):
    """The complete harbor.yml text (contains secrets: upload it 0600, never print it);
    ``nodes``: how many nodes the Harbor has."""
    return _template().render(context(config, secrets, version, nodes))


def masked(text):
    """``text`` (a harbor.yml: rendered, or found on a server) with every secret value
    replaced by ``*****``: values of secret-named keys anywhere, every value under the
    credential sections (``SECRET_SECTIONS``) but the ``NOT_SECRET_FIELDS``, and the
    ``user:password@`` of any URL. A masked value's further lines (a block scalar
    ``key: >-`` or ``|``, a plain or quoted scalar over several lines: all indented
    deeper than the value's node) are masked too, as is a value on the line after its key."""
    lines, parents = [], []  # parents: (indent, key) of the enclosing mappings
    value_column = None  # the column of the node whose masked value may go on over the next lines
    for line in text.split("\n"):
        match = LINE_RE.match(line)
        if value_column is not None:
            if not line.strip() or len(line) - len(line.lstrip()) > value_column:
                lines.append(line[: len(line) - len(line.lstrip())] + MASK if line.strip() else line)
                continue
            value_column = None
        if not line.strip() or line.lstrip().startswith("#") or not match:
            lines.append(line)
            continue
        indent, key, value = len(match.group("indent")), match.group("key"), match.group("value")
        while (
            parents
            and parents[-1][0] >= indent
            and not (match.group("item") and parents[-1][0] == indent and key is None)
        ):
            parents.pop()
        path = [name for _, name in parents]
        in_section = any(name in SECRET_SECTIONS for name in path + ([key] if key and not value else []))
        field = key or (path[-1] if path else "")
        if (
            value not in EMPTY_VALUES
            and not value.startswith("#")
            and (SECRET_KEY_RE.fullmatch(field) or in_section and field not in NOT_SECRET_FIELDS)
        ):
            shown = line[: match.start("value")] + MASK
            value_column = match.start("key") if key else indent
        else:
            shown = URL_USERINFO_RE.sub(lambda found: f"{found.group('scheme')}{MASK}@", line)
        if key and not value:
            parents.append((indent, key))
        lines.append(shown)
    return "\n".join(lines)


def secrets_of(text):
    """The secrets an installed harbor.yml holds, by secret name (``harbor_deploy.lib.config.secrets.SPECS``);
    values absent from the file are left out. Never print the result."""
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {}
    if not isinstance(config, dict):
        return {}

    def value(*path):
        node = config
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        # A hand-written harbor.yml may hold an unquoted number.
        return str(node) if isinstance(node, str | int | float) and not isinstance(node, bool) and node != "" else None

    found = {
        "admin_password": value("harbor_admin_password"),
        "db_password": value("database", "password"),
        "external_db_password": value("external_database", "harbor", "password"),
        "external_redis_password": value("external_redis", "password"),
    }
    return {name: secret for name, secret in found.items() if secret is not None}
