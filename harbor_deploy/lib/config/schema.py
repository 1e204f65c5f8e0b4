"""The shape of every inventory key as JSON Schema, beside the key table (``defaults.KEYS``).

Types, required fields, enums, ranges and ``additionalProperties: false`` live here;
``validate`` keeps only the rules with meaning (Harbor's hostname and password rules,
port clashes, version paths...). ``problems`` turns schema errors into the deploy's
messages: ``(key, why)`` with the field path inside the key, and a "did you mean" for
an unknown field.
"""

import difflib

from jsonschema import Draft202012Validator, validators

from harbor_deploy.lib.config.defaults import (
    CLIENT_CA_SOURCES,
    CLIENT_TRUST_MODES,
    INSTALLER_SOURCES,
    KEYS,
    LB_TLS_MODES,
    LOG_LEVELS,
    TLS_MODES,
)
from harbor_deploy.lib.config.readers import GO_DURATION_RE
from harbor_deploy.lib.harbor_api.resources.configurations import (
    AUTH_MODES,
    AUTH_SECRETS,
    LDAP_DEFAULTS,
    OIDC_DEFAULTS,
    SETTING_DEFAULTS,
)
from harbor_deploy.lib.harbor_api.resources.groups import GROUP_TYPES
from harbor_deploy.lib.harbor_api.resources.projects import ROLES, SEVERITIES
from harbor_deploy.lib.harbor_api.resources.registries import REGISTRY_TYPES
from harbor_deploy.lib.harbor_api.resources.replication import FLATTEN_LEVELS, RESOURCES, TRIGGERS
from harbor_deploy.lib.harbor_api.resources.retention import RETENTION_TEMPLATES
from harbor_deploy.lib.harbor_api.resources.webhooks import EVENT_TYPES, NOTIFY_TYPES, PAYLOAD_FORMATS

# "x-why" is the message of a pattern or alternative that fails (our own keyword).
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
STR = {"type": "string", "minLength": 1}
OPTIONAL_STR = {"type": ["string", "null"]}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
STATE = {"enum": ["present", "absent"]}
NAME = {
    "type": "string",
    "pattern": r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$",
    "x-why": "must be lowercase letters, digits and . _ - (Harbor's rule)",
}
# Harbor reads it with Go's time.ParseDuration: a number needs its unit ("600" fails);
# 0 is rendered "0", which prepare keeps (it replaces an integer 0 by its default).
GO_DURATION = {
    "anyOf": [{"const": 0}, {"type": "string", "pattern": rf"^{GO_DURATION_RE.pattern}\Z"}],
    "x-why": 'must be a Go duration such as "5m", "1h30m" or "0" (a number needs its unit)',
}
HOURS = {"type": "string", "pattern": r"^\d+h$", "x-why": "must be <n>h (e.g. 168h)"}
SIZE = {
    "anyOf": [{"type": "integer"}, {"type": "string", "minLength": 1}],
    "x-why": 'must be -1, a number of bytes or a size such as "10G"',
}
SCHEDULE = {"type": "string", "minLength": 1, "x-why": "must be Hourly, Daily, Weekly or a 6-field cron"}
SHA256 = {"type": "string", "pattern": r"^[0-9a-f]{64}$"}
VERSION = {"type": "string", "pattern": r"^v\d+\.\d+\.\d+$"}
# An apt suite or component: one word of the sources line.
APT_WORD = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
    "x-why": "must be one word of apt's sources line",
}
ENV_NAME = {
    "type": "string",
    "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
    "x-why": "must be the name of an environment variable",
}


def never_inline(key, env_key, secret_file):
    """A secret's field that is refused whatever its value, saying where it goes instead."""
    return {
        "not": {},
        "x-why": f"is a secret, never inline: name an env var in {env_key} or put it in the secrets file "
        f"{secret_file}",
    }


def record(properties, required=(), extra=False):
    schema = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        schema["required"] = list(required)
    return schema


def nullable(schema):
    """``schema`` (a dict's), or None: its other keywords apply only to a dict."""
    return {**schema, "type": ["object", "null"]}


