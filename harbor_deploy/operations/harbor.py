"""
Operations on a Harbor installation: its installer bundle, and its running compose project.
"""

import hashlib
import json
import os
import posixpath
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

from harbor_deploy.facts.files import FileStates
from harbor_deploy.facts.harbor import COMPOSE_PROJECT, HarborInstallation
from harbor_deploy.facts.host import FreeSpace
from harbor_deploy.lib.config.defaults import SERVER_TLS_DIR, UPGRADE_LOG_DIR, UPGRADE_UNIT
from harbor_deploy.lib.config.defaults import release_dir as versioned_release_dir
from harbor_deploy.operations.deploy_lock import guarded
from harbor_deploy.operations.docker_daemon import fail_host
from harbor_deploy.operations.secret_file import AS_LOGIN_USER, STAGING

# The hand-written harbor.yml of an adopted Harbor, kept beside the rendered one.
HAND_CONFIG_SUFFIX = ".before-harbor-deploy"


def checksum_record(name, sha256):
    """The record kept beside a verified bundle, in ``sha256sum``'s format."""
    return f"{sha256}  {name}\n"


@operation()
def installer_bundle(
    src,
    sha256,
    cache_dir,
    release_dir,
    install_dir,
    known_files=None,
    installation=None,
    space=None,
    switch=True,
    lock_holder=None,
):
    """
    Put the offline installer ``src`` in ``cache_dir`` unless a verified copy is
    there, unpack it into ``release_dir`` unless that release is unpacked, and point
    ``install_dir`` (a symlink) at ``release_dir``.

    + src: local path of the verified bundle
    + sha256: its sha256, checked again on the host before the upload takes its name
    + cache_dir: directory on the host keeping bundles
    + release_dir: where this release unpacks (``/usr/local/harbor-v2.13.1``)
    + install_dir: the symlink naming the release in use (``/usr/local/harbor``)
    + known_files: the ``FileStates`` of ``<cache_dir>/*`` and ``install_dir``, when the
      caller read them already; read here otherwise
    + installation: the ``HarborInstallation`` of ``install_dir``, likewise
    + space: the ``FreeSpace`` of ``cache_dir`` and of ``release_dir``'s parent, likewise
    + switch: point ``install_dir`` at ``release_dir`` (an upgrade switches it itself, once
      the running release has stopped)
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder before
      changing anything

    A plain directory ``install_dir`` holding this very release (a Harbor installed by
    hand) is adopted instead of unpacking: its ``harbor.yml`` is copied to
    ``harbor.yml.before-harbor-deploy``, then it moves to ``release_dir`` and
    ``install_dir`` becomes the symlink; its running containers are not restarted.
    Any other file or directory there fails the host, untouched.

    Before anything changes, the host fails (alone) when the upload or the unpack
    would not fit: the message names the path, the space needed and the space free.

    Once verified on the host, the bundle's sha256 is recorded beside it
    (``<bundle>.sha256``): a later run compares that record and the size and sends
    nothing, without re-reading the bundle. An upload lands in a staging directory and
    an unpack in ``<release_dir>.partial``: a half-done one is never used.

    **Example:**

    .. code:: python

        harbor.installer_bundle(
            name="Harbor v2.13.1 installer",
            src="/home/me/.cache/harbor-offline-installer-v2.13.1.tgz",
            sha256="0f4c...",
            cache_dir="/var/cache/harbor-deploy",
            release_dir="/usr/local/harbor-v2.13.1",
            install_dir="/usr/local/harbor",
        )
    """
    if known_files is None:
        known_files = host.get_fact(FileStates, paths=(f"{cache_dir}/*", install_dir))
    if installation is None:
        installation = host.get_fact(HarborInstallation, install_dir=install_dir)
    kind = known_files.get(install_dir, {}).get("type")
    # A Harbor installed by hand: the plain directory holding this very release.
    by_hand = (
        kind == "directory"
        and installation["bundle_version"] is not None
        and versioned_release_dir(install_dir, installation["bundle_version"]) == release_dir
    )
    if kind not in (None, "link") and not by_hand:
        yield fail_host(f"{install_dir} is a {kind}, not the symlink harbor-deploy keeps to a release: left as is")
        return
    if by_hand and release_dir in installation["releases"]:
        yield fail_host(f"{install_dir} (a Harbor installed by hand) and {release_dir} both exist: left as is")
        return
    name = Path(src).name
    bundle = posixpath.join(cache_dir, name)
    record = checksum_record(name, sha256)
    size = os.stat(src).st_size
    kept = known_files.get(bundle, {}).get("size") == size and (
        known_files.get(f"{bundle}.sha256", {}).get("sha256") == hashlib.sha256(record.encode()).hexdigest()
    )
    unpacked = release_dir in installation["releases"] or by_hand
    if space is None:
        space = host.get_fact(FreeSpace, paths=(cache_dir, posixpath.dirname(release_dir)))
    short = _short_of_space(
        space, [(cache_dir, 0 if kept else size), (posixpath.dirname(release_dir), 0 if unpacked else size)]
    )
    if short:
        yield fail_host(f"{name}: {short}; nothing was changed")
        return
    if kept:
        host.noop(f"{bundle} is there, verified")
    else:
        staging = posixpath.join(cache_dir, STAGING)
        staged = posixpath.join(staging, name)
        yield guarded(
            lock_holder,
            "install", "-d", "-m", "0755", QuoteString(cache_dir), "&&",
            "install", "-d", "-m", "0700", "-o", '"${SUDO_USER:-$(id -un)}"', QuoteString(staging), "&&",
            "rm", "-f", QuoteString(staged),
        )  # fmt: skip
        yield FileUploadCommand(src, staged, remote_temp_filename=staged, **AS_LOGIN_USER)
        verify = f"printf %s {shlex.quote(record)} | (cd {shlex.quote(staging)} && sha256sum -c --status -)"
        yield StringCommand(
            f"if ! {verify}; then rm -f {shlex.quote(staged)}; "
            f"echo {shlex.quote(f'{name}: the upload does not match sha256 {sha256}')} >&2; exit 1; fi",
            "&&", "chown", "root:root", QuoteString(staged),
            "&&", "chmod", "0644", QuoteString(staged),
            "&&", "mv", "-f", QuoteString(staged), QuoteString(bundle),
            "&&", "printf", "%s", QuoteString(record), ">", QuoteString(f"{bundle}.sha256"),
            "&&", "rmdir", QuoteString(staging),
        )  # fmt: skip

    if by_hand:
        hand_config = shlex.quote(f"{install_dir}/harbor.yml")
        release, link = shlex.quote(release_dir), shlex.quote(install_dir)
        # Running containers keep their bind mounts across the move; the link is back
        # before anything resolves the old path again.
        yield guarded(
            lock_holder,
            f"cp -p {hand_config} {hand_config}{HAND_CONFIG_SUFFIX} && chmod 0600 {hand_config}{HAND_CONFIG_SUFFIX} && "
            f"mv {link} {release} && ln -s {release} {link}",
        )
        return
    if unpacked:
        host.noop(f"{release_dir} is unpacked")
    else:
        partial, release = (shlex.quote(path) for path in (f"{release_dir}.partial", release_dir))
        yield guarded(
            lock_holder,
            f"rm -rf {partial} && mkdir -p {partial} && "
            f"tar -xzf {shlex.quote(bundle)} -C {partial} --strip-components=1 && "
            f"mv {partial} {release}",
        )

    if not switch:
        host.noop(f"{install_dir} left pointing to {installation['link_target']} (the upgrade switches it)")
    elif installation["link_target"] == release_dir:
        host.noop(f"{install_dir} points to {release_dir}")
    else:
        yield guarded(lock_holder, "ln", "-sfn", QuoteString(release_dir), QuoteString(install_dir))


