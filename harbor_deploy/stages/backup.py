"""Stages of ``deploys/backup.py`` and ``deploys/restore.py``.

A backup is a directory ``harbor-<UTC time>-<version>/`` on the server (and, by
default, copied to the controller): the database dump, ``<data_volume>/secret``,
harbor.yml, the TLS files, optionally the registry's storage, a manifest and
``SHA256SUMS``. A restore puts the data back onto the same release (installed first
by the server deploy), on the same server or a new one.
"""

import datetime
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import DeployError, deploy
from pyinfra.operations import python

from harbor_deploy.facts.harbor import HarborBackups, HarborInstallation
from harbor_deploy.lib.config.defaults import SERVER_TLS_DIR
from harbor_deploy.lib.config.secrets import ensure_private_dir
from harbor_deploy.lib.config.validate import version_key
from harbor_deploy.lib.harbor_api.client import served_url
from harbor_deploy.lib.render.backing import SWIFT_DEVICE, SWIFT_DEVICES
from harbor_deploy.operations import harbor, secret_file
from harbor_deploy.operations.deploy_lock import lock_holder
from harbor_deploy.planning.context import config_of


@dataclass(frozen=True)
class BackupPlan:
    config: dict
    installation: dict
    manifest: dict
    # The controller copy of this host's backups, or None.
    fetch_dir: Path | None
    lock_holder: str


def _fetch_dir(config):
    return Path(config["harbor_backup_fetch_dir"]) / host.name if config["harbor_backup_fetch_dir"] else None


def plan_backup(overrides=None, now=None):
    """What to back up, read from the host: no change anywhere yet."""
    config = config_of(overrides)
    installation = host.get_fact(HarborInstallation, install_dir=config["harbor_install_dir"].rstrip("/"))
    version = installation["running_version"]
    external = bool(config["harbor_external_database"])
    if version is None or (not external and "harbor-db" not in installation["containers"]):
        raise DeployError(f"{host.name}: no running Harbor to back up (run the server deploy first)")
    created = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    registry = config["harbor_backup_registry"] and not config["harbor_storage_service"]
    if config["harbor_backup_registry"] and not registry:
        logger.warning(f"[{host.name}] the registry's storage is harbor_storage_service: back it up there")
    manifest = {
        "name": f"harbor-{created}-{version}",
        "created": created,
        "hostname": config["harbor_hostname"],
        "version": version,
        "data_volume": config["harbor_data_volume"],
        "database": harbor.EXTERNAL_DATABASE_NOTE if external else "pg_dump",
        "registry": registry,
    }
    return BackupPlan(config, installation, manifest, _fetch_dir(config), lock_holder("harbor_backup"))


@deploy("Back up Harbor")
def backup(plan):
    if plan.manifest["database"] != "pg_dump":
        logger.warning(f"[{host.name}] harbor_external_database: {harbor.EXTERNAL_DATABASE_NOTE}")
    harbor.backup(
        name=f"Back up Harbor {plan.manifest['version']} to {plan.config['harbor_backup_dir']}/{plan.manifest['name']}"
        + (" (registry storage included)" if plan.manifest["registry"] else ""),
        manifest=plan.manifest,
        backup_dir=plan.config["harbor_backup_dir"],
        data_volume=plan.config["harbor_data_volume"],
        release_dir=plan.installation["release_dir"],
        tls_dir=SERVER_TLS_DIR,
        keep=plan.config["harbor_backup_keep"],
        lock_holder=plan.lock_holder,
    )


@deploy("Copy the backup to the controller")
def fetch(plan):
    if plan.fetch_dir is None:
        return
    local = plan.fetch_dir / plan.manifest["name"]
    # The backup holds harbor.yml's passwords and the key of Harbor's stored credentials.
    python.call(name=f"Controller folder {local} (0700)", function=ensure_private_dir, path=local)
    remote = posixpath.join(plan.config["harbor_backup_dir"], plan.manifest["name"])
    for name in harbor.backup_files(plan.manifest):
        secret_file.fetch(name=f"Copy {name} to {local}", src=posixpath.join(remote, name), dest=str(local / name))
    python.call(name=f"Keep {local} private", function=_private_files, path=local)


