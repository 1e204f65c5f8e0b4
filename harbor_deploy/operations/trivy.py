"""
Trivy's databases brought offline: a bundle fetched on a connected machine, placed in
the trivy-adapter's cache where an air-gapped Harbor's scanner reads it.
"""

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation

from harbor_deploy.facts.trivy import BUNDLE_RECORD, SCANNER_UID, TRIVY_CACHE, TrivyDatabases
from harbor_deploy.operations.deploy_lock import guarded
from harbor_deploy.operations.secret_file import AS_LOGIN_USER, STAGING

# The database file each bundle holds beside its metadata.json.
DATABASE_FILES = {"db": "trivy.db", "java-db": "trivy-java.db"}


@operation()
def database(src, sha256, folder, data_volume, staging_dir, databases=None, lock_holder=None):
    """
    Place a Trivy database bundle in ``<data_volume>/trivy-adapter/trivy/<folder>``
    unless the one there came from this very bundle and is owned by the scanner.

    + src: controller path of the bundle (``db.tar.gz`` or ``javadb.tar.gz``, gzip or plain tar)
    + sha256: its sha256, checked again on the host after the upload
    + folder: ``db`` (trivy-db: ``trivy.db``) or ``java-db`` (trivy-java-db: ``trivy-java.db``)
    + data_volume: Harbor's data volume
    + staging_dir: a directory on the host the bundle passes through (removed after)
    + databases: the ``TrivyDatabases`` fact of ``data_volume``, when the caller read it
      already; read here otherwise
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    The bundle is unpacked beside the folder and checked (its database file and
    ``metadata.json`` there) before it replaces the folder; the new folder, owned by the
    scanner user (uid 10000, as prepare makes the cache), gets the bundle's sha256 in
    ``harbor-deploy-bundle.sha256``, which a later run compares instead of sending the
    bundle again. A bundle without its files fails this host, the database in place
    left as it was. The adapter reads the database at each scan: nothing restarts.

    **Example:**

    .. code:: python

        trivy.database(
            name="Trivy's vulnerability database from db.tar.gz",
            src="/home/me/trivy/db.tar.gz",
            sha256="9f86d0...",
            folder="db",
            data_volume="/data",
            staging_dir="/var/cache/harbor-deploy",
        )
    """
    if databases is None:
        databases = host.get_fact(TrivyDatabases, data_volume=data_volume)
    found = databases.get(folder) or {}
    if found.get("bundle_sha256") == sha256 and found.get("metadata") and not found.get("foreign_owner"):
        host.noop(f"Trivy's {folder} is the one of {posixpath.basename(src)}")
        return
    cache = f"{data_volume.rstrip('/')}/{TRIVY_CACHE}"
    target = f"{cache}/{folder}"
    unpacked = f"{target}.partial"
    staging = posixpath.join(staging_dir, STAGING)
    staged = posixpath.join(staging, f"trivy-{folder}.bundle")
    owner = f"{SCANNER_UID}:{SCANNER_UID}"
    yield guarded(
        lock_holder,
        f"install -d -m 0755 {shlex.quote(staging_dir)} && "
        f'install -d -m 0700 -o "${{SUDO_USER:-$(id -un)}}" {shlex.quote(staging)} && rm -f {shlex.quote(staged)}',
    )
    yield FileUploadCommand(src, staged, remote_temp_filename=staged, **AS_LOGIN_USER)
    missing = f"{posixpath.basename(src)} holds no {DATABASE_FILES[folder]} and metadata.json: {target} left as it was"
    yield StringCommand(
        f"fail() {{ rm -rf {shlex.quote(unpacked)} {shlex.quote(staged)}; echo \"$1\" >&2; exit 1; }}; "
        f'[ "$(sha256sum < {shlex.quote(staged)} | cut -d" " -f1)" = {sha256} ] || '
        f"fail {shlex.quote(f'{posixpath.basename(src)}: the upload does not match sha256 {sha256}')}; "
        f"rm -rf {shlex.quote(unpacked)} && mkdir -p {shlex.quote(unpacked)} && "
        f"tar -xf {shlex.quote(staged)} -C {shlex.quote(unpacked)} --no-same-owner || fail 'cannot unpack'; "
        f"[ -f {shlex.quote(unpacked)}/{DATABASE_FILES[folder]} ] && "
        f"[ -f {shlex.quote(unpacked)}/metadata.json ] || fail {shlex.quote(missing)}; "
        f"echo {sha256} > {shlex.quote(unpacked)}/{BUNDLE_RECORD} && "
        f"chmod -R u+rwX,go+rX,go-w {shlex.quote(unpacked)} && "
        f"install -d -m 0755 -o {SCANNER_UID} -g {SCANNER_UID} {shlex.quote(cache)} && "
        f"chown -R {owner} {shlex.quote(unpacked)} && "
        f"rm -rf {shlex.quote(target)} && mv {shlex.quote(unpacked)} {shlex.quote(target)} && "
        f"rm -f {shlex.quote(staged)}"
    )