# Room left beside what a bundle needs (the unpacked release holds a few small files more).
SPACE_MARGIN_MIB = 64


def _short_of_space(space, writes):
    """Why ``writes`` ([(path, bytes)]) do not fit in ``space`` (``FreeSpace``), or None;
    writes to one filesystem add up."""
    need, where = {}, {}
    for path, size in writes:
        mount = space[path]["mount"]
        need[mount] = need.get(mount, 0) + size
        where.setdefault(mount, []).append(path)
    for mount, size in need.items():
        if not size:
            continue
        needed = size // (1024 * 1024) + 1 + SPACE_MARGIN_MIB
        free = next(space[path]["free_mib"] for path in where[mount])
        if free < needed:
            return f"{' and '.join(where[mount])} need {needed} MiB free on {mount}, which has {free} MiB"
    return None


# Polls docker's health of every Harbor container and Harbor's own health API;
# on timeout prints what is unhealthy and the tail of its log, then fails.
WAIT_SCRIPT = """
logdir={log_dir}
health='{{{{if .State.Health}}}}{{{{.State.Health.Status}}}}{{{{else}}}}none{{{{end}}}}'
format="{{{{.Name}}}} {{{{.State.Status}}}} $health"
deadline=$(( $(date +%s) + {timeout} ))
while :; do
  ids=$(docker ps -aq --filter label=com.docker.compose.project={project})
  states=$(docker inspect --format "$format" $ids 2>/dev/null | sed 's#^/##')
  bad=$(echo "$states" | awk '$2 != "running" || ($3 != "healthy" && $3 != "none")')
  api=$(curl -sk --max-time 5 {url}/api/v2.0/health || true)
  if [ -n "$ids" ] && [ -z "$bad" ] && echo "$api" | grep -Eq '^\\{{"status": ?"healthy"'; then
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "Harbor not healthy after {timeout}s"
    echo "unhealthy containers:"; echo "${{bad:-none (all containers healthy)}}"
    echo "health API: ${{api:-no answer}}"
    for name in $(echo "$bad" | cut -d' ' -f1); do
      service=$(docker inspect --format '{{{{index .Config.Labels "com.docker.compose.service"}}}}' "$name")
      echo "--- last lines of $logdir/$service.log"; tail -n 20 "$logdir/$service.log" 2>/dev/null
    done
    exit 1
  fi
  sleep 3
done
"""