def _private_files(path):
    for child in Path(path).iterdir():
        child.chmod(0o600)


SWIFT_DEVICE_DIR = f"{SWIFT_DEVICES}/{SWIFT_DEVICE}"


@deploy("Back up the shared database")
def shared_database(overrides=None, now=None):
    """On a ``harbor_backing`` host: a dump of the database the nodes share, copied to
    the controller like a node's backup. The registry's layers are the object
    store's: said, not copied."""
    config = config_of(overrides)
    database = config["harbor_external_database"] or {}
    created = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    name = f"harbor-db-{created}"
    logger.warning(
        f"[{host.name}] the registry's layers are not in this backup: they are in the object store "
        f"(Swift's device {SWIFT_DEVICE_DIR} here; back that filesystem up, or, for a managed S3 bucket, turn on "
        "its versioning or replication)"
    )
    harbor.database_dump(
        name=f"Dump the shared database {database.get('db_name')} to {config['harbor_backup_dir']}/{name}.pgdump",
        dump=name,
        backup_dir=config["harbor_backup_dir"],
        port=database.get("port", 5432),
        database=database.get("db_name", "registry"),
        keep=config["harbor_backup_keep"],
    )
    fetch_dir = _fetch_dir(config)
    if fetch_dir is None:
        return
    python.call(name=f"Controller folder {fetch_dir} (0700)", function=ensure_private_dir, path=fetch_dir)
    for file_name in (f"{name}.pgdump", f"{name}.pgdump.sha256"):
        secret_file.fetch(
            name=f"Copy {file_name} to {fetch_dir}",
            src=posixpath.join(config["harbor_backup_dir"], file_name),
            dest=str(fetch_dir / file_name),
        )
    python.call(name=f"Keep {fetch_dir} private", function=_private_files, path=fetch_dir)


@dataclass(frozen=True)
class RestorePlan:
    config: dict
    manifest: dict
    # Where the backup's files are on the controller, when the server lacks them.
    upload_from: Path | None
    lock_holder: str


def _controller_backups(fetch_dir):
    """``{name: manifest}`` of the complete backups in the controller copy."""
    found = {}
    if fetch_dir is None or not fetch_dir.is_dir():
        return found
    for path in fetch_dir.glob("harbor-*/manifest.json"):
        if (path.parent / "SHA256SUMS").is_file():
            found[path.parent.name] = json.loads(path.read_text())
    return found


def plan_restore(overrides=None):
    """Which backup goes where, checked against the installed release: no change yet."""
    config = config_of(overrides)
    installation = host.get_fact(HarborInstallation, install_dir=config["harbor_install_dir"].rstrip("/"))
    on_server = host.get_fact(HarborBackups, backup_dir=config["harbor_backup_dir"])
    fetch_dir = _fetch_dir(config)
    on_controller = _controller_backups(fetch_dir)
    known = {**on_controller, **on_server}
    wanted = config["harbor_restore_from"]
    if not known:
        raise DeployError(
            f"{host.name}: harbor_restore_from: no backup in {config['harbor_backup_dir']} on the server "
            f"or in {fetch_dir}"
        )
    name = max(known) if wanted == "latest" else wanted
    if name not in known:
        raise DeployError(f"{host.name}: harbor_restore_from: no backup {name} (found: {', '.join(sorted(known))})")
    manifest = known[name]
    version = installation["running_version"]
    if version is None:
        raise DeployError(
            f"{host.name}: no Harbor installed to restore {name} onto: run the server deploy with "
            f"harbor_version {manifest['version']} first"
        )
    if version_key(manifest["version"]) > version_key(version):
        raise DeployError(
            f"{host.name}: {name} comes from Harbor {manifest['version']}, newer than {version} here: "
            f"install {manifest['version']} first (a database is never moved to an older release)"
        )
    if manifest["database"] != "pg_dump" and not config["harbor_external_database"]:
        raise DeployError(f"{host.name}: {name} has no database ({manifest['database']}) and this Harbor's is bundled")
    return RestorePlan(
        config=config,
        manifest=manifest,
        upload_from=None if name in on_server else fetch_dir / name,
        lock_holder=lock_holder("harbor_restore"),
    )


