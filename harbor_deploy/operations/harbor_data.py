"""
Operations on Harbor's data on a server: backup, restore, upgrade, rollback, and the
dump of a database a backing host serves.

Each runs one bash script built from ``templates/harbor-data.sh`` (its functions) and
its own steps. Backups are named by the server's clock and built as ``.partial``;
restores load the backup beside the live data and swap them only once it is complete;
an upgrade stops Harbor before it counts and backs up the data, so no write lands
between the backup and the new release. An upgrade, a rollback or a restore writes
``UNFINISHED_MARKER`` as it starts and removes it once done: a failure or a crash
leaves it, and every later run but a restore stops on it. The last three run as the
transient unit ``harbor-deploy-upgrade.service``, not in the SSH session: a dropped
connection does not stop them half-way.
"""

import json
import posixpath
import shlex

from pyinfra.api import StringCommand, operation

from harbor_deploy.facts.harbor import COMPOSE_PROJECT
from harbor_deploy.lib import TEMPLATES
from harbor_deploy.lib.config.defaults import SERVER_TLS_DIR, UNFINISHED_MARKER, UPGRADE_LOG_DIR, UPGRADE_UNIT
from harbor_deploy.operations.deploy_lock import guarded
from harbor_deploy.operations.harbor import wait_script

FUNCTIONS = TEMPLATES / "harbor-data.sh"
# A backup's "database" when it is external: the backup holds no dump of it.
EXTERNAL_DATABASE_NOTE = "external: not in this backup; back it up with your database's own tools"
BACKUP_FILES = ("secret.tgz", "config.tgz", "tls.tgz", "manifest.json")
DATABASE_DUMP = "registry.pgdump"
REGISTRY_ARCHIVE = "registry.tar"
# The newest backup of a server, whatever its name: what the controller copies.
LAST_BACKUP = ".last"


def backup_files(manifest):
    """The files of a backup, ``SHA256SUMS`` last (it covers the others)."""
    extra = ([DATABASE_DUMP] if manifest["database"] == "pg_dump" else []) + (
        [REGISTRY_ARCHIVE] if manifest["registry"] else []
    )
    return [*BACKUP_FILES, *extra, "SHA256SUMS"]


def data_script(
    steps,
    *,
    install_dir,
    data_volume,
    backup_dir,
    hostname,
    reason,
    external_database=False,
    keep=7,
    protect=(),
    trivy=True,
    url="https://127.0.0.1:8443",
    timeout=300,
    log_dir="/var/log/harbor",
):
    """The bash script running ``steps`` with the functions of ``harbor-data.sh``."""
    manifest = json.dumps({"hostname": hostname, "data_volume": data_volume, "reason": reason})[1:-1]
    settings = {
        "volume": data_volume.rstrip("/"),
        "backups": backup_dir.rstrip("/"),
        "link": install_dir.rstrip("/"),
        "marker": UNFINISHED_MARKER,
        "project": COMPOSE_PROJECT,
        "tls": SERVER_TLS_DIR,
        "keep": int(keep),
        "protect": " ".join(protect),
        "database": "external" if external_database else "pg_dump",
        "database_note": EXTERNAL_DATABASE_NOTE,
        "manifest": manifest,
        "trivy": "--with-trivy" if trivy else "",
    }
    return (
        "".join(f"{name}={shlex.quote(str(value))}\n" for name, value in settings.items())
        + f"healthy() {{ ( {wait_script(url, timeout, log_dir)} ) >&2; }}\n"
        + FUNCTIONS.read_text()
        + steps
    )