def wait_script(url, timeout, log_dir):
    """``WAIT_SCRIPT`` for Harbor at ``url`` (as seen from the server)."""
    return WAIT_SCRIPT.format(
        timeout=int(timeout),
        project=COMPOSE_PROJECT,
        url=shlex.quote(url.rstrip("/")),
        log_dir=shlex.quote(log_dir.rstrip("/")),
    )


@operation(is_idempotent=False)
def wait_healthy(url, timeout=300, log_dir="/var/log/harbor"):
    """
    Wait until every container of Harbor's compose project runs healthy and
    ``/api/v2.0/health`` answers ``healthy``; fail after ``timeout`` seconds with the
    unhealthy containers, the health answer and the tail of their logs.

    + url: Harbor's base URL as seen from the server (e.g. ``https://127.0.0.1:8443``)
    + timeout: seconds to wait
    + log_dir: Harbor's ``log.local.location`` (where each service's log is)

    **Example:**

    .. code:: python

        harbor.wait_healthy(
            name="Wait until Harbor is healthy",
            url="https://127.0.0.1:8443",
            _if=install.did_change,
        )
    """
    yield StringCommand("bash", "-c", shlex.quote(wait_script(url, timeout, log_dir)))


# A backup's "database" when it is external: the backup holds no dump of it.
EXTERNAL_DATABASE_NOTE = "external: not in this backup; back it up with your database's own tools"
# The database Harbor's core uses in its harbor-db container (as Harbor's initdb makes it).
HARBOR_DATABASE = "registry"
HARBOR_DB_CONTAINER = "harbor-db"
BACKUP_FILES = ("secret.tgz", "config.tgz", "tls.tgz", "manifest.json")
DATABASE_DUMP = "registry.pgdump"
REGISTRY_ARCHIVE = "registry.tar"


