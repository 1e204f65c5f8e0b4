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
from pathlib import Path

import jinja2
import yaml

from harbor_deploy.defaults import SERVER_TLS_CERTIFICATE, SERVER_TLS_PRIVATE_KEY
from harbor_deploy.secrets import MASK
from harbor_deploy.validate import VERSION_RE

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "harbor.yml.j2"
JINJA_ENV_KWARGS = {"trim_blocks": True, "lstrip_blocks": True}

# Harbor's defaults for the external database fields the inventory may leave out.
EXTERNAL_DATABASE_DEFAULTS = {"ssl_mode": "disable", "max_idle_conns": 2, "max_open_conns": 0}

# Keys whose values are secrets, in harbor.yml itself and in storage driver settings.
SECRET_FIELD_RE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?(?P<key>[\w-]*(?:password|secret|token|accountkey)[\w-]*)\s*:\s*)"
    r"(?P<value>.+?)\s*$",
    re.IGNORECASE,
)


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
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=True, allow_unicode=True,
                     width=float("inf"), **style)
    return text.removesuffix("\n...\n").removesuffix("\n")


def config_version(version):
    """harbor.yml's ``_version``: ``v2.13.1`` -> ``2.13.0`` (migrate knows only X.Y.0)."""
    match = VERSION_RE.match(version)
    if not match:
        raise ValueError(f'not a concrete Harbor version: {version!r} (resolve "latest" first)')
    major, minor, _ = match.groups()
    return f"{major}.{minor}.0"


def _password(inline, secret):
    if inline:
        return inline
    return secret.reveal() if secret is not None else None


def context(config, secrets, version=None):
    """The template's variables for ``config`` (merged, validated data) and ``secrets``.

    ``version`` is the concrete release when ``config["harbor_version"]`` is "latest".
    """
    version = version or config["harbor_version"]
    https = None
    if config["harbor_tls_mode"] != "http":
        https = {"port": config["harbor_https_port"], "certificate": SERVER_TLS_CERTIFICATE,
                 "private_key": SERVER_TLS_PRIVATE_KEY}
    external_database = None
    if config["harbor_external_database"]:
        external_database = {**EXTERNAL_DATABASE_DEFAULTS, **config["harbor_external_database"]}
        external_database["password"] = _password(external_database.get("password"),
                                                  secrets.external_db_password)
    external_redis = None
    if config["harbor_external_redis"]:
        external_redis = dict(config["harbor_external_redis"])
        external_redis["password"] = _password(external_redis.get("password"),
                                               secrets.external_redis_password)
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
            "conn_max_lifetime": config["harbor_db_conn_max_lifetime"],
            "conn_max_idle_time": config["harbor_db_conn_max_idle_time"],
        },
        "data_volume": config["harbor_data_volume"],
        "storage_service": config["harbor_storage_service"],
        "trivy": {field: config[f"harbor_trivy_{field}"] for field in (
            "ignore_unfixed", "skip_update", "skip_java_db_update", "offline_scan",
            "security_check", "insecure", "timeout")},
        "jobservice": {field: config[f"harbor_jobservice_{field}"] for field in (
            "max_job_workers", "max_job_duration_hours", "job_loggers", "logger_sweeper_duration")},
        "notification": {field: config[f"harbor_notification_{field}"] for field in (
            "webhook_job_max_retry", "webhook_job_http_client_timeout")},
        "log": {field: config[f"harbor_log_{field}"] for field in (
            "level", "rotate_count", "rotate_size", "location", "external_endpoint")},
        "config_version": config_version(version),
        "external_database": external_database,
        "external_redis": external_redis,
        "proxy": config["harbor_proxy"],
        "metric": config["harbor_metric"],
        "upload_purging": config["harbor_upload_purging"],
        "cache": config["harbor_cache"],
    }


@functools.cache
def _template():
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False, **JINJA_ENV_KWARGS)
    return environment.get_template(TEMPLATE.name)


def render(config, secrets, version=None):
    """The complete harbor.yml text (contains secrets: upload it 0600, never print it)."""
    return _template().render(context(config, secrets, version))


def masked(text):
    """``text`` (a rendered harbor.yml) with every secret value replaced by ``*****``."""
    lines = []
    for line in text.split("\n"):
        match = SECRET_FIELD_RE.match(line)
        if match and match.group("value") not in ("null", "''", '""'):
            line = match.group("lead") + MASK
        lines.append(line)
    return "\n".join(lines)
