"""Every inventory data key of the Harbor server deploy: default and meaning.

This is the single definition the deploy, the validation and the key reference
read (``docs/keys.md``, written whole by ``python -m harbor_deploy.lib.config.defaults``).
Defaults of harbor.yml-level values equal those of the harbor.yml.tmpl that Harbor
v2.13.1 ships; the ports follow the original manual (8081/8443).
Secrets are not data keys: see ``harbor_deploy.lib.config.secrets``.
"""

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_VERSION = "v2.13.1"

# Server-side paths the deploy writes; harbor.yml points nginx at them.
SERVER_TLS_DIR = "/etc/harbor/tls"
SERVER_TLS_CERTIFICATE = f"{SERVER_TLS_DIR}/server.crt"
SERVER_TLS_PRIVATE_KEY = f"{SERVER_TLS_DIR}/server.key"
SERVER_TLS_CA = f"{SERVER_TLS_DIR}/ca.crt"
# The CA of the backing host's PostgreSQL, harbor.yml's storage_service.ca_bundle then.
SERVER_DATABASE_CA = f"{SERVER_TLS_DIR}/database-ca.crt"
HARBOR_YML_NAME = "harbor.yml"
# What the deploy keeps on a server about itself: an operation that changes Harbor's
# data (upgrade, rollback, restore) writes UNFINISHED_MARKER as it starts and removes
# it once done; a marker left behind (a failure, a crash) stops every later run but a
# restore, naming what happened and the way out.
HOST_STATE_DIR = "/var/lib/harbor-deploy"
UNFINISHED_MARKER = f"{HOST_STATE_DIR}/unfinished"
# A Harbor of several nodes: the values prepare draws afresh on every run, the same on
# every node (lib/plan/shared_values.py), and the script harbor.service writes them with.
SHARED_VALUES = f"{HOST_STATE_DIR}/shared-values.env"
# Written on a node once deploys/grow.py moved its Harbor's data into the shared services.
GROWN_MARKER = f"{HOST_STATE_DIR}/grown"
SHARED_VALUES_SCRIPT = f"{HOST_STATE_DIR}/shared-values.sh"
# Verified installer bundles, kept between runs (an upload lands in a staging dir there).
REMOTE_CACHE = "/var/cache/harbor-deploy"
SYSTEMD_UNIT = "/etc/systemd/system/harbor.service"
# The firewalld services holding the ports a Harbor node (or its load balancer) and a
# backing host serve: a port the data no longer names closes with them.
FIREWALLD_SERVICE = "harbor"
BACKING_FIREWALLD_SERVICE = "harbor-backing"

# An upgrade runs as this transient systemd unit, detached from the SSH session that
# started it, logging to <UPGRADE_LOG_DIR>/upgrade-<backup name>-to-<version>.log.
UPGRADE_UNIT = "harbor-deploy-upgrade.service"
UPGRADE_LOG_DIR = "/var/log/harbor-deploy"
# How long a run waits, before reading the host, for an upgrade an earlier run started.
UPGRADE_WAIT_SECONDS = 1800

# harbor-log publishes 127.0.0.1:1514; nothing else may take that port.
HARBOR_LOG_PORT = 1514

TLS_MODES = ("generate", "provided", "http")
LB_TLS_MODES = ("passthrough", "terminate")
INSTALLER_SOURCES = ("official", "mirror", "file")
STORAGE_DRIVERS = ("filesystem", "azure", "gcs", "s3", "swift", "oss")
LOG_LEVELS = ("debug", "info", "warning", "error", "fatal")
CLIENT_TRUST_MODES = ("https", "http")
CLIENT_CA_SOURCES = ("secrets", "file", "fetch", "none")
CLIENT_PASSWORD_ENV = "HARBOR_CLIENT_PASSWORD"
# The user Harbor's containers run as, owner of what prepare writes for them (g.py DEFAULT_UID/GID).
HARBOR_UID = 10000
# The inventory groups the deploys act on.
SERVER_GROUP = "harbor_servers"
CLIENT_GROUP = "docker_clients"
LB_GROUP = "harbor_lb"
BACKING_GROUP = "harbor_backing"


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    meaning: str
    required: bool = False
    # A path on the controller: a relative one is taken from the inventory file's folder.
    controller_path: bool = False