@deploy("Restore Harbor")
def restore(plan):
    remote = posixpath.join(plan.config["harbor_backup_dir"], plan.manifest["name"])
    if plan.upload_from is not None:
        for name in harbor.backup_files(plan.manifest):
            secret_file.upload(
                name=f"Upload {name} of {plan.manifest['name']}",
                src=str(plan.upload_from / name),
                dest=posixpath.join(remote, name),
                lock_holder=plan.lock_holder,
            )
    harbor.restore(
        name=f"Restore {plan.manifest['name']} (Harbor {plan.manifest['version']}) and start Harbor",
        manifest=plan.manifest,
        backup_dir=plan.config["harbor_backup_dir"],
        data_volume=plan.config["harbor_data_volume"],
        install_dir=plan.config["harbor_install_dir"].rstrip("/"),
        trivy=plan.config["harbor_with_trivy"],
        lock_holder=plan.lock_holder,
    )
    harbor.wait_healthy(
        name="Wait until Harbor is healthy",
        url=served_url(plan.config, "127.0.0.1"),
        timeout=plan.config["harbor_health_timeout"],
        log_dir=plan.config["harbor_log_location"],
    )


@dataclass(frozen=True)
class RollbackPlan:
    config: dict
    running: str
    previous: str
    manifest: dict
    lock_holder: str


def plan_rollback(overrides=None):
    """The release kept before the running one, and the backup its upgrade took."""
    config = config_of(overrides)
    install_dir = config["harbor_install_dir"].rstrip("/")
    installation = host.get_fact(HarborInstallation, install_dir=install_dir)
    running = installation["running_version"]
    if running is None:
        raise DeployError(f"{host.name}: no running Harbor to roll back")
    kept = [release.removeprefix(f"{install_dir}-") for release in installation["releases"]]
    older = sorted((v for v in kept if version_key(v) < version_key(running)), key=version_key)
    if not older:
        raise DeployError(
            f"{host.name}: no release older than {running} is kept beside {install_dir}: nothing to roll back to"
        )
    previous = older[-1]
    backups = host.get_fact(HarborBackups, backup_dir=config["harbor_backup_dir"])
    before_upgrade = sorted(
        name
        for name, manifest in backups.items()
        if manifest.get("version") == previous and manifest.get("reason") == f"before the upgrade to {running}"
    )
    if not before_upgrade:
        raise DeployError(
            f"{host.name}: no backup taken before the upgrade {previous} -> {running} in {config['harbor_backup_dir']}"
        )
    return RollbackPlan(config, running, previous, backups[before_upgrade[-1]], lock_holder("harbor_rollback"))


@deploy("Roll back the last upgrade")
def rollback(plan):
    harbor.rollback(
        name=f"Roll back Harbor {plan.running} -> {plan.previous} with the data of {plan.manifest['name']} "
        f"(what changed since is lost)",
        from_version=plan.previous,
        to_version=plan.running,
        install_dir=plan.config["harbor_install_dir"],
        backup_manifest=plan.manifest,
        backup_dir=plan.config["harbor_backup_dir"],
        data_volume=plan.config["harbor_data_volume"],
        url=served_url(plan.config, "127.0.0.1"),
        trivy=plan.config["harbor_with_trivy"],
        timeout=plan.config["harbor_health_timeout"],
        log_dir=plan.config["harbor_log_location"],
        lock_holder=plan.lock_holder,
        _env={"TERM": "xterm"},
    )
    logger.info(
        f"[{host.name}] set harbor_version to {plan.previous} in the inventory, or the next server run upgrades again"
    )