def backup_files(manifest):
    """The files of a backup, ``SHA256SUMS`` last (it covers the others)."""
    extra = ([DATABASE_DUMP] if manifest["database"] == "pg_dump" else []) + (
        [REGISTRY_ARCHIVE] if manifest["registry"] else []
    )
    return [*BACKUP_FILES, *extra, "SHA256SUMS"]


def backup_command(manifest, backup_dir, data_volume, release_dir, tls_dir, keep):
    """The shell of ``backup``: one ``&&`` chain."""
    final = posixpath.join(backup_dir, manifest["name"])
    partial = shlex.quote(f"{final}.partial")
    steps = [
        "umask 077",
        f"mkdir -p {shlex.quote(backup_dir)}",
        f"rm -rf {partial}",
        f"mkdir {partial}",
        f"cd {partial}",
    ]
    if manifest["database"] == "pg_dump":
        steps.append(f"docker exec {HARBOR_DB_CONTAINER} pg_dump -U postgres -Fc {HARBOR_DATABASE} > {DATABASE_DUMP}")
    steps += [
        f"tar -C {shlex.quote(data_volume)} -czf secret.tgz secret",
        f"tar -C {shlex.quote(release_dir)} -czf config.tgz harbor.yml",
        f"if [ -d {shlex.quote(tls_dir)} ]; then tar -C {shlex.quote(posixpath.dirname(tls_dir))} -czf tls.tgz "
        f"{shlex.quote(posixpath.basename(tls_dir))}; else tar -czf tls.tgz -T /dev/null; fi",
    ]
    if manifest["registry"]:
        # After the dump: every layer an artifact of the dump names is already stored.
        steps.append(f"tar -C {shlex.quote(data_volume)} -cf {REGISTRY_ARCHIVE} registry")
    steps += [
        f"printf '%s\\n' {shlex.quote(json.dumps(manifest, sort_keys=True))} > manifest.json",
        f"sha256sum {' '.join(backup_files(manifest)[:-1])} > SHA256SUMS",
        f"mv {partial} {shlex.quote(final)}",
        # Names start with their UTC time: the newest sort last.
        f"ls -1d {shlex.quote(backup_dir)}/harbor-* | grep -v '[.]partial$' | sort | head -n -{int(keep)} "
        "| xargs -r rm -rf",
    ]
    return " && ".join(steps)


@operation(is_idempotent=False)
def backup(manifest, backup_dir, data_volume, release_dir, tls_dir, keep, lock_holder=None):
    """
    Back up Harbor into ``<backup_dir>/<manifest name>/``: the database (``pg_dump`` of
    the running harbor-db, one transaction: consistent while Harbor serves), then
    ``<data_volume>/secret``, harbor.yml, the TLS files, the registry's storage when the
    manifest says so, the manifest and ``SHA256SUMS``; built as ``.partial`` and
    renamed, so a backup that exists is complete. Keeps the newest ``keep`` backups.

    + manifest: the backup's ``manifest.json`` (name, version, database, registry...)
    + backup_dir: server dir of the backups
    + data_volume: Harbor's ``data_volume``
    + release_dir: the running release's directory (its harbor.yml)
    + tls_dir: the server's TLS files
    + keep: backups kept
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        harbor.backup(
            name="Back up Harbor",
            manifest={"name": "harbor-20261128T221500Z-v2.13.1", "database": "pg_dump", "registry": False, ...},
            backup_dir="/var/backups/harbor-deploy", data_volume="/data",
            release_dir="/usr/local/harbor-v2.13.1", tls_dir="/etc/harbor/tls", keep=7,
        )
    """
    yield guarded(lock_holder, backup_command(manifest, backup_dir, data_volume, release_dir, tls_dir, keep))