KEYS = (
    Key(
        "harbor_hostname", None, "DNS name (or IP) clients use to reach Harbor; not localhost/127.0.0.1", required=True
    ),
    Key("harbor_version", DEFAULT_VERSION, 'Harbor release to install, "vX.Y.Z" (>= v2.0.0) or "latest"'),
    Key(
        "harbor_install_dir",
        "/usr/local/harbor",
        "symlink to the active bundle; versions unpack beside it (/usr/local/harbor-vX.Y.Z)",
    ),
    Key(
        "harbor_installer_source",
        "official",
        '"official" (GitHub releases), "mirror" (harbor_mirror_url) or "file" (harbor_installer_file)',
    ),
    Key(
        "harbor_mirror_url",
        None,
        "base URL of a GitHub releases mirror serving /repos/goharbor/harbor/releases/... and "
        "/goharbor/harbor/releases/download/<tag>/<asset>",
    ),
    Key(
        "harbor_installer_file",
        None,
        'controller path of an offline installer .tgz (source "file")',
        controller_path=True,
    ),
    Key(
        "harbor_installer_sha256",
        None,
        'pin: full lowercase sha256 of the offline installer; required with source "file"',
    ),
    Key(
        "harbor_github_token_env",
        "GITHUB_TOKEN",
        "name of the controller env var holding a GitHub token for the releases API",
    ),
    Key("harbor_http_port", 8081, "host port nginx publishes for HTTP (redirects to HTTPS when TLS is on)"),
    Key("harbor_https_port", 8443, "host port nginx publishes for HTTPS"),
    Key(
        "harbor_tls_mode",
        "generate",
        '"generate" (controller CA + server cert), "provided" (your cert/key) or "http" (no TLS)',
    ),
    Key(
        "harbor_tls_certificate",
        None,
        "controller path of the server certificate (PEM, mode provided)",
        controller_path=True,
    ),
    Key(
        "harbor_tls_private_key", None, "controller path of its private key (PEM, mode provided)", controller_path=True
    ),
    Key(
        "harbor_tls_chain",
        None,
        "controller path of the issuing chain (PEM, mode provided) up to its root CA: the clients' ca.crt "
        "(kept for them in the secrets dir), HAProxy's ca-file and the controller's API trust",
        controller_path=True,
    ),
    Key("harbor_tls_extra_sans", [], "extra DNS names / IPs for the generated server certificate"),
    Key(
        "harbor_tls_strong_ssl_ciphers",
        False,
        "nginx offers only strong ciphers (ECDHE with AES-GCM or ChaCha20): harbor.yml's https.strong_ssl_ciphers",
    ),
    Key(
        "harbor_external_url", None, "public URL when Harbor sits behind a TLS-terminating proxy (sets the token realm)"
    ),
    Key("harbor_data_volume", "/data", "absolute host path of Harbor's data (database, registry, secrets)"),
    Key("harbor_with_trivy", True, "install the Trivy scanner (install.sh --with-trivy)"),
    Key("harbor_trivy_ignore_unfixed", False, "report only vulnerabilities that have a fix"),
    Key("harbor_trivy_skip_update", False, "do not download the Trivy DB (air-gapped sites)"),
    Key("harbor_trivy_skip_java_db_update", False, "do not download the Trivy Java DB"),
    Key("harbor_trivy_offline_scan", False, "scan without network lookups of dependencies"),
    Key("harbor_trivy_security_check", "vuln", "comma-separated checks: vuln, config, secret"),
    Key("harbor_trivy_insecure", False, "skip verifying the registry certificate from Trivy"),
    Key("harbor_trivy_timeout", "5m0s", "scan timeout (Go duration, capped at 30m by the scan job)"),
    Key(
        "harbor_trivy_offline_db",
        None,
        "controller path of Trivy's vulnerability database bundle (db.tar.gz: trivy.db and metadata.json, "
        "fetched on a connected machine) placed in <data_volume>/trivy-adapter/trivy/db for an air-gapped "
        "Harbor; implies harbor_trivy_skip_update and harbor_trivy_offline_scan",
        controller_path=True,
    ),
    Key(
        "harbor_trivy_offline_java_db",
        None,
        "controller path of Trivy's Java database bundle (javadb.tar.gz: trivy-java.db and metadata.json) "
        "placed in <data_volume>/trivy-adapter/trivy/java-db; implies harbor_trivy_skip_java_db_update",
        controller_path=True,
    ),
    Key("harbor_db_max_idle_conns", 100, "database idle connection pool size"),
    Key("harbor_db_max_open_conns", 900, "database open connection limit (<= 0: unlimited)"),
    Key("harbor_db_conn_max_lifetime", "5m", "max reuse time of a DB connection (Go duration or 0)"),
    Key("harbor_db_conn_max_idle_time", 0, "max idle time of a DB connection (Go duration or 0)"),
    Key("harbor_jobservice_max_job_workers", 10, "job service worker count"),
    Key("harbor_jobservice_max_job_duration_hours", 24, "maximum hours a job may run"),
    Key("harbor_jobservice_job_loggers", ["STD_OUTPUT", "FILE"], "job log backends: STD_OUTPUT, FILE, DB"),
    Key("harbor_jobservice_logger_sweeper_duration", 1, "days job logs are kept"),
    Key("harbor_notification_webhook_job_max_retry", 3, "retries of a webhook job"),
    Key("harbor_notification_webhook_job_http_client_timeout", 3, "webhook HTTP client timeout (seconds)"),
    Key("harbor_log_level", "info", "debug, info, warning, error or fatal"),
    Key("harbor_log_rotate_count", 50, "rotated log files kept"),
    Key("harbor_log_rotate_size", "200M", "rotate a log above this size (bytes, or with k/M/G)"),
    Key("harbor_log_location", "/var/log/harbor", "host directory of Harbor's logs"),
    Key("harbor_log_external_endpoint", None, "None, or {protocol: tcp|udp, host, port} of a syslog endpoint"),
    Key(
        "harbor_proxy",
        {"http_proxy": None, "https_proxy": None, "no_proxy": None, "components": ["core", "jobservice", "trivy"]},
        "outbound proxy of Harbor's components {http_proxy, https_proxy, no_proxy, components}; a proxy "
        "URL with credentials can be {secret: <name>} (env HARBOR_SECRET_<NAME> or secrets file <name>)",
    ),
    Key(
        "harbor_trace",
        None,
        "None, or harbor.yml's trace {enabled, sample_rate, namespace, attributes, jaeger {endpoint or "
        "agent_host/agent_port, username, password} or otel {endpoint, url_path, compression, insecure, "
        "timeout}}; the jaeger password can be {secret: <name>} (env HARBOR_SECRET_<NAME> or secrets file <name>)",
    ),
    Key(
        "harbor_metric",
        {"enabled": False, "port": 9090, "path": "/metrics"},
        "Prometheus metrics {enabled, port, path}",
    ),
    Key(
        "harbor_cache",
        {"enabled": False, "expire_hours": 24},
        "Redis cache layer {enabled, expire_hours}; same on every instance",
    ),
    Key(
        "harbor_upload_purging",
        {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False},
        "purge of stale uploads {enabled, age, interval, dryrun}; age/interval as <n>h, n >= 2",
    ),
    Key(
        "harbor_storage_service",
        None,
        "None (filesystem under data_volume) or harbor.yml's storage_service, e.g. "
        "{s3: {...}, ca_bundle: /server/path, redirect: {disable: false}}; any value can be "
        "{secret: <name>} (env HARBOR_SECRET_<NAME> or secrets file <name>)",
    ),
    Key(
        "harbor_external_database",
        None,
        "None or {host, port, db_name, username, password?, ssl_mode, max_idle_conns, max_open_conns}; "
        "password may come from HARBOR_EXTERNAL_DB_PASSWORD instead",
    ),
    Key(
        "harbor_external_redis",
        None,
        "None or harbor.yml's external_redis {host: h:port, password?, ...}; "
        "password may come from HARBOR_EXTERNAL_REDIS_PASSWORD instead",
    ),
    Key("harbor_firewall_zone", "public", "firewalld zone the HTTP/HTTPS (and metric) ports open in"),
    Key(
        "harbor_firewall_open_syslog",
        False,
        "also open 1514/tcp (harbor-log listens on loopback only, so normally not needed)",
    ),
    Key("harbor_health_timeout", 300, "seconds to wait for /api/v2.0/health to report healthy"),
    Key(
        "harbor_releases_keep",
        2,
        "release directories kept beside the symlink after an upgrade (the running one and the previous one)",
    ),
    Key("harbor_backup_dir", "/var/backups/harbor-deploy", "deploys/backup.py: server dir of the backups"),
    Key("harbor_backup_keep", 7, "deploys/backup.py: backups kept on the server (older ones are removed)"),
    Key(
        "harbor_backup_registry",
        False,
        "deploys/backup.py: include the registry's storage (image layers: can be huge) when it is the filesystem",
    ),
    Key(
        "harbor_backup_fetch_dir",
        "harbor-backups",
        "deploys/backup.py: controller dir the backup is copied to, <host>/<backup>/ (null: stays on the "
        "server only; a relative path is taken from the inventory file's folder)",
        controller_path=True,
    ),
    Key(
        "harbor_restore_from",
        None,
        "deploys/restore.py: the backup to restore, required: its name (on the server, or in "
        "harbor_backup_fetch_dir/<host>/) or the controller path of a backup folder (from any host, e.g. a "
        "replaced server's; a relative path is taken from the inventory file's folder)",
    ),
    Key(
        "harbor_restore_hostname",
        None,
        "deploys/restore.py: harbor_hostname repeated, confirming the restore (it replaces the live data)",
    ),
    Key(
        "harbor_rollback_hostname",
        None,
        "deploys/rollback.py: harbor_hostname repeated, confirming the rollback (it puts back the data of the "
        "backup the upgrade took)",
    ),
    Key(
        "harbor_cluster_upgrade_snapshot",
        None,
        "deploys/server.py, a Harbor of several nodes without a harbor_backing host (managed services): the "
        "name of the snapshot of the shared database you took before this upgrade; an upgrade is refused "
        "without it (the first node migrates the database, and no node of the older release starts on it "
        "afterwards). With a harbor_backing host the run dumps it there itself",
    ),
    Key(
        "harbor_grow_from",
        None,
        "deploys/grow.py: the node (its inventory name) whose Harbor of one node becomes the Harbor of several "
        "nodes the inventory describes: its database and registry layers move into the shared services",
    ),
    Key(
        "harbor_grow_hostname",
        None,
        "deploys/grow.py: harbor_hostname repeated, confirming the move (Harbor stops on that node until "
        "deploys/server.py runs)",
    ),
    Key(
        "harbor_discard_newer_data",
        False,
        "deploys/restore.py, rollback.py: go on although the live data holds changes newer than the backup "
        "(they are lost; the safety backup taken first keeps them)",
    ),
    Key(
        "harbor_uninstall_purge",
        False,
        "deploys/uninstall.py: also delete harbor_data_volume and the logs, for good "
        "(needs harbor_uninstall_purge_hostname too)",
    ),
    Key(
        "harbor_uninstall_purge_hostname",
        None,
        "deploys/uninstall.py: harbor_hostname repeated, confirming harbor_uninstall_purge",
    ),
    Key("harbor_logs_lines", 200, "deploys/logs.py: the last lines of each of Harbor's logs it fetches"),
    Key(
        "harbor_logs_dir",
        "harbor-logs",
        "deploys/logs.py: controller dir of <host>/<component>.log (a relative path is taken from the "
        "inventory file's folder)",
        controller_path=True,
    ),
    Key(
        "harbor_secrets_dir",
        ".secrets",
        "controller dir holding <hostname>/ passwords, keys, certs (gitignored; a relative path is "
        "taken from the inventory file's folder)",
        controller_path=True,
    ),
    # Several nodes of one Harbor (harbor_servers hosts sharing one URL) behind harbor_lb.
    Key(
        "harbor_node_address",
        None,
        "address the load balancer (harbor_lb) reaches this node at; default the host's SSH host name",
    ),
    Key(
        "harbor_lb_tls",
        "passthrough",
        'harbor_lb: "passthrough" (TLS ends on the nodes) or "terminate" (ends on the load balancer, '
        "with harbor_external_url set to its URL; drains without cutting a request)",
    ),
    Key(
        "harbor_lb_drain_timeout",
        120,
        "harbor_lb: seconds a rolling change waits for a node's requests to end once it is drained; "
        "passthrough connections still open then are closed",
    ),
    # Backing deploy (deploys/backing.py, group harbor_backing).
    Key(
        "harbor_backing_allowed_sources",
        None,
        "deploys/backing.py, required there: CIDRs the Harbor nodes connect from, the only sources firewalld "
        "lets reach PostgreSQL, Redis and Swift and pg_hba.conf lets log in (no /0)",
    ),
    # The Docker engine, installed when missing by the server and client deploys and deploys/docker.py.
    Key(
        "harbor_docker_repo_url",
        None,
        "base URL of an internal package repository holding Docker's packages, for hosts without internet "
        "(apt: deb <url> <suite> <components>; dnf: the baseurl of a .repo); None: the distribution's packages "
        "(Debian, Ubuntu) or download.docker.com (RHEL family)",
    ),
    Key(
        "harbor_docker_repo_key",
        None,
        "controller path of the OpenPGP public key that signs harbor_docker_repo_url (armored or binary), "
        "required with it",
        controller_path=True,
    ),
    Key(
        "harbor_docker_repo_suite",
        None,
        "apt suite of harbor_docker_repo_url; default the host's codename (e.g. bookworm)",
    ),
    Key(
        "harbor_docker_repo_components",
        ["stable"],
        "apt components of harbor_docker_repo_url (a mirror of Docker's repository: stable)",
    ),
    Key(
        "harbor_docker_packages",
        None,
        "packages installed from harbor_docker_repo_url; default Docker CE's: docker-ce, docker-ce-cli, "
        "containerd.io and, on a Harbor server, docker-compose-plugin",
    ),
    # Client deploy (deploys/client.py, group docker_clients).
    Key(
        "harbor_registry",
        None,
        "registry address clients use, host:port; default <harbor_hostname>:<harbor_https_port> "
        "(<harbor_http_port> when harbor_client_trust is http)",
    ),
    Key(
        "harbor_client_trust",
        "https",
        '"https" (CA in /etc/docker/certs.d, no daemon restart) or "http" (insecure-registries, '
        "plain HTTP: only on a trusted network)",
    ),
    Key(
        "harbor_client_ca_source",
        "secrets",
        '"secrets" (what the server deploy keeps in <harbor_secrets_dir>/<hostname>/: harbor_tls_chain as '
        'provided-chain.crt in tls mode provided, else the generated ca.crt), "file" '
        '(harbor_client_ca_file), "fetch" (from Harbor\'s /api/v2.0/systeminfo/getcert by each client, '
        'checked against harbor_client_ca_sha256) or "none" (a publicly trusted certificate)',
    ),
    Key(
        "harbor_client_ca_file",
        None,
        'controller path of the registry CA (PEM), ca source "file"',
        controller_path=True,
    ),
    Key(
        "harbor_client_ca_sha256",
        None,
        'sha256 of the CA PEM: required with ca source "fetch" (what it must get), checked with the others',
    ),
    Key(
        "harbor_client_os_trust_store",
        False,
        "also install the CA in the OS trust store (curl, skopeo...; dockerd reads it only at start)",
    ),
    Key(
        "harbor_client_login_users",
        ["root"],
        "OS users that docker login (each gets ~/.docker/config.json); [] skips the login",
    ),
    Key(
        "harbor_client_username",
        None,
        "Harbor account clients log in as, required when they log in: a robot account "
        "(robot$<project>+<name>) rather than admin; password from HARBOR_CLIENT_PASSWORD, else the "
        "secrets dir (a robot's secret from configure, or admin's password)",
    ),
    Key(
        "harbor_client_daemon_extra",
        {},
        "extra daemon.json keys merged in (e.g. live-restore, registry-mirrors); lists are merged",
    ),
    Key("harbor_client_restart_batch", 1, "how many clients reload/restart dockerd at the same time (rolling batches)"),
    Key(
        "harbor_client_smoke_test",
        False,
        "push a tiny image (built on the client, no external pull) and pull another client's",
    ),
    Key("harbor_client_smoke_project", "library", "Harbor project the smoke test pushes to"),
    # Configure deploy (deploys/configure.py): Harbor's settings through its API.
    Key(
        "harbor_api_url",
        None,
        "URL the controller calls the API at; default harbor_external_url, else "
        "https://<harbor_api_host>:<harbor_https_port> (http://...:<harbor_http_port> in tls mode http)",
    ),
    Key(
        "harbor_api_host",
        None,
        "host name or address the controller reaches Harbor at when it can't resolve harbor_hostname "
        "(default harbor_hostname; the generated certificate must name it: harbor_tls_extra_sans)",
    ),
    Key(
        "harbor_api_verify",
        None,
        "TLS trust of API calls: None = the generated CA in the secrets dir (mode generate), "
        "harbor_tls_chain (mode provided) or the system CAs; a CA file path; false only on purpose",
        controller_path=True,
    ),
    Key(
        "harbor_admin_password_rotate",
        True,
        "move the admin account off harbor.yml's seed to a managed password (secrets file "
        "admin_password_managed or HARBOR_ADMIN_MANAGED_PASSWORD)",
    ),
    Key(
        "harbor_config_file",
        None,
        "controller path of a YAML file of configure keys (e.g. deploys/export.py's output), read by "
        "configure; keys of the inventory win",
        controller_path=True,
    ),
    Key(
        "harbor_export_file",
        None,
        "controller path deploys/export.py writes a running Harbor's configure keys to (YAML, no secrets)",
        controller_path=True,
    ),
    Key(
        "harbor_auth",
        None,
        "None (left as is) or how users sign in: {mode: db|ldap|oidc, primary_auth_mode, and Harbor's "
        "/configurations keys of that mode (ldap_url, ldap_search_dn, ldap_base_dn, ldap_filter, ldap_uid, "
        "ldap_scope, ldap_group_*...; oidc_name, oidc_endpoint, oidc_client_id, oidc_scope, oidc_groups_claim...)}; "
        "the bind password / client secret from env <ldap_search_password_env|oidc_client_secret_env> or secrets "
        "file auth/ldap_search_password|auth/oidc_client_secret, never inline",
    ),
    Key(
        "harbor_system_settings",
        None,
        "None or Harbor /configurations keys to manage (only those given): project_creation_restriction, "
        "read_only, self_registration, token_expiration, robot_token_duration, robot_name_prefix, "
        "notification_enable, quota_per_project_enable, storage_per_project, audit_log_forward_endpoint, "
        "skip_audit_log_database, session_timeout, scanner_skip_update_pulltime, banner_message, "
        "disabled_audit_log_event_types",
    ),
    Key(
        "harbor_registries",
        [],
        "registry endpoints [{name, type, url, insecure, description, access_key, "
        "access_secret_env, state}]; the secret from that env var or secrets file registries/<name>",
    ),
    Key(
        "harbor_users",
        [],
        "users [{username, email, realname, comment, password_env, admin, state}]; passwords "
        "generated into secrets file users/<username> unless password_env names one; an entry of "
        "username and admin only sets the admin flag of an existing (e.g. LDAP) user",
    ),
    Key(
        "harbor_projects",
        [],
        'projects [{name, public, storage_quota (bytes, "10G" or -1), auto_scan, prevent_vulnerable, '
        "severity, proxy_cache (registry name), members [{user or group, role, state}], retention "
        "{schedule, rules [{template, count, repositories or exclude_repositories, tags or exclude_tags, "
        'untagged, disabled}]}, cve_allowlist ({items, expires_at} or "system"), immutable_tags (the '
        "project's whole list) [{repositories or exclude_repositories, tags or exclude_tags, disabled}], "
        "webhooks [{name, url, type: http|slack, events, payload_format, auth_header (secrets file "
        "webhooks/<project>+<name>) or auth_header_env, skip_cert_verify, description, enabled, state}], "
        "state, purge (with state absent: delete its repositories first)}]",
    ),
    Key(
        "harbor_robots",
        [],
        "robot accounts [{name, project (push/pull there) or projects (system level, default *), "
        "access, system_access (system level: resource:action), duration (days, -1 never), description, "
        "disable, refresh, state}]; secrets in secrets file robots/<project>+<name>",
    ),
    Key(
        "harbor_robot_refresh",
        [],
        "deploys/robot_refresh.py (or configure): robots whose secret this run replaces (<project>+<name>, or "
        "<name> at system level, of harbor_robots), kept in the secrets dir; robot_refresh.py also logs their "
        "clients in again with it; give it for one run (--data)",
    ),
    Key(
        "harbor_robot_expiry_warning_days",
        14,
        "deploys/status.py: a robot account that expires within this many days (or has expired) is a problem; "
        "0: robots are not read",
    ),
    Key(
        "harbor_gc_schedule",
        None,
        "None (left as is) or {schedule: Hourly|Daily|Weekly|<6-field cron>|None, " "delete_untagged, workers}",
    ),
    Key(
        "harbor_groups",
        [],
        "user groups [{name, type: ldap|http|oidc, ldap_group_dn (ldap), state}], members of projects by name",
    ),
    Key(
        "harbor_cve_allowlist",
        None,
        "None (left as is) or the system-wide CVE allowlist {items: [CVE ids], expires_at: date|epoch}",
    ),
    Key(
        "harbor_audit_log_purge",
        None,
        "None (left as is) or the audit-log purge schedule {schedule: Hourly|Daily|Weekly|<cron>|None, "
        "retention_hours, event_types, dry_run}",
    ),
    Key(
        "harbor_replication_policies",
        [],
        "replication policies [{name, push_to or pull_from (a harbor_registries name), repositories, tags or "
        "exclude_tags, labels or exclude_labels, resource: image|artifact, trigger: manual|event_based|Hourly|"
        "Daily|Weekly|<cron> (default manual), dest_namespace, flatten: all|0-3 (default all), override "
        "(default true), replicate_deletion, bandwidth_kb_per_second (0: no limit), copy_by_chunk, enabled "
        "(default true), run_after_change, description, state}]",
    ),
    Key(
        "harbor_default_scanner",
        None,
        "None (left as is) or the name of the registered scanner Harbor scans with by default (Trivy when "
        "installed with it)",
    ),
    Key(
        "harbor_scan_all_schedule",
        None,
        "None (left as is) or when Harbor scans every artifact {schedule: Hourly|Daily|Weekly|<cron>|None}",
    ),
)