SCOPE = {"enum": [0, 1, 2], "x-why": "must be 0 (base), 1 (one level) or 2 (subtree)"}
EXPIRY = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "minLength": 1}, {"type": "null"}],
    "x-why": "must be a date such as 2027-01-31, a time, or seconds since the epoch",
}
CVE_ALLOWLIST = record(
    {
        "items": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^\S+$", "x-why": "must be a CVE id such as CVE-2024-3094"},
        },
        "expires_at": EXPIRY,
    },
    required=("items",),
)
# harbor_auth: Harbor's /configurations keys, each typed like its default.
AUTH_KEY_TYPES = {bool: BOOL, int: {"type": "integer"}, str: {"type": "string"}}
AUTH = record(
    {
        "mode": {"enum": list(AUTH_MODES)},
        "primary_auth_mode": BOOL,
        **{key: AUTH_KEY_TYPES[type(default)] for key, default in LDAP_DEFAULTS.items()},
        **{key: AUTH_KEY_TYPES.get(type(default), {}) for key, default in OIDC_DEFAULTS.items()},
        "ldap_scope": SCOPE,
        "ldap_group_search_scope": SCOPE,
        "ldap_timeout": {"type": "integer", "minimum": 1},
        "oidc_extra_redirect_parms": {"type": "object", "additionalProperties": {"type": "string"}},
        **{f"{key}_env": ENV_NAME for key in AUTH_SECRETS.values()},
        **{key: never_inline(key, f"{key}_env", f"auth/{key}") for key in AUTH_SECRETS.values()},
    },
    required=("mode",),
)
SETTINGS = record(
    {
        **{key: AUTH_KEY_TYPES[type(default)] for key, default in SETTING_DEFAULTS.items()},
        "project_creation_restriction": {"enum": ["everyone", "adminonly"]},
        "storage_per_project": SIZE,
        "banner_message": {
            "anyOf": [{"type": "string"}, {"type": "object"}],
            "x-why": "must be text or {message, type, closable, fromDate, toDate}",
        },
        "disabled_audit_log_event_types": {
            "anyOf": [{"type": "array", "items": STR}, {"type": "string"}],
            "x-why": "must be a list of event types such as create_artifact",
        },
        "audit_log_forward_endpoint": {
            "type": "string",
            "pattern": r"^(|[^\s:/]+:\d{1,5})$",
            "x-why": "must be <host>:<port> of a syslog server over TCP, or empty",
        },
    }
)
GROUP = record(
    {"name": STR, "type": {"enum": list(GROUP_TYPES)}, "ldap_group_dn": STR, "state": STATE},
    required=("name",),
)
AUDIT_LOG_PURGE = record(
    {
        "schedule": SCHEDULE,
        "retention_hours": {"type": "integer", "minimum": 1},
        "event_types": {"type": "array", "items": STR, "minItems": 1},
        "dry_run": BOOL,
    },
    required=("schedule", "retention_hours", "event_types"),
)
# What a retention or immutable rule selects: repositories and tags by doublestar
# pattern, or all but those a pattern matches (one of each pair).
SELECTORS = {"repositories": STR, "exclude_repositories": STR, "tags": STR, "exclude_tags": STR}
WEBHOOK = record(
    {
        "name": STR,
        "url": STR,
        "type": {"enum": list(NOTIFY_TYPES)},
        "events": {"type": "array", "items": {"enum": list(EVENT_TYPES)}, "minItems": 1},
        "payload_format": {"enum": list(PAYLOAD_FORMATS)},
        "auth_header": BOOL,
        "auth_header_env": ENV_NAME,
        "skip_cert_verify": BOOL,
        "description": {"type": "string"},
        "enabled": BOOL,
        "state": STATE,
    },
    required=("name",),
)
PROJECT = record(
    {
        "name": NAME,
        "state": STATE,
        "public": BOOL,
        "storage_quota": SIZE,
        "auto_scan": BOOL,
        "prevent_vulnerable": BOOL,
        "severity": {"enum": list(SEVERITIES)},
        "proxy_cache": STR,
        "members": {
            "type": "array",
            "items": {
                **record({"user": STR, "group": STR, "role": {"enum": list(ROLES)}, "state": STATE}),
                "oneOf": [{"required": ["user"]}, {"required": ["group"]}],
                "x-why": "must name one user or one group",
            },
        },
        "cve_allowlist": {
            "anyOf": [{"const": "system"}, CVE_ALLOWLIST],
            "x-why": 'must be "system" (reuse the system list) or {items, expires_at}',
        },
        "retention": record(
            {
                "schedule": SCHEDULE,
                "rules": {
                    "type": "array",
                    "items": record(
                        {
                            "template": {"enum": list(RETENTION_TEMPLATES)},
                            "count": {"type": "integer", "minimum": 1},
                            **SELECTORS,
                            "untagged": BOOL,
                            "disabled": BOOL,
                        },
                        required=("template",),
                    ),
                },
            },
            required=("rules",),
        ),
        "purge": BOOL,
        "immutable_tags": {"type": "array", "items": record({**SELECTORS, "disabled": BOOL})},
        "webhooks": {
            "type": "array",
            "items": {
                **WEBHOOK,
                "if": {"properties": {"state": {"const": "absent"}}, "required": ["state"]},
                "else": {"required": ["name", "url", "events"]},
            },
        },
    },
    required=("name",),
)
USER = record(
    {
        "username": STR,
        "email": STR,
        "realname": STR,
        "comment": {"type": "string"},
        "password_env": ENV_NAME,
        "admin": BOOL,
        "state": STATE,
    },
    required=("username",),
)
ROBOT_ACCESS = {
    "anyOf": [STR, record({"resource": STR, "action": STR}, required=("resource", "action"))],
    "x-why": 'must be "push", "pull", "<resource>:<action>" or {resource, action}',
}
ROBOT = record(
    {
        "name": NAME,
        "project": NAME,
        "projects": {"type": "array", "items": STR},
        "access": {"type": "array", "items": ROBOT_ACCESS, "minItems": 1},
        "system_access": {"type": "array", "items": ROBOT_ACCESS, "minItems": 1},
        "duration": {
            "anyOf": [{"const": -1}, {"type": "integer", "minimum": 1}],
            "x-why": "must be -1 (never expires) or a number of days",
        },
        "description": {"type": "string"},
        "disable": BOOL,
        "refresh": BOOL,
        "state": STATE,
    },
    required=("name",),
)
REGISTRY = record(
    {
        "name": STR,
        "type": {"enum": list(REGISTRY_TYPES)},
        "url": STR,
        "insecure": BOOL,
        "description": {"type": "string"},
        "access_key": STR,
        "access_secret_env": ENV_NAME,
        "state": STATE,
    },
    required=("name",),
)
# Harbor takes 1 to 10 GC workers (src/server/v2.0/handler/gc.go validateWorkers).
GC_SCHEDULE = record(
    {"schedule": SCHEDULE, "delete_untagged": BOOL, "workers": {"type": "integer", "minimum": 1, "maximum": 10}},
    required=("schedule",),
)
REPLICATION_POLICY = record(
    {
        "name": STR,
        "description": {"type": "string"},
        "push_to": STR,
        "pull_from": STR,
        "repositories": STR,
        "tags": STR,
        "exclude_tags": STR,
        "labels": {"type": "array", "items": STR, "minItems": 1},
        "exclude_labels": {"type": "array", "items": STR, "minItems": 1},
        "resource": {"enum": list(RESOURCES)},
        "trigger": {
            "anyOf": [{"enum": list(TRIGGERS)}, SCHEDULE],
            "x-why": "must be manual, event_based, Hourly, Daily, Weekly or a 6-field cron",
        },
        "dest_namespace": STR,
        "flatten": {"enum": list(FLATTEN_LEVELS), "x-why": "must be all, 0, 1, 2 or 3"},
        "override": BOOL,
        "replicate_deletion": BOOL,
        "bandwidth_kb_per_second": {"type": "integer", "minimum": 0},
        "copy_by_chunk": BOOL,
        "enabled": BOOL,
        "run_after_change": BOOL,
        "state": STATE,
    },
    required=("name",),
)
SECRET_REFERENCE = record({"secret": STR}, required=("secret",))
SECRET_OR_STR = {"anyOf": [OPTIONAL_STR, SECRET_REFERENCE], "x-why": "must be a string, empty, or {secret: <name>}"}

