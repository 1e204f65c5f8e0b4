"""Core's configuration, from the environment common/config/core/env sets."""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harbor_core import trust

# Go's time.ParseDuration, as Harbor reads POSTGRESQL_CONN_MAX_LIFETIME/_IDLE_TIME
# (src/lib/config/metadata DurationType): a signed sequence of numbers with optional
# fractions, each with its unit; "0" is the only one without.
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
DURATION_RE = re.compile(r"([-+]?)(0|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)")


def go_duration(text):
    """Seconds in a Go duration string (``5m``, ``1h30m``, ``-1.5h``, ``0``)."""
    match = DURATION_RE.fullmatch(str(text))
    if not match:
        raise ValueError(f"time: invalid duration {text!r}")
    parts = re.findall(r"([0-9.]+)(ns|us|µs|μs|ms|s|m|h)", match.group(2))
    seconds = sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)
    return -seconds if match.group(1) == "-" else seconds


def host_port(url):
    parts = urlsplit(url)
    default = {"http": 80, "https": 443, "redis": 6379}.get(parts.scheme, 80)
    return parts.hostname, parts.port or default


@dataclass
class DatabaseSettings:
    """POSTGRESQL_* of the env file: the bundled harbor-db or external_database."""

    host: str
    port: int
    username: str
    password: str
    name: str
    sslmode: str
    max_idle_conns: int
    max_open_conns: int
    conn_max_lifetime: float
    conn_max_idle_time: float
    # What pgx verifies the server with in sslmode verify-ca/verify-full: the system
    # roots, which the image's start extends with /harbor_cust_cert (``trust``).
    root_certificates: Path = trust.SYSTEM_BUNDLE

    @property
    def connection_string(self):
        """The string Harbor's core hands its PostgreSQL driver (src/common/dao/pgsql.go),
        values unquoted, so a blank, a backslash or a leading quote in one of them is read
        as pgx and libpq read a keyword/value string, not as it was written. (Harbor also
        appends ``timezone=UTC``, a setting pgx passes to the server and libpq does not
        know: the stand-in's connection sets it with ``options`` instead.)"""
        return (
            f"host={self.host} port={self.port} user={self.username} password={self.password} "
            f"dbname={self.name} sslmode={self.sslmode}"
        )

    @property
    def verifies_server(self):
        """Whether the driver checks the server's certificate (and, verify-full, its name)."""
        return self.sslmode in ("verify-ca", "verify-full")

    @classmethod
    def from_env(cls, env):
        return cls(
            host=env.get("POSTGRESQL_HOST", "postgresql"),
            port=int(env.get("POSTGRESQL_PORT", "5432")),
            username=env.get("POSTGRESQL_USERNAME", "postgres"),
            password=env.get("POSTGRESQL_PASSWORD", ""),
            name=env.get("POSTGRESQL_DATABASE", "registry"),
            sslmode=env.get("POSTGRESQL_SSLMODE", "disable"),
            max_idle_conns=int(env.get("POSTGRESQL_MAX_IDLE_CONNS", "2")),
            max_open_conns=int(env.get("POSTGRESQL_MAX_OPEN_CONNS", "0")),
            conn_max_lifetime=go_duration(env.get("POSTGRESQL_CONN_MAX_LIFETIME", "5m")),
            conn_max_idle_time=go_duration(env.get("POSTGRESQL_CONN_MAX_IDLE_TIME", "0")),
        )


class Settings:
    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.external_url = env.get("EXT_ENDPOINT", "http://localhost").rstrip("/")
        self.admin_password = env.get("HARBOR_ADMIN_PASSWORD", "Harbor12345")
        self.with_trivy = env.get("WITH_TRIVY", "false").lower() == "true"
        self.data_dir = Path(env.get("DATA_DIR", "/data"))
        self.token_key_path = Path(env.get("TOKEN_PRIVATE_KEY_PATH", "/etc/core/private_key.pem"))
        self.ca_path = Path(env.get("CA_DOWNLOAD_PATH", "/etc/core/ca/ca.crt"))
        self.token_minutes = int(env.get("TOKEN_EXPIRATION", "30"))
        self.version = env.get("HARBOR_STANDIN_VERSION", "v2.13.1")
        self.storage_provider = env.get("REGISTRY_STORAGE_PROVIDER_NAME", "filesystem")
        self.database = DatabaseSettings.from_env(env)
        self.redis_url = env.get("_REDIS_URL_CORE", "redis://redis:6379?idle_timeout_seconds=30")
        # What prepare draws afresh on every run (make/photon/prepare/templates/core/env.jinja):
        # the secret jobservice proves itself with (the only one core's SecretStore holds,
        # lib/config/systemconfig.go), the one core proves itself to jobservice with, and
        # the key of the UI's CSRF tokens (server/middleware/csrf).
        self.jobservice_secret = env.get("JOBSERVICE_SECRET", "")
        self.core_secret = env.get("CORE_SECRET", "")
        self.csrf_key = env.get("CSRF_KEY", "")
        self.jobservice_url = env.get("JOBSERVICE_URL", "http://jobservice:8080").rstrip("/")
        # Jobs go through jobservice's Redis queue, which the nodes of one Harbor share
        # when their Redis is an external one: a job one core queued may run on another
        # node. With the bundled Redis the queue is this node's alone, and core runs the
        # job itself (the same outcome: jobservice and core of one node hold one secret);
        # so does a core given no jobservice (the in-process unit tests).
        self.jobs_shared = "JOBSERVICE_URL" in env and urlsplit(self.redis_url).hostname != "redis"
        # The variable Harbor's own unit tests use to point at the migration files.
        self.migrations_dir = Path(env.get("POSTGRES_MIGRATION_SCRIPTS_PATH", "/harbor/migrations/postgresql"))
        # How long start-up waits for Redis and the database (Harbor: a minute each).
        self.startup_timeout = float(env.get("STANDIN_STARTUP_TIMEOUT", "60"))
        self.components = {
            "portal": host_port(env.get("PORTAL_URL", "http://portal:8080")),
            "jobservice": host_port(env.get("JOBSERVICE_URL", "http://jobservice:8080")),
            "registry": host_port(env.get("REGISTRY_URL", "http://registry:5000")),
            "registryctl": host_port(env.get("REGISTRY_CONTROLLER_URL", "http://registryctl:8080")),
        }
        if self.with_trivy:
            self.components["trivy"] = host_port(env.get("TRIVY_ADAPTER_URL", "http://trivy-adapter:8080"))

    @property
    def registry_url(self):
        return urlsplit(self.external_url).netloc

    @property
    def storage_root(self):
        """The registry's filesystem storage (``<data_volume>/registry``) as core sees it."""
        return self.data_dir / "registry" / "docker" / "registry" / "v2"