KEYS_BY_NAME = {key.name: key for key in KEYS}

# Dict-valued keys with a fixed set of fields: a partial dict in the inventory
# overrides only the fields it names.
RECORD_KEYS = ("harbor_proxy", "harbor_metric", "harbor_cache", "harbor_upload_purging")


def defaults():
    """A fresh dict of every key with a default (required keys left out)."""
    return {key.name: copy.deepcopy(key.default) for key in KEYS if not key.required}


def merged(data):
    """The deploy's configuration: defaults overlaid with the ``harbor_*`` keys of ``data``.

    ``data`` is a mapping of host data (e.g. ``host.data.dict()``); other keys are
    ignored. Record keys (``RECORD_KEYS``) merge field by field.
    """
    config = defaults()
    for name, value in data.items():
        if not name.startswith("harbor_"):
            continue
        if name in RECORD_KEYS and isinstance(value, dict):
            config[name] = {**config[name], **copy.deepcopy(value)}
        else:
            config[name] = copy.deepcopy(value)
    return config


def with_controller_paths(data, base_dir):
    """``data`` with every relative controller path (``Key.controller_path``) made
    absolute against ``base_dir`` (the inventory file's folder), so a deploy reads the
    same secrets and files from whichever directory it is started."""
    resolved = dict(data)
    for key in KEYS:
        value = data.get(key.name, key.default)
        if key.controller_path and isinstance(value, str) and value and not Path(value).is_absolute():
            resolved[key.name] = str(Path(base_dir) / value)
    return resolved