# Keys whose shape is more than the type of their default.
SCHEMAS = {
    "harbor_hostname": OPTIONAL_STR,  # required and its rules: validate.hostname_problems
    "harbor_version": STR,
    "harbor_installer_source": {"enum": list(INSTALLER_SOURCES)},
    "harbor_mirror_url": OPTIONAL_STR,
    "harbor_installer_file": OPTIONAL_STR,
    "harbor_installer_sha256": {
        "anyOf": [
            {"type": "null"},
            SHA256,
            {"type": "object", "propertyNames": VERSION, "additionalProperties": SHA256, "minProperties": 1},
        ],
        "x-why": "must be the full sha256 (64 lowercase hex digits) of the offline installer, or "
        "{vX.Y.Z: sha256} of each release allowed",
    },
    "harbor_http_port": PORT,
    "harbor_https_port": PORT,
    "harbor_tls_mode": {"enum": list(TLS_MODES)},
    "harbor_tls_certificate": OPTIONAL_STR,
    "harbor_tls_private_key": OPTIONAL_STR,
    "harbor_tls_chain": OPTIONAL_STR,
    "harbor_tls_extra_sans": {"type": "array", "items": STR},
    "harbor_external_url": OPTIONAL_STR,
    # Harbor's prepare writes it raw into the scanner's env file.
    "harbor_trivy_security_check": {
        "type": "string",
        "pattern": r"^(vuln|config|secret)(,(vuln|config|secret))*$",
        "x-why": "must be a comma-separated list of vuln, config, secret",
    },
    "harbor_trivy_timeout": GO_DURATION,
    "harbor_trivy_offline_db": OPTIONAL_STR,
    "harbor_trivy_offline_java_db": OPTIONAL_STR,
    "harbor_db_conn_max_lifetime": GO_DURATION,
    "harbor_db_conn_max_idle_time": GO_DURATION,
    "harbor_jobservice_job_loggers": {"type": "array", "minItems": 1, "items": {"enum": ["STD_OUTPUT", "FILE", "DB"]}},
    "harbor_log_level": {"enum": list(LOG_LEVELS)},
    "harbor_logs_lines": {"type": "integer", "minimum": 1},
    "harbor_uninstall_purge_hostname": OPTIONAL_STR,
    "harbor_backup_keep": {"type": "integer", "minimum": 1},
    "harbor_releases_keep": {"type": "integer", "minimum": 2, "x-why": "must keep the previous release too: 2 or more"},
    "harbor_backup_fetch_dir": OPTIONAL_STR,
    "harbor_restore_from": {
        "type": ["string", "null"],
        "pattern": r"^(harbor-[0-9]{8}T[0-9]{6}Z-v[0-9A-Za-z.-]+|.*/.*)$",
        "x-why": "must be a backup's name, harbor-<UTC time>-<version>, or the path of a backup folder",
    },
    "harbor_restore_hostname": OPTIONAL_STR,
    "harbor_rollback_hostname": OPTIONAL_STR,
    "harbor_cluster_upgrade_snapshot": OPTIONAL_STR,
    "harbor_grow_from": OPTIONAL_STR,
    "harbor_grow_hostname": OPTIONAL_STR,
    "harbor_discard_newer_data": BOOL,
    # Harbor's prepare takes a count or size of 0 for its default (50, 200M).
    "harbor_log_rotate_count": {
        "type": "integer",
        "anyOf": [{"const": -1}, {"minimum": 1}],
        "x-why": "must be how many rotated files to keep: 1 or more, or -1 for all",
    },
    "harbor_log_rotate_size": {
        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\d+[kMG]?$"}],
        "x-why": "must be a size such as 200M (bytes, or with k/M/G)",
    },
    "harbor_log_external_endpoint": nullable(
        record({"protocol": {"enum": ["tcp", "udp"]}, "host": STR, "port": PORT}, required=("protocol", "host", "port"))
    ),
    "harbor_proxy": record(
        {
            "http_proxy": SECRET_OR_STR,
            "https_proxy": SECRET_OR_STR,
            "no_proxy": OPTIONAL_STR,
            "components": {"type": "array", "items": {"enum": ["core", "jobservice", "trivy"]}},
        }
    ),
    "harbor_metric": record(
        {
            "enabled": BOOL,
            "port": PORT,
            # nginx.conf gets it unquoted: a blank, ; { } # or quote would change it.
            "path": {
                "type": "string",
                "pattern": r"^/[A-Za-z0-9._~/-]*$",
                "x-why": "must be a URL path: / then letters, digits and . _ ~ - /",
            },
        }
    ),
    # make/photon/prepare/models.py Trace, JaegerExporter, OtelExporter: what prepare reads.
    "harbor_trace": nullable(
        record(
            {
                "enabled": BOOL,
                "sample_rate": {"type": "number", "minimum": 0, "maximum": 1},
                "namespace": STR,
                "attributes": {"type": "object", "additionalProperties": STR},
                "jaeger": record(
                    {"endpoint": STR, "username": STR, "password": SECRET_OR_STR, "agent_host": STR, "agent_port": PORT}
                ),
                "otel": record(
                    {
                        "endpoint": STR,
                        "url_path": STR,
                        "compression": BOOL,
                        "insecure": BOOL,
                        # Seconds; prepare replaces 0 by 10.
                        "timeout": {"type": "integer", "minimum": 1},
                    }
                ),
            }
        )
    ),
    "harbor_cache": record({"enabled": BOOL, "expire_hours": INT}),
    "harbor_upload_purging": record({"enabled": BOOL, "age": HOURS, "interval": HOURS, "dryrun": BOOL}),
    "harbor_storage_service": nullable(
        {"type": "object", "properties": {"ca_bundle": STR, "redirect": record({"disable": BOOL})}}
    ),
    "harbor_external_database": nullable(
        record(
            {
                "host": STR,
                "port": PORT,
                "db_name": STR,
                "username": STR,
                "password": STR,
                "ssl_mode": {"enum": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
                "max_idle_conns": INT,
                "max_open_conns": INT,
            },
            required=("host", "port", "db_name", "username"),
        )
    ),
    "harbor_external_redis": nullable(
        record(
            {
                # Goes unquoted into the registry's config.yml and into Redis URLs.
                "host": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$",
                    "x-why": "must be <host>:<port> (Sentinel: <host>:<port>,<host>:<port>,...)",
                },
                "password": OPTIONAL_STR,
                "username": OPTIONAL_STR,
                # Goes raw into the Redis URLs' path and the registry's config.yml.
                "sentinel_master_set": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9._-]+\Z",
                    "x-why": "must be a name of letters, digits and . _ -",
                },
                "tlsOptions": record({"enable": BOOL, "rootCA": OPTIONAL_STR}),
                **{
                    field: {"type": "integer", "minimum": 0}
                    for field in (
                        "registry_db_index",
                        "jobservice_db_index",
                        "trivy_db_index",
                        "harbor_db_index",
                        "cache_layer_db_index",
                    )
                },
                "idle_timeout_seconds": {"type": "integer", "minimum": 0},
            },
            required=("host",),
        )
    ),
    "harbor_registry": OPTIONAL_STR,
    "harbor_client_trust": {"enum": list(CLIENT_TRUST_MODES)},
    "harbor_client_ca_source": {"enum": list(CLIENT_CA_SOURCES)},
    "harbor_client_ca_file": OPTIONAL_STR,
    "harbor_client_ca_sha256": OPTIONAL_STR,
    "harbor_client_login_users": {
        "type": "array",
        "items": {"type": "string", "pattern": r"^[a-z_][a-z0-9_.-]*\$?$", "x-why": "must be an OS user name"},
    },
    "harbor_client_username": OPTIONAL_STR,
    "harbor_client_restart_batch": {"type": "integer", "minimum": 1},
    "harbor_client_smoke_project": NAME,
    "harbor_api_url": OPTIONAL_STR,
    "harbor_api_host": OPTIONAL_STR,
    "harbor_node_address": OPTIONAL_STR,
    "harbor_lb_tls": {"enum": list(LB_TLS_MODES)},
    "harbor_lb_drain_timeout": {"type": "integer", "minimum": 1},
    "harbor_api_verify": {"type": ["string", "boolean", "null"]},
    "harbor_registries": {"type": "array", "items": REGISTRY},
    "harbor_users": {"type": "array", "items": USER},
    "harbor_projects": {"type": "array", "items": PROJECT},
    "harbor_robots": {"type": "array", "items": ROBOT},
    "harbor_robot_refresh": {"type": "array", "items": STR},
    "harbor_robot_expiry_warning_days": {"type": "integer", "minimum": 0},
    "harbor_gc_schedule": nullable(GC_SCHEDULE),
    "harbor_auth": nullable(AUTH),
    "harbor_system_settings": nullable(SETTINGS),
    "harbor_groups": {"type": "array", "items": GROUP},
    "harbor_cve_allowlist": nullable(CVE_ALLOWLIST),
    "harbor_audit_log_purge": nullable(AUDIT_LOG_PURGE),
    "harbor_replication_policies": {"type": "array", "items": REPLICATION_POLICY},
    "harbor_default_scanner": {"type": ["string", "null"], "minLength": 1},
    "harbor_scan_all_schedule": nullable(record({"schedule": SCHEDULE}, required=("schedule",))),
    "harbor_config_file": OPTIONAL_STR,
    "harbor_export_file": OPTIONAL_STR,
    "harbor_backing_allowed_sources": {"type": ["array", "null"], "minItems": 1, "items": STR},
    "harbor_docker_repo_url": OPTIONAL_STR,
    "harbor_docker_repo_key": OPTIONAL_STR,
    "harbor_docker_repo_suite": {**APT_WORD, "type": ["string", "null"]},
    "harbor_docker_repo_components": {"type": "array", "minItems": 1, "items": APT_WORD},
    "harbor_docker_packages": {
        "type": ["array", "null"],
        "minItems": 1,
        "items": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9][A-Za-z0-9+.:=~_-]*$",
            "x-why": "must be a package name (a version pin with = or - allowed)",
        },
    },
}
# Lists whose entries are reported on their own: harbor_projects[2].
ENTRY_LISTS = (
    "harbor_registries",
    "harbor_users",
    "harbor_projects",
    "harbor_robots",
    "harbor_groups",
    "harbor_replication_policies",
)
TYPE_WORDS = {
    "boolean": "true or false",
    "integer": "an integer",
    "string": "a string",
    "array": "a list",
    "object": "a dict",
    "number": "a number",
    "null": "empty",
}