# Runs a script as the transient unit UPGRADE_UNIT: started by systemd, not by this
# SSH session, it runs to its end when the connection drops. Its output goes to a log
# kept per run (0600, in a 0700 dir), printed once it has ended; the unit's exit
# status is this command's.
DETACHED_SCRIPT = """
umask 077
mkdir -p {log_dir} && chmod 0700 {log_dir} || exit 1
base={log_dir}/{name}-$(date -u +%Y%m%dT%H%M%SZ)
printf '%s' {script} > "$base.sh" && : > "$base.log" || exit 1
systemd-run --unit={unit} --collect --wait --quiet \\
  -p StandardOutput=append:"$base.log" -p StandardError=append:"$base.log" \\
  --setenv=TERM=xterm --setenv=HOME=/root --setenv=COMPOSE_PROJECT_NAME={project} /bin/bash "$base.sh"
status=$?
cat "$base.log" >&2
exit $status
"""


def detached_command(script, name, log_dir=UPGRADE_LOG_DIR, unit=UPGRADE_UNIT):
    """The command running ``script`` as ``unit`` (``DETACHED_SCRIPT``), kept as
    ``<log_dir>/<name>-<UTC time>.sh`` beside its log ``.log``."""
    return StringCommand(
        "bash",
        "-c",
        shlex.quote(
            DETACHED_SCRIPT.format(
                log_dir=shlex.quote(log_dir.rstrip("/")),
                name=shlex.quote(name),
                script=shlex.quote(script),
                unit=shlex.quote(unit),
                project=COMPOSE_PROJECT,
            )
        ),
    )


def bash(script):
    return StringCommand("bash", "-c", shlex.quote(script))


@operation(is_idempotent=False)
def backup(version, registry=False, protect=(), lock_holder=None, **place):
    """
    Back up the running Harbor into ``<backup_dir>/harbor-<UTC time>-<version>/``, the
    time the server's: the database (``pg_dump`` of the running harbor-db, one
    transaction, consistent while Harbor serves), ``<data_volume>/secret``, harbor.yml,
    the TLS files, the registry's storage with ``registry``, ``manifest.json`` and
    ``SHA256SUMS``; ``<backup_dir>/.last`` names it. Refused, nothing written, when the
    backup dir lacks the space (need and free named); built as ``.partial``, removed
    when a step fails. Then the newest ``keep`` backups by the server's time stay,
    ``protect`` (names) whatever their age.

    + version: the running release
    + registry: include the registry's storage (a filesystem one)
    + protect: backups kept whatever their age (the one a rollback needs)
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first
    + place: ``install_dir``, ``data_volume``, ``backup_dir``, ``hostname``, ``external_database``,
      ``keep`` (``data_script``)

    **Example:**

    .. code:: python

        harbor_data.backup(
            name="Back up Harbor", version="v2.13.1", install_dir="/usr/local/harbor",
            data_volume="/data", backup_dir="/var/backups/harbor-deploy", hostname="harbor.example.com",
        )
    """
    steps = f'make_backup {shlex.quote(version)} "$(readlink -f "$link")" {int(bool(registry))}\n'
    yield guarded(lock_holder, bash(data_script(steps, reason="", protect=protect, **place)))


@operation(is_idempotent=False)
def restore(backup_name, version, lock_holder=None, **place):
    """
    Restore the backup ``<backup_dir>/<backup_name>`` onto the installed release
    ``version``: a safety backup of the live data first; the backup's checksums
    verified, its database loaded beside the live one (one transaction, stopped at the
    first error) and its files unpacked beside theirs while Harbor serves; then, Harbor
    stopped, the restored data takes the live data's place, ``prepare`` runs and Harbor
    must be healthy. Anything failing before leaves the live data serving as it was;
    Harbor unhealthy after puts the live data back. A failure leaves
    ``UNFINISHED_MARKER``, naming the safety backup; a success removes it.

    + backup_name: the backup, in ``backup_dir`` on the server
    + version: the installed release
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first
    + place: as ``data_script`` (trivy, url, timeout, log_dir for Harbor's start)
    """
    backup_path = posixpath.join(place["backup_dir"].rstrip("/"), backup_name)
    steps = f"""
restoring={shlex.quote(backup_path)}; version={shlex.quote(version)}
release=$(readlink -f "$link")
mark "a restore of $restoring into Harbor $version started $(now) and did not end: run deploys/restore.py again"
if ! database_up "$release" || ! make_backup "$version" "$release" 0; then
  unmark
  echo "restore refused: no safety backup of the live data could be taken; Harbor is as it was" >&2
  exit 1
fi
safety=$backup_name
if ! restore_data "$restoring" "$release" "$release"; then
  mark "the restore of $restoring into Harbor $version failed at $(now); the live data from before it is in" \\
    "$backups/$safety: find the cause in {UPGRADE_LOG_DIR}/restore-*.log, then run deploys/restore.py again"
  exit 1
fi
unmark
echo "restored $restoring into Harbor $version; the data it replaced is in $backups/$safety" >&2
"""
    script = data_script(steps, reason=f"before restoring {backup_name}", protect=(backup_name,), **place)
    yield guarded(lock_holder, detached_command(script, f"restore-{backup_name}"))


