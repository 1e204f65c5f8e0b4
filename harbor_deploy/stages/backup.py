"""Stages of ``deploys/backup.py``, ``deploys/restore.py`` and ``deploys/rollback.py``.

A backup is a directory ``harbor-<UTC time>-<version>/`` on the server, named by the
server's clock (and, by default, copied to the controller): the database dump,
``<data_volume>/secret``, harbor.yml, the TLS files, optionally the registry's
storage, a manifest and ``SHA256SUMS``. A restore puts a backup's data back onto the
installed release; a rollback puts the previous release back with the data of the
backup its upgrade took. Both replace the live data, so both ask for the hostname
repeated, act on one named host, refuse a backup older than the live data unless
told to discard the newer data, and take a safety backup first (``harbor_data``).
"""

import datetime
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import DeployError, deploy
from pyinfra.operations import python

from harbor_deploy.facts.harbor import HarborBackups, HarborDataSince, HarborInstallation, UnfinishedOperation
from harbor_deploy.lib.config.defaults import SERVER_GROUP
from harbor_deploy.lib.config.secrets import ensure_private_dir
from harbor_deploy.lib.config.validate import ConfigError, confirmation_problems, version_key
from harbor_deploy.lib.render.backing import SWIFT_DEVICE, SWIFT_DEVICES
from harbor_deploy.operations import harbor_data, secret_file
from harbor_deploy.operations.deploy_lock import lock_holder
from harbor_deploy.planning.context import config_of, inventory_dir, one_named_host, refused_before_any_change
from harbor_deploy.planning.server import data_place, refuse_after_unfinished

BACKUP_NAME = re.compile(r"^harbor-(?P<created>\d{8}T\d{6}Z)-v[0-9A-Za-z.-]+$")


def _fetch_dir(config):
    return Path(config["harbor_backup_fetch_dir"]) / host.name if config["harbor_backup_fetch_dir"] else None


def rollback_backup(backups, installation, install_dir):
    """``(previous release, name of the backup its upgrade took)`` for the release
    ``install_dir`` points to, or None: what a rollback needs and retention keeps."""
    running = installation["bundle_version"] or installation["running_version"]
    if running is None:
        return None
    kept = [release.removeprefix(f"{install_dir}-") for release in installation["releases"]]
    older = sorted((v for v in kept if version_key(v) < version_key(running)), key=version_key)
    if not older:
        return None
    taken = sorted(
        name
        for name, manifest in backups.items()
        if manifest.get("version") == older[-1] and manifest.get("reason") == f"before the upgrade to {running}"
    )
    return (older[-1], taken[-1]) if taken else None


@dataclass(frozen=True)
class BackupPlan:
    config: dict
    version: str
    # What the backup holds, as its manifest will say (the files copied to the controller).
    manifest: dict
    # The backup a rollback needs: kept whatever its age.
    protect: tuple
    lock_holder: str


def plan_backup(overrides=None):
    """What to back up, read from the host: no change anywhere yet."""
    config = config_of(overrides)
    install_dir = config["harbor_install_dir"].rstrip("/")
    installation = host.get_fact(HarborInstallation, install_dir=install_dir)
    refuse_after_unfinished(host.get_fact(UnfinishedOperation))
    version = installation["running_version"]
    external = bool(config["harbor_external_database"])
    if version is None or (not external and "harbor-db" not in installation["containers"]):
        raise DeployError(f"{host.name}: no running Harbor to back up (run the server deploy first)")
    registry = config["harbor_backup_registry"] and not config["harbor_storage_service"]
    if config["harbor_backup_registry"] and not registry:
        logger.warning(f"[{host.name}] the registry's storage is harbor_storage_service: back it up there")
    if external:
        logger.warning(f"[{host.name}] harbor_external_database: {harbor_data.EXTERNAL_DATABASE_NOTE}")
    needed = rollback_backup(
        host.get_fact(HarborBackups, backup_dir=config["harbor_backup_dir"]), installation, install_dir
    )
    return BackupPlan(
        config=config,
        version=version,
        manifest=backup_manifest(config, registry),
        protect=(needed[1],) if needed else (),
        lock_holder=lock_holder("harbor_backup"),
    )