def release_dir(install_dir, version):
    """Where one release's bundle unpacks: ``/usr/local/harbor`` -> ``/usr/local/harbor-v2.13.1``."""
    return f"{install_dir.rstrip('/')}-{version}"


# In a checkout: the inventory-key reference this module writes, whole.
KEYS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "keys.md"
REGENERATE = "python -m harbor_deploy.lib.config.defaults"

KEYS_PAGE_INTRO = f"""# Inventory keys

This page is generated: change a key in
[`harbor_deploy/lib/config/defaults.py`](../harbor_deploy/lib/config/defaults.py), then
run `.venv/bin/{REGENERATE}`. A unit test fails while it is stale
(`tests/unit/lib/config/test_defaults.py`).

Every key the deploys read, with its default. `defaults.py` is the one place they are
defined; their shapes are JSON Schema beside it, in
[`harbor_deploy/lib/config/schema.py`](../harbor_deploy/lib/config/schema.py).
Secrets are not keys: see [Secrets](secrets.md).
"""


def keys_page():
    """docs/keys.md, whole: a short intro, then the table of every key (``KEYS``)."""
    return KEYS_PAGE_INTRO + "\n" + key_table_markdown()


def key_table_markdown():
    """The table of inventory keys, generated from ``KEYS``."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key in KEYS:
        default = "**required**" if key.required else f"`{key.default!r}`"
        # A "<name>" placeholder would read as an HTML tag and vanish: escape it.
        meaning = key.meaning.replace("|", "\\|").replace("<", "\\<")
        lines.append(f"| `{key.name}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m harbor_deploy.lib.config.defaults: rewrite docs/keys.md
    KEYS_PAGE.parent.mkdir(exist_ok=True)
    KEYS_PAGE.write_text(keys_page())