UPGRADE_STEPS = """
from_version={from_version}; to_version={to_version}; from="$link-$from_version"; to="$link-$to_version"
touched=0; backup_name=""; several={several}
counts() {{ {counts}; }}
fewer() {{  # <counts before> <counts after>: whether any count went down
  local before=($1) after=($2) i
  for i in "${{!before[@]}}"; do
    [[ "${{before[$i]}}" =~ ^[0-9]+$ ]] && [ "${{after[$i]:-0}}" -lt "${{before[$i]}}" ] 2>/dev/null && return 0
  done
  return 1
}}
fail() {{  # <what failed>: the release $from_version back as it was (one node of several: stopped)
  if [ "$several" = 1 ]; then
    # Another node (or this one's install.sh) may have migrated the shared database:
    # $from_version's core would exit on it, so this node is not put back.
    [ -d "$to" ] && harbor_compose "$to" down >&2 2>/dev/null
    systemctl stop harbor.service
    unmark
    echo "upgrade $from_version -> $to_version failed: $1. This node of several stays drained, Harbor stopped on" \
      "it: the database the nodes share may already hold $to_version's schema, which $from_version cannot start" \
      "on. Fix the cause and run the server deploy again (it goes on with $to_version), or put every node and" \
      "the shared database back with deploys/rollback.py" >&2
    exit 1
  fi
  echo "upgrade $from_version -> $to_version failed: $1; putting $from_version back" >&2
  if [ "$touched" = 0 ]; then
    harbor_compose "$from" down >&2 2>/dev/null
    start_release "$from" && unmark &&
      echo "Harbor $from_version is back as it was, its data untouched; the upgrade failed: $1" >&2 && exit 1
  elif restore_data "$backups/$backup_name" "$from" "$to"; then
    set_aside_newer_database_dirs $database_dirs
    unmark
    echo "Harbor $from_version is back, healthy, with the data of $backup_name; the upgrade failed: $1" >&2
    exit 1
  fi
  mark "the upgrade $from_version -> $to_version failed at $(now) ($1) and putting $from_version back failed too:" \\
    "restore $backups/$backup_name with deploys/restore.py (its log: {log_dir}/upgrade-*.log)"
  exit 1
}}
mark "an upgrade $from_version -> $to_version started $(now) and did not end: restore the backup it took" \\
  "(named in {log_dir}/upgrade-*.log) with deploys/restore.py"
database_dirs=$(ls "$volume/database" 2>/dev/null | tr '\\n' ' ')
systemctl stop harbor.service || fail "stopping Harbor $from_version"
if [ "$database" = pg_dump ]; then database_up "$from" || fail "starting the database of $from_version alone"; fi
before=$(counts) || fail "counting the data"
make_backup "$from_version" "$from" 0 || fail "the backup"
harbor_compose "$from" down >&2
ln -sfn "$to" "$link" || fail "switching $link to $to"
docker load -q -i "$to"/harbor."$to_version".tar.gz >&2 || fail "loading the images of $to_version"
cp "$from/harbor.yml" "$to/harbor.yml.migrated" || fail "copying harbor.yml"
docker run --rm -v /:/hostfs goharbor/prepare:"$to_version" migrate -i "$to/harbor.yml.migrated" >&2 \\
  || fail "migrating harbor.yml with prepare $to_version"
touched=1
(cd "$to" && TERM=xterm ./install.sh $trivy) >&2 || fail "install.sh of $to_version"
systemctl start harbor.service || fail "starting harbor.service on $to_version"
healthy || fail "Harbor $to_version not healthy"
after=$(counts) || fail "counting the data after the upgrade"
# Nothing fewer: clients may push again as soon as the new release serves.
fewer "$before" "$after" && fail "data is missing after the upgrade (before: $before; after: $after)"
ls -1d "$link"-v* 2>/dev/null | grep -v '[.]partial$' | sort -V | head -n -{keep_releases} | xargs -r rm -rf
unmark
echo "upgraded $from_version -> $to_version ($after); backup $backups/$backup_name" >&2
"""