def backup_manifest(config, registry=False):
    """What a backup of this Harbor holds, as its manifest says: the database dump (none
    of an external database) and, with ``registry``, the registry's storage."""
    external = bool(config["harbor_external_database"])
    return {"database": harbor_data.EXTERNAL_DATABASE_NOTE if external else "pg_dump", "registry": registry}


@deploy("Back up Harbor")
def backup(plan):
    harbor_data.backup(
        name=f"Back up Harbor {plan.version} to {plan.config['harbor_backup_dir']}/harbor-<UTC time>-{plan.version}"
        + (" (registry storage included)" if plan.manifest["registry"] else ""),
        version=plan.version,
        registry=plan.manifest["registry"],
        protect=plan.protect,
        lock_holder=plan.lock_holder,
        **data_place(plan.config),
    )


@deploy("Copy the backup to the controller")
def fetch(config, manifest):
    """The backup the run just made (the server's ``.last``: the backup deploy's, or the
    one an upgrade took), holding what ``manifest`` says, into a private folder of the
    controller named as the server named it."""
    fetch_dir = _fetch_dir(config)
    if fetch_dir is None:
        return
    incoming = fetch_dir / ".incoming"
    # The backup holds harbor.yml's passwords and the key of Harbor's stored credentials.
    python.call(name=f"Controller folder {incoming} (0700)", function=_empty_private_dir, path=incoming)
    last = posixpath.join(config["harbor_backup_dir"], harbor_data.LAST_BACKUP)
    for name in harbor_data.backup_files(manifest):
        secret_file.fetch(name=f"Copy {name} to {fetch_dir}", src=posixpath.join(last, name), dest=str(incoming / name))
    python.call(name=f"Name the copy in {fetch_dir} as the server named it", function=_name_by_manifest, path=incoming)


def _empty_private_dir(path):
    ensure_private_dir(path)
    for child in Path(path).iterdir():
        child.unlink()


def _name_by_manifest(path):
    """``path`` (a fetched backup) renamed to its manifest's name, every file 0600."""
    name = json.loads((Path(path) / "manifest.json").read_text())["name"]
    for child in Path(path).iterdir():
        child.chmod(0o600)
    Path(path).rename(Path(path).parent / name)
    logger.info(f"[{host.name}] copied to {Path(path).parent / name}")


SWIFT_DEVICE_DIR = f"{SWIFT_DEVICES}/{SWIFT_DEVICE}"


@deploy("Back up the shared database")
def shared_database(overrides=None):
    """On a ``harbor_backing`` host: a dump of the database the nodes share, copied to
    the controller like a node's backup. The registry's layers are the object
    store's: said, not copied."""
    config = config_of(overrides)
    database = config["harbor_external_database"] or {}
    logger.warning(
        f"[{host.name}] the registry's layers are not in this backup: they are in the object store "
        f"(Swift's device {SWIFT_DEVICE_DIR} here; back that filesystem up, or, for a managed S3 bucket, turn on "
        "its versioning or replication)"
    )
    harbor_data.database_dump(
        name=f"Dump the shared database {database.get('db_name')} to {config['harbor_backup_dir']}/"
        "harbor-db-<UTC time>.pgdump",
        backup_dir=config["harbor_backup_dir"],
        port=database.get("port", 5432),
        database=database.get("db_name", "registry"),
        keep=config["harbor_backup_keep"],
        lock_holder=lock_holder("harbor_backup"),
    )
    fetch_dir = _fetch_dir(config)
    if fetch_dir is None:
        return
    incoming = fetch_dir / ".incoming"
    python.call(name=f"Controller folder {incoming} (0700)", function=_empty_private_dir, path=incoming)
    for file_name in ("harbor-db-last.pgdump", "harbor-db-last.pgdump.sha256"):
        secret_file.fetch(
            name=f"Copy {file_name} to {fetch_dir}",
            src=posixpath.join(config["harbor_backup_dir"], file_name),
            dest=str(incoming / file_name),
        )
    python.call(name=f"Name the dump in {fetch_dir} as the server named it", function=_name_dump, path=incoming)