@operation(is_idempotent=False)
def database_dump(dump, backup_dir, port, database, keep):
    """
    Dump a PostgreSQL database this host serves (a ``harbor_backing`` host's, shared
    by the nodes of one Harbor) to ``<backup_dir>/<dump>.pgdump`` with its
    ``.sha256``, as the postgres user with the server's own ``pg_dump`` (its major
    version, so a dump never meets a newer server); written as ``.partial`` and renamed,
    so a dump that exists is complete. Keeps the newest ``keep``.

    + dump: the dump's name, ``harbor-db-<UTC time>``
    + backup_dir: server dir of the dumps
    + port / database: what PostgreSQL serves
    + keep: dumps kept

    **Example:**

    .. code:: python

        harbor.database_dump(
            name="Dump the shared database", dump="harbor-db-20261129T050000Z",
            backup_dir="/var/backups/harbor-deploy",
            port=5432, database="registry", keep=7,
        )
    """
    directory = shlex.quote(backup_dir)
    final = shlex.quote(posixpath.join(backup_dir, f"{dump}.pgdump"))
    yield " && ".join(
        [
            "umask 077",
            f"mkdir -p {directory}",
            f"runuser -u postgres -- pg_dump -p {int(port)} -Fc {shlex.quote(database)} > {final}.partial",
            f"mv {final}.partial {final}",
            f"cd {directory}",
            f"sha256sum {shlex.quote(dump)}.pgdump > {shlex.quote(dump)}.pgdump.sha256",
            f"ls -1 harbor-db-*.pgdump | sort | head -n -{int(keep)} | sed 'p; s/$/.sha256/' | xargs -r rm -f",
        ]
    )


def restore_command(manifest, backup_dir, data_volume, install_dir, trivy):
    """The shell of ``restore``: one ``&&`` chain."""
    source = shlex.quote(posixpath.join(backup_dir, manifest["name"]))
    volume = shlex.quote(data_volume.rstrip("/"))
    compose = f"docker compose -p {COMPOSE_PROJECT} -f {shlex.quote(install_dir)}/docker-compose.yml"
    steps = [f"cd {source}", "sha256sum -c --quiet SHA256SUMS", "systemctl stop harbor.service"]
    if manifest["database"] == "pg_dump":
        psql = f"docker exec {HARBOR_DB_CONTAINER} psql -q -U postgres"
        steps += [
            f"{compose} up -d postgresql",
            f"for i in $(seq 120); do docker exec {HARBOR_DB_CONTAINER} pg_isready -q -U postgres && break; "
            "sleep 1; done",
            f"{psql} -c 'DROP DATABASE IF EXISTS {HARBOR_DATABASE}' -c 'CREATE DATABASE {HARBOR_DATABASE}'",
            f"docker exec -i {HARBOR_DB_CONTAINER} pg_restore -U postgres -d {HARBOR_DATABASE} < {DATABASE_DUMP}",
            f"{compose} down",
        ]
    steps += [f"rm -rf {volume}/secret", f"tar -C {volume} -xzf secret.tgz"]
    if manifest["registry"]:
        steps += [f"rm -rf {volume}/registry", f"tar -C {volume} -xf {REGISTRY_ARCHIVE}"]
    steps += [
        f"cd {shlex.quote(install_dir)}",
        "TERM=xterm ./prepare" + (" --with-trivy" if trivy else ""),
        "systemctl start harbor.service",
    ]
    return " && ".join(steps)