# What an upgrade checks is still there, none fewer: projects and robots in the
# database, tags in the registry's storage (distribution's layout, one link per tag).
DATA_COUNTS = (
    'echo "$(docker exec harbor-db psql -U postgres -d registry -Atc '
    "\"select (select count(*) from project) || ' projects, ' || (select count(*) from robot) || ' robots'\""
    "), $(find \"$volume\"/registry/docker/registry/v2/repositories -path '*/_manifests/tags/*/current/link' "
    '2>/dev/null | wc -l) tags"'
)
# An external database is not this node's: other nodes (or other tools) change it
# while this one upgrades, so its counts say nothing about this upgrade.
SHARED_DATA_COUNTS = 'echo "data in the external database and storage, not counted here"'


@operation(is_idempotent=False)
def upgrade(from_version, to_version, keep_releases=2, several_nodes=False, lock_holder=None, **place):
    """
    Move Harbor from ``from_version`` to the unpacked release of ``to_version``, or put
    it back as it was. Harbor stops first (running or not, it is upgraded with a
    backup), then its data is counted (projects, robots, tags) and backed up
    (``backup``, the registry's storage left out: an upgrade does not touch it), so no
    write lands after the backup; ``install_dir`` points to the new release, its
    images load, a copy of the old harbor.yml is migrated with the new ``prepare
    migrate`` (``harbor.yml.migrated``, to compare), its ``install.sh`` runs (core
    migrates the database), Harbor must be healthy and the counts equal. A failure
    before ``install.sh`` starts the old release again on its untouched data; one after
    brings it back with the backup's data (``harbor-data.sh`` ``restore_data``). On a
    node of several a failure stops Harbor there instead: the shared database may be
    on the new schema already (another node migrated it), which the old release's
    core refuses. Keeps the newest ``keep_releases`` releases.

    + from_version / to_version: the installed release and the new one (unpacked beside)
    + keep_releases: release directories kept
    + several_nodes: this is one node of a Harbor of several (a shared database)
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first
    + place: as ``data_script``

    **Example:**

    .. code:: python

        harbor_data.upgrade(
            name="Upgrade Harbor", from_version="v2.13.1", to_version="v2.14.0",
            install_dir="/usr/local/harbor", data_volume="/data",
            backup_dir="/var/backups/harbor-deploy", hostname="harbor.example.com",
        )
    """
    steps = UPGRADE_STEPS.format(
        from_version=shlex.quote(from_version),
        to_version=shlex.quote(to_version),
        counts=SHARED_DATA_COUNTS if place.get("external_database") else DATA_COUNTS,
        keep_releases=int(keep_releases),
        several=int(bool(several_nodes)),
        log_dir=UPGRADE_LOG_DIR,
    )
    script = data_script(steps, reason=f"before the upgrade to {to_version}", **place)
    yield guarded(lock_holder, detached_command(script, f"upgrade-{from_version}-to-{to_version}"))