def _name_dump(path):
    """The fetched dump and its ``.sha256`` under the name the checksum file gives."""
    incoming = Path(path)
    name = (incoming / "harbor-db-last.pgdump.sha256").read_text().split()[1]
    (incoming / "harbor-db-last.pgdump").rename(incoming.parent / name)
    sums = incoming.parent / f"{name}.sha256"
    (incoming / "harbor-db-last.pgdump.sha256").rename(sums)
    for written in (incoming.parent / name, sums):
        written.chmod(0o600)
    incoming.rmdir()


def _controller_backups(fetch_dir):
    """``{name: (manifest, folder)}`` of the complete backups in the controller copy."""
    found = {}
    if fetch_dir is None or not fetch_dir.is_dir():
        return found
    for path in fetch_dir.glob("harbor-*/manifest.json"):
        if (path.parent / "SHA256SUMS").is_file():
            found[path.parent.name] = (json.loads(path.read_text()), path.parent)
    return found


def _backup_folder(wanted):
    """``{name: (manifest, folder)}`` of a backup folder given by its controller path."""
    folder = Path(wanted) if Path(wanted).is_absolute() else inventory_dir() / wanted
    manifest = folder / "manifest.json"
    if not manifest.is_file() or not (folder / "SHA256SUMS").is_file():
        raise DeployError(
            f"{host.name}: harbor_restore_from: {folder} holds no complete backup (manifest.json, SHA256SUMS)"
        )
    return {folder.name: (json.loads(manifest.read_text()), folder)}


def _iso(created):
    """A backup's ``created`` (``20261207T101500Z``) as an ISO UTC time."""
    return datetime.datetime.strptime(created, "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%SZ")


def newer_data_problem(config, manifest, marker, operation):
    """Why ``operation`` (restore, rollback) of ``manifest``'s backup would drop live
    data newer than it, read from the host; None when it would not, or when that is
    acknowledged (``harbor_discard_newer_data``) or the host is being recovered
    (``marker``)."""
    if config["harbor_discard_newer_data"] or marker:
        return None
    since = host.get_fact(HarborDataSince, since=_iso(manifest["created"]), data_volume=config["harbor_data_volume"])
    if not since["readable"]:
        return (
            f"the live database does not answer, so what the {operation} would drop can't be told: set "
            "harbor_discard_newer_data: true to go on"
        )
    counts = {kind: since.get(kind, 0) for kind in ("tags", "projects", "robots", "users", "registries")}
    if not any(counts.values()):
        return None
    listed = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
    return (
        f"the live data is newer than {manifest['name']}: {listed} made since {_iso(manifest['created'])} "
        f"(the newest at {since['newest']}) would be lost; nothing was changed: set harbor_discard_newer_data: "
        f"true to {operation} anyway (a safety backup of the live data is taken first)"
    )


def confirmed(config, key, action):
    with refused_before_any_change():
        found = confirmation_problems(config, key, action)
        if found:
            raise ConfigError(found)


@dataclass(frozen=True)
class RestorePlan:
    config: dict
    manifest: dict
    version: str
    # Where the backup's files are on the controller, when the server lacks them.
    upload_from: Path | None
    lock_holder: str