@operation(is_idempotent=False)
def restore(manifest, backup_dir, data_volume, install_dir, trivy=True, lock_holder=None):
    """
    Restore Harbor's data from ``<backup_dir>/<manifest name>/`` onto the installed
    release: checksums verified first; Harbor stopped; the database recreated from the
    dump in harbor-db alone; ``<data_volume>/secret`` (and the registry's storage when
    the backup has it) put back; ``prepare`` run (it copies the restored token key
    into the services' configuration); Harbor started. harbor.yml and the TLS files
    stay as the server deploy made them (the backup keeps copies).

    + manifest: the backup's ``manifest.json``
    + backup_dir: server dir of the backups
    + data_volume: Harbor's ``data_volume``
    + install_dir: the symlink to the running release
    + trivy: run prepare ``--with-trivy``
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        harbor.restore(
            name="Restore Harbor",
            manifest=manifest, backup_dir="/var/backups/harbor-deploy",
            data_volume="/data", install_dir="/usr/local/harbor",
        )
    """
    yield guarded(lock_holder, restore_command(manifest, backup_dir, data_volume, install_dir, trivy))


# What an upgrade checks is still there: projects and robots in the database, tags in
# the registry's storage (distribution's layout, one link per tag).
DATA_COUNT_SCRIPT = """
counts() {{
  db=$(docker exec {db} psql -U postgres -d {database} -Atc \
    "select (select count(*) from project) || ' projects, ' || (select count(*) from robot) || ' robots'") || return 1
  tags=$(find {volume}/registry/docker/registry/v2/repositories -path '*/_manifests/tags/*/current/link' \
    2>/dev/null | wc -l)
  echo "$db, $tags tags"
}}
"""

# An external database is not this node's: other nodes (or other tools) change it
# while this one upgrades, so its counts say nothing about this upgrade.
SHARED_DATA_COUNT_SCRIPT = """
counts() { echo "data in the external database and storage, not counted here"; }
"""

# Shared by an upgrade (on failure) and a rollback: the release ``$from`` back in use
# with the data of the backup taken before the upgrade to ``$to``.
PUT_BACK_SCRIPT = """
set -u
link={link}; from={from_release}; to={to_release}
healthy() {{ ( {wait} ) >&2; }}
put_back() {{
  [ -f "$to/docker-compose.yml" ] && docker compose -p {project} -f "$to/docker-compose.yml" down --remove-orphans >&2
  ln -sfn "$from" "$link" || return 1
  ( {restore} ) >&2 || {{ echo "restoring {backup} failed: restore it with deploys/restore.py" >&2; return 1; }}
  healthy || {{ echo "Harbor {from_version} is not healthy after the restore" >&2; return 1; }}
}}
"""

UPGRADE_SCRIPT = """
{counts}
rollback() {{
  echo "upgrade {from_version} -> {to_version} failed: $1; rolling back to {from_version}" >&2
  put_back || exit 1
  echo "Harbor {from_version} is back, healthy, with the data of {backup}; the upgrade failed: $1" >&2
  exit 1
}}
before=$(counts) || {{ echo "upgrade not started: cannot count the data in {db}" >&2; exit 1; }}
( {backup_command} ) || {{ echo "upgrade not started: the backup {backup} failed" >&2; exit 1; }}
echo "backed up to {backup_dir}/{backup} ($before)" >&2
systemctl stop harbor.service || rollback "stopping Harbor {from_version}"
ln -sfn "$to" "$link" || rollback "switching $link to $to"
docker load -q -i "$to"/harbor.{to_version}.tar.gz >&2 || rollback "loading the images of {to_version}"
cp "$from/harbor.yml" "$to/harbor.yml.migrated" || rollback "copying harbor.yml"
docker run --rm -v /:/hostfs goharbor/prepare:{to_version} migrate -i "$to/harbor.yml.migrated" >&2 \\
  || rollback "migrating harbor.yml with prepare {to_version}"
( cd "$to" && TERM=xterm ./install.sh {trivy} ) >&2 || rollback "install.sh of {to_version}"
systemctl start harbor.service || rollback "starting harbor.service on {to_version}"
healthy || rollback "Harbor {to_version} not healthy"
after=$(counts) || rollback "counting the data after the upgrade"
[ "$after" = "$before" ] || rollback "the data differs after the upgrade (before: $before; after: $after)"
ls -1d {link}-v* 2>/dev/null | grep -v '[.]partial$' | sort -V | head -n -{keep_releases} | xargs -r rm -rf
echo "upgraded {from_version} -> {to_version} ($after); backup {backup_dir}/{backup}" >&2
"""