@operation(is_idempotent=False)
def rollback(from_version, to_version, backup_name, database_dirs=(), lock_holder=None, **place):
    """
    Undo an upgrade that succeeded: a safety backup of the live data of ``to_version``
    first; then the release of ``from_version`` (kept beside) back in use with the data
    of the backup the upgrade took (``backup_name``), restored as ``restore`` does (the
    live data serves until the swap, and comes back if anything fails). The database
    folders the newer release made go aside (``database_dirs``: the ones the backup
    saw). A failure leaves ``UNFINISHED_MARKER``.

    + from_version / to_version: the previous release and the running one
    + backup_name: the backup taken before the upgrade
    + database_dirs: ``<data_volume>/database`` entries when it was taken
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first
    + place: as ``data_script``
    """
    backup_path = posixpath.join(place["backup_dir"].rstrip("/"), backup_name)
    steps = f"""
from_version={shlex.quote(from_version)}; to_version={shlex.quote(to_version)}
from="$link-$from_version"; to="$link-$to_version"; restoring={shlex.quote(backup_path)}
mark "a rollback $to_version -> $from_version started $(now) and did not end: run deploys/restore.py"
if ! database_up "$to" || ! make_backup "$to_version" "$to" 0; then
  unmark
  echo "rollback refused: no safety backup of the live data could be taken; Harbor is as it was" >&2
  exit 1
fi
safety=$backup_name
if ! restore_data "$restoring" "$from" "$to"; then
  mark "the rollback $to_version -> $from_version failed at $(now); the data of $to_version from before it is in" \\
    "$backups/$safety: find the cause in {UPGRADE_LOG_DIR}/rollback-*.log, then run deploys/restore.py"
  exit 1
fi
set_aside_newer_database_dirs {" ".join(shlex.quote(name) for name in database_dirs)}
unmark
echo "Harbor $from_version is back, healthy, with the data of $restoring; the data of $to_version it replaced" \\
  "is in $backups/$safety" >&2
"""
    script = data_script(steps, reason=f"before the rollback to {from_version}", protect=(backup_name,), **place)
    yield guarded(lock_holder, detached_command(script, f"rollback-{to_version}-to-{from_version}"))


@operation(is_idempotent=False)
def database_dump(backup_dir, port, database, keep, label=None, lock_holder=None):
    """
    Dump a PostgreSQL database this host serves (a ``harbor_backing`` host's, shared
    by the nodes of one Harbor) to ``<backup_dir>/harbor-db-<UTC time>[-<label>].pgdump``
    (the server's time) with its ``.sha256``, as the postgres user with the server's
    own ``pg_dump`` (its major version, so a dump never meets a newer server); written
    as ``.partial`` and renamed, so a dump that exists is complete;
    ``harbor-db-last[-<label>].pgdump`` names it. Keeps the newest ``keep`` of the
    same label by their time on this host.

    + backup_dir: server dir of the dumps
    + port / database: what PostgreSQL serves
    + keep: dumps kept
    + label: what the dump is for (``before-upgrade``), in its name
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        harbor_data.database_dump(
            name="Dump the shared database", backup_dir="/var/backups/harbor-deploy",
            port=5432, database="registry", keep=7,
        )
    """
    directory = shlex.quote(backup_dir)
    suffix = f"-{label}" if label else ""
    if suffix and not suffix[1:].replace("-", "").isalnum():
        raise ValueError(f"database_dump label {label!r}: letters, digits and dashes only")
    yield guarded(
        lock_holder,
        bash(
            "\n".join(
                [
                    "set -u; umask 077",
                    f"mkdir -p {directory} && cd {directory} || exit 1",
                    f'dump="harbor-db-$(date -u +%Y%m%dT%H%M%SZ){suffix}.pgdump"',
                    f"if ! runuser -u postgres -- pg_dump -p {int(port)} -Fc {shlex.quote(database)} "
                    '> "$dump.partial"; then rm -f "$dump.partial"; exit 1; fi',
                    'mv "$dump.partial" "$dump" && sha256sum "$dump" > "$dump.sha256" || exit 1',
                    f'ln -sfn "$dump" harbor-db-last{suffix}.pgdump && '
                    f'ln -sfn "$dump.sha256" harbor-db-last{suffix}.pgdump.sha256',
                    f"ls -1t harbor-db-*Z{suffix}.pgdump | tail -n +{int(keep) + 1} | sed 'p; s/$/.sha256/' "
                    "| xargs -r rm -f",
                ]
            )
        ),
    )