def key_schema(key):
    """The schema of ``key`` (a ``defaults.Key``): its own, else the type of its default."""
    if key.name in SCHEMAS:
        return SCHEMAS[key.name]
    for kind, types in (("boolean", bool), ("integer", int), ("string", str), ("array", list), ("object", dict)):
        if isinstance(key.default, types):
            return STR if kind == "string" else {"type": kind}
    return {}


# JSON Schema takes 10.0 for an integer; harbor.yml would then hold a float, which
# Harbor's Go programs refuse where they read an integer.
Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)
VALIDATORS = {key.name: Validator(key_schema(key)) for key in KEYS}


def _path(parts):
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _suggestion(name, known):
    close = difflib.get_close_matches(str(name), sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _why(error):
    """The deploy's message for one schema error (without the field path)."""
    schema, kind = error.schema, error.validator
    if schema.get("x-why") and kind in ("pattern", "anyOf", "oneOf", "const", "not", "enum"):
        return schema["x-why"]
    if kind == "type":
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        words = [TYPE_WORDS[name] for name in types if name != "null"]
        if schema.get("minimum") is not None and schema.get("maximum") is not None:
            return f"must be an integer from {schema['minimum']} to {schema['maximum']}"
        return f"must be {' or '.join(words)}"
    if kind in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        word = "a number" if schema.get("type") == "number" else "an integer"
        return (
            f"must be {word} from {low} to {high}"
            if low is not None and high is not None
            else f"must be {word} >= {low}"
            if low is not None
            else f"must be {word} <= {high}"
        )
    if kind == "enum":
        return f"must be one of {', '.join(str(choice) for choice in schema['enum'])}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "minItems":
        return "must not be an empty list"
    if kind == "required":
        return f"{error.message.split(chr(39))[1]} is required"
    if kind == "additionalProperties":
        unknown = sorted(set(error.instance) - set(schema.get("properties", {})))
        return "; ".join(f"unknown field {name!r}{_suggestion(name, schema.get('properties', {}))}" for name in unknown)
    return error.message


def _deepest(error):
    """Of alternatives that all fail, the error of the one that came closest."""
    if error.validator in ("anyOf", "oneOf") and not error.schema.get("x-why") and error.context:
        return _deepest(max(error.context, key=lambda child: len(child.absolute_path)))
    return error


def problems(config):
    """``(key, why)`` for every value of ``config`` (merged data) that does not fit its shape."""
    for name, validator in VALIDATORS.items():
        if name not in config:
            continue
        for found in sorted(validator.iter_errors(config[name]), key=lambda found: list(found.path)):
            error = _deepest(found)
            path = list(error.absolute_path)
            key = name
            if name in ENTRY_LISTS and path and isinstance(path[0], int):
                key, path = f"{name}[{path[0]}]", path[1:]
            where = _path(path)
            why = _why(error)
            yield key, f"{where} {why}" if where else why