def plan_restore(overrides=None):
    """Which backup goes where, checked against the installed release and the live
    data: no change yet."""
    config = config_of(overrides)
    confirmed(config, "harbor_restore_hostname", "the restore (it replaces the live data)")
    one_named_host(SERVER_GROUP, "a restore")
    wanted = config["harbor_restore_from"]
    if not wanted:
        raise DeployError(
            f"{host.name}: harbor_restore_from: name the backup to restore (a backup's name, or the path of a backup "
            "folder); nothing was changed"
        )
    install_dir = config["harbor_install_dir"].rstrip("/")
    installation = host.get_fact(HarborInstallation, install_dir=install_dir)
    on_server = host.get_fact(HarborBackups, backup_dir=config["harbor_backup_dir"])
    if "/" in wanted:
        known = _backup_folder(wanted)
        wanted = next(iter(known))
        held = on_server.get(wanted, {}).get("sha256sums")
        if held and held != hashlib.sha256((known[wanted][1] / "SHA256SUMS").read_bytes()).hexdigest():
            raise DeployError(
                f"{host.name}: harbor_restore_from: the server holds another backup named {wanted} in "
                f"{config['harbor_backup_dir']}: rename one of them; nothing was changed"
            )
    else:
        known = {**_controller_backups(_fetch_dir(config)), **{name: (m, None) for name, m in on_server.items()}}
    if wanted not in known:
        found = ", ".join(sorted(known)) or "none"
        raise DeployError(f"{host.name}: harbor_restore_from: no backup {wanted} here (found: {found})")
    manifest, folder = known[wanted]
    version = installation["bundle_version"] or installation["running_version"]
    if version is None:
        raise DeployError(
            f"{host.name}: no Harbor installed to restore {wanted} onto: run the server deploy with "
            f"harbor_version {manifest['version']} first"
        )
    if version_key(manifest["version"]) > version_key(version):
        raise DeployError(
            f"{host.name}: {wanted} comes from Harbor {manifest['version']}, newer than {version} here: "
            f"install {manifest['version']} first (a database is never moved to an older release)"
        )
    if manifest["database"] != "pg_dump" and not config["harbor_external_database"]:
        raise DeployError(
            f"{host.name}: {wanted} has no database ({manifest['database']}) and this Harbor's is bundled"
        )
    problem = newer_data_problem(config, manifest, host.get_fact(UnfinishedOperation), "restore")
    if problem:
        raise DeployError(f"{host.name}: harbor_discard_newer_data: {problem}")
    return RestorePlan(
        config=config,
        manifest=manifest,
        version=version,
        upload_from=None if wanted in on_server else folder,
        lock_holder=lock_holder("harbor_restore"),
    )


@deploy("Restore Harbor")
def restore(plan):
    remote = posixpath.join(plan.config["harbor_backup_dir"], plan.manifest["name"])
    if plan.upload_from is not None:
        for name in harbor_data.backup_files(plan.manifest):
            secret_file.upload(
                name=f"Upload {name} of {plan.manifest['name']}",
                src=str(plan.upload_from / name),
                dest=posixpath.join(remote, name),
                lock_holder=plan.lock_holder,
            )
    harbor_data.restore(
        name=f"Restore {plan.manifest['name']} (Harbor {plan.manifest['version']}) onto Harbor {plan.version}: a "
        "safety backup of the live data first, the backup loaded beside it, swapped in once complete",
        backup_name=plan.manifest["name"],
        version=plan.version,
        lock_holder=plan.lock_holder,
        **data_place(plan.config),
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
    confirmed(config, "harbor_rollback_hostname", "the rollback (it puts back the data of the upgrade's backup)")
    one_named_host(SERVER_GROUP, "a rollback")
    install_dir = config["harbor_install_dir"].rstrip("/")
    installation = host.get_fact(HarborInstallation, install_dir=install_dir)
    marker = host.get_fact(UnfinishedOperation)
    refuse_after_unfinished(marker)
    running = installation["running_version"]
    if running is None:
        raise DeployError(f"{host.name}: no running Harbor to roll back")
    backups = host.get_fact(HarborBackups, backup_dir=config["harbor_backup_dir"])
    found = rollback_backup(backups, installation, install_dir)
    if found is None:
        raise DeployError(
            f"{host.name}: no release older than {running} kept beside {install_dir} with the backup its upgrade "
            f"took in {config['harbor_backup_dir']}: nothing to roll back to"
        )
    previous, name = found
    problem = newer_data_problem(config, backups[name], marker, "roll back")
    if problem:
        raise DeployError(f"{host.name}: harbor_discard_newer_data: {problem}")
    return RollbackPlan(config, running, previous, backups[name], lock_holder("harbor_rollback"))


@deploy("Roll back the last upgrade")
def rollback(plan):
    harbor_data.rollback(
        name=f"Roll back Harbor {plan.running} -> {plan.previous} with the data of {plan.manifest['name']} (a safety "
        f"backup of the live data first)",
        from_version=plan.previous,
        to_version=plan.running,
        backup_name=plan.manifest["name"],
        database_dirs=plan.manifest.get("database_dirs", "").split(),
        lock_holder=plan.lock_holder,
        **data_place(plan.config),
    )
    logger.info(
        f"[{host.name}] set harbor_version to {plan.previous} in the inventory, or the next server run upgrades again"
    )