@operation(is_idempotent=False)
def database_restore(backup_dir, dump, port, database, keep, lock_holder=None):
    """
    Put a dump (``database_dump``'s) back as the database ``database`` this host's
    PostgreSQL serves, while no client uses it: its ``.sha256`` checked, a safety dump
    of the live database first (``harbor-db-<UTC time>-before-rollback.pgdump``), the
    dump loaded beside it into ``<database>_restoring`` (one transaction, stopped at
    the first error, owned as the live one), then the two swapped by name and the old
    one dropped. Anything failing before the swap leaves the live database as it was.

    + backup_dir: server dir of the dumps
    + dump: the dump's name in ``backup_dir``
    + port / database: what PostgreSQL serves
    + keep: safety dumps kept
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        harbor_data.database_restore(
            name="Restore the shared database", backup_dir="/var/backups/harbor-deploy",
            dump="harbor-db-20261207T101500Z-before-upgrade.pgdump", port=5432, database="registry", keep=7,
        )
    """
    db, side = shlex.quote(database), shlex.quote(f"{database}_restoring")
    sql = f"runuser -u postgres -- psql -p {int(port)} -v ON_ERROR_STOP=1 -qAt -d postgres -c"
    steps = f"""set -u; umask 077
cd {shlex.quote(backup_dir)} || exit 1
dump={shlex.quote(dump)}
if ! sha256sum -c --quiet "$dump.sha256"; then
  echo "$dump does not match its .sha256: the database is as it was" >&2; exit 1
fi
safety="harbor-db-$(date -u +%Y%m%dT%H%M%SZ)-before-rollback.pgdump"
if ! runuser -u postgres -- pg_dump -p {int(port)} -Fc {db} > "$safety.partial"; then
  rm -f "$safety.partial"; echo "no safety dump of the live database: it is as it was" >&2; exit 1
fi
mv "$safety.partial" "$safety" && sha256sum "$safety" > "$safety.sha256" || exit 1
ls -1t harbor-db-*Z-before-rollback.pgdump | tail -n +{int(keep) + 1} | sed 'p; s/$/.sha256/' | xargs -r rm -f
owner=$({sql} "select pg_get_userbyid(datdba) from pg_database where datname = '{database}'") || exit 1
{sql} 'DROP DATABASE IF EXISTS {side}' && {sql} "CREATE DATABASE {side} OWNER \"$owner\"" || exit 1
if ! runuser -u postgres -- pg_restore -p {int(port)} --exit-on-error --single-transaction -d {side} < "$dump"; then
  {sql} 'DROP DATABASE IF EXISTS {side}'
  echo "$dump does not load: the database is as it was" >&2; exit 1
fi
old="{database}_before_rollback_$(date -u +%Y%m%dt%H%M%Sz)"
{sql} "select pg_terminate_backend(pid) from pg_stat_activity where datname = '{database}' \\
  and pid <> pg_backend_pid()" >/dev/null
{sql} "ALTER DATABASE {db} RENAME TO $old" || exit 1
if ! {sql} "ALTER DATABASE {side} RENAME TO {db}"; then
  {sql} "ALTER DATABASE $old RENAME TO {db}"; echo "the swap failed: the database is as it was" >&2; exit 1
fi
{sql} "DROP DATABASE $old"
echo "{database} is back as in $dump; the database it replaced is in $safety" >&2
"""
    yield guarded(lock_holder, bash(steps))


