"""Controller side of the client deploy: a Docker host's data checked and resolved
into what its stages need (registry address, CA, password, daemon.json settings).

Every problem is reported at once, naming keys, never secret values. Nothing here
touches a host; the CA of ``harbor_client_ca_source: fetch`` is read on the hosts
(``facts.docker_client.RegistryCaCertificate``) because the controller may not
resolve the registry's name.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from harbor_deploy.lib.config import schema
from harbor_deploy.lib.config.defaults import CLIENT_PASSWORD_ENV, KEYS, merged
from harbor_deploy.lib.config.secrets import (
    ROBOT_PREFIX,
    RereadableSecret,
    Secret,
    SecretStore,
    current_admin_password,
    robot_secret_name,
    secrets_dir,
)
from harbor_deploy.lib.config.validate import (
    SHA256_RE,
    ConfigError,
    docker_repo_problems,
    hostname_problems,
    is_port,
)
from harbor_deploy.lib.render import tls

REGISTRY_RE = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
# Harbor user and robot names ("robot$project+name"): printable, no space, no colon
# (basic auth splits there).
USERNAME_RE = re.compile(r"^[^\s:]{1,255}$")
# The Harbor API path of the CA that signs its certificate.
GETCERT_PATH = "/api/v2.0/systeminfo/getcert"


class ClientConfigError(ConfigError):
    """Invalid client data; ``problems`` is the list of ``(key, why)``."""

    def __init__(self, problems):
        super().__init__(problems)
        self.args = (self.args[0].replace("Harbor server data", "Harbor client data"),)


@dataclass(frozen=True)
class ClientPlan:
    """What the client stages share, resolved on the controller for one host."""

    registry: str
    trust: str
    ca_pem: bytes | None  # None: nothing to install, or fetched on the host (ca_fetch_url)
    ca_fetch_url: str | None
    ca_sha256: str | None
    os_trust_store: bool
    login_users: tuple
    username: str
    password: Secret | None
    daemon_settings: dict
    restart_batch: int
    smoke_test: bool
    smoke_project: str
    # The host's ClientState, read by the client stages before any change.
    state: dict | None = None


def registry_address(config):
    """``host:port`` clients use: ``harbor_registry``, else derived from the server keys."""
    if config.get("harbor_registry"):
        return config["harbor_registry"]
    port_key = "harbor_http_port" if config["harbor_client_trust"] == "http" else "harbor_https_port"
    return f"{config['harbor_hostname']}:{config[port_key]}"


def daemon_settings(config, registry):
    """daemon.json keys to merge: the extra keys, plus the registry in
    ``insecure-registries`` in http mode (merged with any the extra keys list)."""
    settings = dict(config["harbor_client_daemon_extra"])
    if config["harbor_client_trust"] == "http":
        extra = settings.get("insecure-registries", [])
        settings["insecure-registries"] = list(dict.fromkeys([*extra, registry]))
    return settings


def client_password(config, env=None):
    """The password of ``harbor_client_username``, never generated: ``HARBOR_CLIENT_PASSWORD``,
    else what the secrets dir keeps for that account — a robot's secret from configure
    (``robots/<project>+<name>``), or for ``admin`` the managed password configure
    rotated to, else the server deploy's initial one."""
    store = SecretStore(secrets_dir(config), env)
    if CLIENT_PASSWORD_ENV in store.env:
        return Secret(store.env[CLIENT_PASSWORD_ENV], f"env {CLIENT_PASSWORD_ENV}")
    username = config["harbor_client_username"]
    if username.startswith(ROBOT_PREFIX):
        return store.read(robot_secret_name(username.removeprefix(ROBOT_PREFIX)))
    if username != "admin":
        return None
    return current_admin_password(store)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def check_ca_pem(pem, pin=None):
    """Problems of CA bytes to trust (not PEM certificates, or not the pinned ones)."""
    try:
        tls.load_certificates(pem)
    except tls.TlsError as error:
        return [str(error)]
    if pin and sha256_hex(pem) != pin:
        return [f"its sha256 {sha256_hex(pem)} is not the pinned harbor_client_ca_sha256"]
    return []


def _registry_problems(config):
    registry = config["harbor_registry"]
    if registry is None:
        return
    match = REGISTRY_RE.match(registry) if isinstance(registry, str) else None
    if not match or not is_port(int(match["port"])):
        yield "harbor_registry", "must be host:port (no scheme, no path), e.g. harbor.example.com:8443"