# Runs a script as the transient unit UPGRADE_UNIT: started by systemd, not by this
# SSH session, it runs to its end (or its rollback) when the connection drops. Its
# output goes to a log kept per run (0600, in a 0700 dir), printed once it has ended;
# the unit's exit status is this command's.
DETACHED_SCRIPT = """
umask 077
mkdir -p {log_dir} && chmod 0700 {log_dir} || exit 1
printf '%s' {script} > {script_file} && : > {log} || exit 1
systemd-run --unit={unit} --collect --wait --quiet \\
  -p StandardOutput=append:{log} -p StandardError=append:{log} \\
  --setenv=TERM=xterm --setenv=HOME=/root --setenv=COMPOSE_PROJECT_NAME={project} /bin/bash {script_file}
status=$?
cat {log} >&2
exit $status
"""


def detached_command(script, name, log_dir=UPGRADE_LOG_DIR, unit=UPGRADE_UNIT):
    """The command running ``script`` as ``unit`` (``DETACHED_SCRIPT``), kept as
    ``<log_dir>/<name>.sh`` beside its log ``<name>.log``."""
    base = posixpath.join(log_dir.rstrip("/"), name)
    return StringCommand(
        "bash",
        "-c",
        shlex.quote(
            DETACHED_SCRIPT.format(
                log_dir=shlex.quote(log_dir.rstrip("/")),
                script=shlex.quote(script),
                script_file=shlex.quote(f"{base}.sh"),
                log=shlex.quote(f"{base}.log"),
                unit=shlex.quote(unit),
                project=COMPOSE_PROJECT,
            )
        ),
    )


def _put_back(link, from_version, to_version, backup_manifest, backup_dir, data_volume, url, trivy, timeout, log_dir):
    """``PUT_BACK_SCRIPT`` for the releases of ``from_version`` and ``to_version`` beside ``link``."""
    return PUT_BACK_SCRIPT.format(
        link=shlex.quote(link),
        from_release=shlex.quote(f"{link}-{from_version}"),
        to_release=shlex.quote(f"{link}-{to_version}"),
        from_version=from_version,
        project=COMPOSE_PROJECT,
        wait=wait_script(url, timeout, log_dir),
        restore=restore_command(backup_manifest, backup_dir, data_volume, link, trivy),
        backup=backup_manifest["name"],
    )