@operation(is_idempotent=False)
def release_back(version, lock_holder=None, **place):
    """
    Serve the kept release ``version`` (``<install_dir>-<version>``) again on a node of
    several, whatever release it runs or failed to run: Harbor stopped, the release
    ``install_dir`` points to brought down, ``install_dir`` pointed to ``version``,
    its ``prepare`` run, Harbor started and healthy. For a cluster rollback, once the
    shared database is back as that release had it.

    + version: the release kept beside
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first
    + place: as ``data_script``
    """
    steps = f"""
target="$link-"{shlex.quote(version)}; current=$(readlink -f "$link")
[ -d "$target" ] || {{ echo "no release $target kept on this node" >&2; exit 1; }}
systemctl stop harbor.service
if [ "$current" != "$target" ] && [ -f "$current/docker-compose.yml" ]; then harbor_compose "$current" down >&2; fi
if ! start_release "$target"; then
  echo "Harbor in $target not healthy: see {place.get("log_dir", "/var/log/harbor")}" >&2; exit 1
fi
echo "Harbor serves from $target again (it was $current)" >&2
"""
    script = data_script(steps, reason=f"back to {version}", **place)
    yield guarded(lock_holder, detached_command(script, f"release-back-{version}"))


# What a grow counts in the node's database and then in the shared one: the same.
GROW_COUNT_SQL = (
    "select (select count(*) from project) || ' projects, ' || (select count(*) from robot) "
    "|| ' robots, ' || (select count(*) from harbor_user) || ' users'"
)
GROW_COUNTS = f"docker exec harbor-db psql -U postgres -d registry -Atc {shlex.quote(GROW_COUNT_SQL)}"


