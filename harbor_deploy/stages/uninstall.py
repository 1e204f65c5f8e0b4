"""Stages of ``deploys/uninstall.py``: Harbor's containers, unit, firewall opening,
releases, images, TLS files and installer cache go; its data stays unless a purge is
asked for twice.

Before anything goes, the controller takes back any secret the kept data needs (the
database password lives in harbor.yml, which goes): the server deploy then brings the
same Harbor back on the same data.
"""

import shlex
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.operations import server

from harbor_deploy.facts.harbor import COMPOSE_PROJECT
from harbor_deploy.lib.config.defaults import (
    FIREWALLD_SERVICE,
    REMOTE_CACHE,
    SERVER_TLS_DIR,
    SHARED_VALUES,
    SHARED_VALUES_SCRIPT,
    SYSTEMD_UNIT,
    release_dir,
)
from harbor_deploy.lib.config.secrets import load_secrets
from harbor_deploy.lib.config.validate import ConfigError, confirmation_problems
from harbor_deploy.operations import firewalld
from harbor_deploy.operations.deploy_lock import Holder, acquire, lock_holder
from harbor_deploy.planning.context import config_of, refused_before_any_change
from harbor_deploy.planning.server import read_state, secrets_on_server


@dataclass(frozen=True)
class UninstallPlan:
    config: dict
    state: dict
    keep: dict
    keep_why: dict
    install_dir: str
    purge: bool
    lock_holder: Holder
    # What the controller had of the kept files: nothing, it keeps recovered secrets it lacked.
    keep_as_read: dict = field(default_factory=dict)

    def present(self, *paths):
        """The paths of ``paths`` (globs as ``FileStates`` read them) found on the host."""
        files = self.state["files"]
        return [path for path in paths if path in files or ("*" in path and any(_glob(path, f) for f in files))]


def _glob(pattern, path):
    prefix, suffix = pattern.split("*", 1)
    return path.startswith(prefix) and path.endswith(suffix) and "/" not in path[len(prefix) : len(path) - len(suffix)]


def purge_problems(config):
    """A purge deletes Harbor's data for good: it needs the flag and the hostname
    repeated. ``[(key, why)]``, as ``ConfigError`` takes them."""
    key = "harbor_uninstall_purge_hostname"
    if config["harbor_uninstall_purge"]:
        paths = f"{config['harbor_data_volume']} and {config['harbor_log_location']}"
        return confirmation_problems(config, key, f"harbor_uninstall_purge: it deletes {paths} for good")
    if config[key] is not None:
        return [(key, "set without harbor_uninstall_purge: true (nothing is purged)")]
    return []


def plan(overrides=None):
    """Validate the data, read the host, take back the secrets the kept data needs:
    no change anywhere yet."""
    config = config_of(overrides)
    with refused_before_any_change():
        problems = purge_problems(config)
        if problems:
            raise ConfigError(problems)
        install_dir = config["harbor_install_dir"].rstrip("/")
        state = read_state(
            config,
            extra_paths=(
                release_dir(install_dir, "v*"),
                config["harbor_data_volume"],
                config["harbor_log_location"],
                SERVER_TLS_DIR,
                REMOTE_CACHE,
                SHARED_VALUES,
                SHARED_VALUES_SCRIPT,
            ),
        )
        on_server, _ = secrets_on_server(config, state)
        secrets = load_secrets(config, server=on_server)
    link = state["files"].get(install_dir)
    if link is not None and link["type"] != "link":
        raise DeployError(
            f"{host.name}: {install_dir} is a {link['type']}, not the symlink harbor-deploy keeps to a release: "
            "a Harbor installed by hand is left to its owner (the server deploy adopts it first)"
        )
    # Only what the server had: nothing is generated for a Harbor that is going away.
    recovered = [name for name in secrets.to_keep if secrets.recovered(name)]
    return UninstallPlan(
        config=config,
        state=state,
        keep={name: secrets.to_keep[name][0] for name in recovered},
        keep_why={name: secrets.to_keep[name][1] for name in recovered},
        install_dir=install_dir,
        purge=config["harbor_uninstall_purge"],
        lock_holder=lock_holder("harbor_uninstall"),
    )


@deploy("Stop Harbor")
def stop(plan):
    installation, health = plan.state["installation"], plan.state["health"]
    running = installation["service_enabled"] == "enabled" or installation["service_active"] == "active"
    if not running and not health["containers"]:
        host.noop("Harbor is stopped: no harbor.service running, no container")
        return
    compose = f"{plan.install_dir}/docker-compose.yml"
    server.shell(
        name="Stop Harbor and remove its containers (its data volume stays)",
        commands=[
            f"{acquire(plan.lock_holder)} && "
            "{ systemctl disable --now harbor.service 2>/dev/null || true; } && "
            f"if [ -f {shlex.quote(compose)} ]; then docker compose -p {COMPOSE_PROJECT} "
            f"-f {shlex.quote(compose)} down --remove-orphans; fi && "
            f"docker ps -aq --filter label=com.docker.compose.project={COMPOSE_PROJECT} | xargs -r docker rm -f"
        ],
    )


@deploy("Remove harbor.service")
def unit(plan):
    if not plan.present(SYSTEMD_UNIT):
        host.noop(f"{SYSTEMD_UNIT} is absent")
        return
    server.shell(
        name=f"Remove {SYSTEMD_UNIT}",
        commands=[
            f"{acquire(plan.lock_holder)} && rm -f {SYSTEMD_UNIT} && systemctl daemon-reload && "
            "{ systemctl reset-failed harbor.service 2>/dev/null || true; }"
        ],
    )


@deploy("Firewall")
def firewall(plan):
    firewalld.service_removed(
        name=f"Close Harbor's ports: remove firewalld service {FIREWALLD_SERVICE}",
        service=FIREWALLD_SERVICE,
        firewall=plan.state["firewall"],
        lock_holder=plan.lock_holder,
    )


@deploy("Remove Harbor's files and images")
def files(plan):
    paths = plan.present(
        plan.install_dir,
        release_dir(plan.install_dir, "v*"),
        SERVER_TLS_DIR,
        REMOTE_CACHE,
        SHARED_VALUES,
        SHARED_VALUES_SCRIPT,
    )
    if paths:
        words = " ".join("*".join(shlex.quote(part) for part in path.split("*")) for path in paths)
        server.shell(
            name="Remove Harbor's releases, its symlink, TLS files, the installer cache and the values nodes share",
            commands=[f"{acquire(plan.lock_holder)} && rm -rf {words}"],
        )
    else:
        host.noop("no Harbor release, TLS file or installer cache left")
    if plan.state["installation"]["core_images"]:
        server.shell(
            name="Remove Harbor's images",
            commands=[
                f"{acquire(plan.lock_holder)} && docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' "
                "| grep '^goharbor/' | xargs -r docker rmi >/dev/null"
            ],
        )


@deploy("Purge Harbor's data")
def purge(plan):
    paths = plan.present(plan.config["harbor_data_volume"], plan.config["harbor_log_location"])
    if not paths:
        host.noop("no data volume or log directory left")
        return
    server.shell(
        name=f"Delete {' and '.join(paths)} for good (harbor_uninstall_purge)",
        commands=[f"{acquire(plan.lock_holder)} && rm -rf {' '.join(shlex.quote(p) for p in paths)}"],
    )