def _ca_problems(config):
    if config["harbor_client_trust"] != "https":
        return
    source, pin = config["harbor_client_ca_source"], config["harbor_client_ca_sha256"]
    if pin is not None and not (isinstance(pin, str) and SHA256_RE.match(pin)):
        yield "harbor_client_ca_sha256", "must be the full sha256: 64 lowercase hex digits"
        pin = None
    if source == "fetch" and pin is None:
        yield (
            "harbor_client_ca_sha256",
            "required when harbor_client_ca_source is fetch: the sha256 of the CA PEM Harbor serves at "
            f"{GETCERT_PATH} (sha256sum <harbor_secrets_dir>/<hostname>/{tls.CA_CERT} on the controller, or of "
            "what a trusted machine fetched), so that no one between a client and Harbor can slip in a CA of their own",
        )
    if source == "secrets":
        key, path = "harbor_client_ca_source", ca_secrets_path(config)
        if not path.is_file():
            yield (
                key,
                (
                    f"no CA in {path.parent}: the server deploy keeps there what the clients trust ({tls.CA_CERT}, "
                    f"the CA it generates in harbor_tls_mode generate; {tls.PROVIDED_CHAIN}, a copy of "
                    "harbor_tls_chain in mode provided): run deploys/server.py first. A certificate of a public CA "
                    "(mode provided without harbor_tls_chain): set harbor_client_ca_source to none"
                ),
            )
            return
    elif source == "file":
        key, path = "harbor_client_ca_file", config["harbor_client_ca_file"]
        if not path:
            yield key, "required when harbor_client_ca_source is file"
            return
        if not Path(path).is_file():
            yield key, f"no such file on the controller: {path}"
            return
    else:
        return
    for why in check_ca_pem(Path(path).read_bytes(), pin):
        yield key, f"{path}: {why}"


def _login_problems(config, env):
    users = config["harbor_client_login_users"]
    username = config["harbor_client_username"]
    if users and username is None:
        yield (
            "harbor_client_username",
            (
                "required when harbor_client_login_users is not empty: the Harbor account every Docker "
                "host logs in as. Use a robot account (robot$<project>+<name>, created by "
                "deploys/configure.py from harbor_robots), not admin: each host keeps the password in "
                "~/.docker/config.json"
            ),
        )
        return
    if username is None:
        return
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        yield "harbor_client_username", "must be a Harbor user or robot name (no space, no colon)"
        return
    if users and client_password(config, env) is None:
        yield (
            "harbor_client_username",
            (
                f"no password for {username}: set {CLIENT_PASSWORD_ENV}"
                + (
                    " (or keep the server deploy's admin_password in the secrets dir)"
                    if username == "admin"
                    else " (or run deploys/configure.py, which keeps the robot's secret)"
                    if username.startswith(ROBOT_PREFIX)
                    else ""
                )
            ),
        )
    if config["harbor_client_smoke_test"] and not users:
        yield "harbor_client_smoke_test", "needs a logged-in user: harbor_client_login_users is empty"


def ca_secrets_path(config):
    """What the server deploy keeps for the clients to trust: the provided chain (mode
    provided) when there is one, else the generated CA."""
    directory = secrets_dir(config)
    chain = directory / tls.PROVIDED_CHAIN
    return chain if chain.is_file() else directory / tls.CA_CERT


def client_problems(config, env=None):
    """Every ``(key, why)`` problem of merged client data ``config``."""
    found = list(hostname_problems(config))
    if found:
        return found
    client_keys = {
        key.name for key in KEYS if key.name.startswith(("harbor_client_", "harbor_registry", "harbor_docker_"))
    }
    found += [(key, why) for key, why in schema.problems(config) if key in client_keys]
    found += _registry_problems(config)
    if found:
        return found
    return [*docker_repo_problems(config), *_ca_problems(config), *_login_problems(config, env)]


def client_plan(data, env=None):
    """The ``ClientPlan`` of host ``data``; ``ClientConfigError`` listing every problem."""
    config = merged(data)
    problems = client_problems(config, env)
    if problems:
        raise ClientConfigError(problems)
    registry = registry_address(config)
    https = config["harbor_client_trust"] == "https"
    source = config["harbor_client_ca_source"]
    ca_path = {"secrets": ca_secrets_path(config), "file": config["harbor_client_ca_file"]}.get(source)
    return ClientPlan(
        registry=registry,
        trust=config["harbor_client_trust"],
        ca_pem=Path(ca_path).read_bytes() if https and ca_path else None,
        ca_fetch_url=f"https://{registry}{GETCERT_PATH}" if https and source == "fetch" else None,
        ca_sha256=config["harbor_client_ca_sha256"],
        os_trust_store=https and source != "none" and config["harbor_client_os_trust_store"],
        login_users=tuple(config["harbor_client_login_users"]),
        username=config["harbor_client_username"],
        # Read again as the clients log in: configure may refresh a robot's secret earlier in the run.
        password=RereadableSecret(lambda: client_password(config, env))
        if config["harbor_client_login_users"]
        else None,
        daemon_settings=daemon_settings(config, registry),
        restart_batch=config["harbor_client_restart_batch"],
        smoke_test=config["harbor_client_smoke_test"],
        smoke_project=config["harbor_client_smoke_project"],
    )


def smoke_tag(host_name):
    """An image tag naming the client that pushed it (tags allow ``[A-Za-z0-9_.-]``, 128 max)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", host_name).lstrip(".-")[:128] or "client"


def smoke_reference(registry, project, host_name):
    return f"{registry}/{project}/hd-smoke:{smoke_tag(host_name)}"


def smoke_peer(name, names):
    """Whose smoke image ``name`` pulls: the next of ``names`` in sorted order, wrapping
    round; itself when alone."""
    ordered = sorted(set(names) | {name})
    return ordered[(ordered.index(name) + 1) % len(ordered)]