@operation(is_idempotent=False)
def grow_export(endpoint, user, key, container, root="", lock_holder=None, **place):
    """
    Move a Harbor of one node's data out of it, for the shared services of a Harbor of
    several nodes: Harbor stops (no write lands after), its database is dumped from
    its own harbor-db to ``<backup_dir>/harbor-grow-<UTC time>.pgdump`` (named by
    ``harbor-grow-last.pgdump``), and the registry's files under
    ``<data_volume>/registry/docker`` (uploads in progress left out) go into the
    object store's ``container`` in one request, as the S3 driver names them (Swift's
    bulk ``extract-archive``); every file must be created. Nothing on the node is
    removed (the way back: start Harbor again). A failure starts Harbor again on its
    own data. The object store's key arrives on the command's stdin.

    + endpoint: the object store's URL (Swift's proxy, its ``/auth/v1.0`` and S3 API)
    + user: its tempauth user (``account:user``, the S3 access key)
    + key: its key (a ``Secret``: sent on stdin, never on a command line)
    + container: the bucket
    + root: the S3 driver's ``rootdirectory``, prefixed to the names
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first
    + place: as ``data_script``
    """
    prefix = root.strip("/")
    transform = f"--transform {shlex.quote(f's,^docker,{prefix}/docker,')}" if prefix else ""
    steps = f"""
IFS= read -r key || {{ echo "no object store key on stdin" >&2; exit 1; }}
release=$(readlink -f "$link"); endpoint={shlex.quote(endpoint.rstrip("/"))}
work=$(mktemp -d /run/harbor-grow.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
printf 'X-Auth-User: %s\nX-Auth-Key: %s\n' {shlex.quote(user)} "$key" > "$work/auth"; unset key
fail() {{
  echo "the grow failed: $1; Harbor starts again here on its own data, untouched" >&2
  harbor_compose "$release" down >&2 2>/dev/null; systemctl start harbor.service; exit 1
}}
curl -fsS -m 30 -D "$work/signed" -o /dev/null -H @"$work/auth" "$endpoint/auth/v1.0" \
  || {{ echo "the object store at $endpoint refused the sign-in: nothing was changed" >&2; exit 1; }}
token=$(sed -n 's/^x-auth-token: *//Ip' "$work/signed" | tr -d '\r')
storage=$(sed -n 's/^x-storage-url: *//Ip' "$work/signed" | tr -d '\r')
printf 'X-Auth-Token: %s\n' "$token" > "$work/token"; unset token
systemctl stop harbor.service || fail "stopping Harbor"
database_up "$release" || fail "starting its database alone"
counts=$({GROW_COUNTS}) || fail "counting its data"
dump="harbor-grow-$(date -u +%Y%m%dT%H%M%SZ).pgdump"
mkdir -p "$backups" && docker exec harbor-db pg_dump -U postgres -Fc registry > "$backups/$dump.partial" \
  && mv "$backups/$dump.partial" "$backups/$dump" && ln -sfn "$dump" "$backups/harbor-grow-last.pgdump" \
  || {{ rm -f "$backups/$dump.partial"; fail "dumping its database"; }}
harbor_compose "$release" down >&2
files=$(find "$volume/registry/docker" -type f ! -path '*/_uploads/*' 2>/dev/null | wc -l)
if [ "$files" -gt 0 ]; then
  big=$(find "$volume/registry/docker" -type f -size +5G ! -path '*/_uploads/*' | head -n1)
  [ -z "$big" ] || fail "$big is larger than the 5 GiB an object of the store takes in one piece"
  tar -C "$volume/registry" --exclude=_uploads {transform} -cf - docker \
    | curl -sS -X PUT -H @"$work/token" -H "Accept: application/json" -T - \
      "$storage/"{shlex.quote(container)}"?extract-archive=tar" > "$work/answer" || fail "copying the layers"
  created=$(grep -o '"Number Files Created": *[0-9]*' "$work/answer" | grep -o '[0-9]*$')
  [ "$created" = "$files" ] || fail "the object store created ${{created:-no}} of $files files: $(cat "$work/answer")"
fi
echo "moved out: $counts, in $backups/$dump; $files registry files into {container}" >&2
"""
    script = data_script(steps, reason="grow", **place)
    yield guarded(lock_holder, "bash", "-c", shlex.quote(script), _stdin=key.reveal() + "\n")


@operation(is_idempotent=False)
def database_load(dump, port, database, role, lock_holder=None):
    """
    Load a Harbor's database dump (``grow_export``'s) into the empty database
    ``database`` this host's PostgreSQL serves, its objects owned by ``role``, in one
    transaction stopped at the first error (a failure leaves it empty). Refused when
    the database holds tables already.

    + dump: the dump's path on this host
    + port / database: what PostgreSQL serves
    + role: the role Harbor's nodes connect as
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        harbor_data.database_load(
            name="Load the grown Harbor's database", dump="/var/backups/harbor-deploy/harbor-grow.pgdump",
            port=5432, database="registry", role="harbor",
        )
    """
    psql = f"runuser -u postgres -- psql -X -q -p {int(port)} -d {shlex.quote(database)} -tAc"
    steps = f"""set -u
tables=$({psql} "select count(*) from pg_tables where schemaname = 'public'") || exit 1
if [ "$tables" != 0 ]; then echo "{database} holds $tables tables already: nothing was loaded" >&2; exit 1; fi
if ! runuser -u postgres -- pg_restore -p {int(port)} --no-owner --no-privileges --role={shlex.quote(role)} \\
  --single-transaction --exit-on-error -d {shlex.quote(database)} < {shlex.quote(dump)}; then
  echo "the dump does not load: {database} is empty as it was" >&2; exit 1
fi
echo "loaded into {database}: $({psql} {shlex.quote(GROW_COUNT_SQL)})" >&2
"""
    yield guarded(lock_holder, bash(steps))