@operation(is_idempotent=False)
def upgrade(
    from_version,
    to_version,
    install_dir,
    backup_manifest,
    backup_dir,
    data_volume,
    url,
    trivy=True,
    timeout=300,
    log_dir="/var/log/harbor",
    keep_backups=7,
    keep_releases=2,
    lock_holder=None,
):
    """
    Move a running Harbor to the unpacked release of ``to_version``, or put it back.

    Counts projects, robots and tags; backs up (``backup``, the registry's storage
    left out: an upgrade does not touch it); stops Harbor; points ``install_dir`` at
    the new release; loads its images; migrates a copy of the old harbor.yml with the
    new release's ``prepare migrate`` (``harbor.yml.migrated``: the new release's
    harbor.yml is rendered from the data beforehand); runs its ``install.sh``; waits
    until healthy and checks the counts. On any failure the previous release comes
    back with its database restored from that backup, is verified healthy, and the
    operation fails naming the step. Keeps the newest ``keep_releases`` releases.

    It all runs as the transient systemd unit ``harbor-deploy-upgrade.service``, not
    in the SSH session: when the connection drops, the upgrade still ends (or rolls
    back) on the host, and the next run's ``UpgradeUnit`` waits for it. Its output is
    kept in ``/var/log/harbor-deploy/upgrade-<backup name>-to-<to_version>.log`` (the
    script beside it, ``.sh``) and printed once it has ended.

    + from_version / to_version: the running release and the new one (unpacked beside)
    + install_dir: the symlink naming the release in use
    + backup_manifest: the manifest of the backup taken first (``backup``)
    + backup_dir / data_volume / url / timeout / log_dir: as ``backup`` and ``wait_healthy``
    + trivy: install ``--with-trivy``
    + keep_backups / keep_releases: how many backups and release directories stay
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        harbor.upgrade(
            name="Upgrade Harbor",
            from_version="v2.13.1", to_version="v2.14.0", install_dir="/usr/local/harbor",
            backup_manifest=manifest, backup_dir="/var/backups/harbor-deploy", data_volume="/data",
            url="https://127.0.0.1:8443",
        )
    """
    link = install_dir.rstrip("/")
    script = _put_back(
        link, from_version, to_version, backup_manifest, backup_dir, data_volume, url, trivy, timeout, log_dir
    ) + UPGRADE_SCRIPT.format(
        link=shlex.quote(link),
        from_version=from_version,
        to_version=to_version,
        counts=DATA_COUNT_SCRIPT.format(
            db=HARBOR_DB_CONTAINER, database=HARBOR_DATABASE, volume=shlex.quote(data_volume)
        )
        if backup_manifest["database"] == "pg_dump"
        else SHARED_DATA_COUNT_SCRIPT,
        backup=backup_manifest["name"],
        backup_dir=backup_dir,
        backup_command=backup_command(
            backup_manifest, backup_dir, data_volume, f"{link}-{from_version}", SERVER_TLS_DIR, keep_backups
        ),
        trivy="--with-trivy" if trivy else "",
        keep_releases=int(keep_releases),
        db=HARBOR_DB_CONTAINER,
    )
    yield guarded(lock_holder, detached_command(script, f"upgrade-{backup_manifest['name']}-to-{to_version}"))


@operation(is_idempotent=False)
def rollback(
    from_version,
    to_version,
    install_dir,
    backup_manifest,
    backup_dir,
    data_volume,
    url,
    trivy=True,
    timeout=300,
    log_dir="/var/log/harbor",
    lock_holder=None,
):
    """
    Undo an upgrade that succeeded: the release of ``from_version`` (kept beside the
    running ``to_version``) back in use with the database and secret dir of the backup
    the upgrade took first (``backup_manifest``), verified healthy. What changed in
    Harbor since that backup is lost: the operation's name says so. Like ``upgrade``,
    it runs as the transient unit ``harbor-deploy-upgrade.service`` (log
    ``rollback-<backup name>-to-<from_version>.log``): it ends on the host if the
    connection drops.

    + from_version / to_version: the previous release and the running one
    + install_dir: the symlink naming the release in use
    + backup_manifest: the manifest of the backup taken before the upgrade
    + backup_dir / data_volume / url / trivy / timeout / log_dir: as ``upgrade``
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        harbor.rollback(
            name="Roll back to v2.13.1",
            from_version="v2.13.1", to_version="v2.14.0", install_dir="/usr/local/harbor",
            backup_manifest=manifest, backup_dir="/var/backups/harbor-deploy", data_volume="/data",
            url="https://127.0.0.1:8443",
        )
    """
    link = install_dir.rstrip("/")
    script = _put_back(
        link, from_version, to_version, backup_manifest, backup_dir, data_volume, url, trivy, timeout, log_dir
    ) + (
        f"put_back || exit 1\n"
        f'echo "Harbor {from_version} is back, healthy, with the data of {backup_manifest["name"]}" >&2\n'
    )
    yield guarded(lock_holder, detached_command(script, f"rollback-{backup_manifest['name']}-to-{from_version}"))
