import json
import shlex

from pyinfra.api import FactBase

from harbor_deploy.facts.output import SECTION_MARKER, key_values, split_at, split_sections
from harbor_deploy.lib.config.defaults import UNFINISHED_MARKER, UPGRADE_LOG_DIR, UPGRADE_UNIT, UPGRADE_WAIT_SECONDS
from harbor_deploy.lib.plan.shared_values import ENV_FILES, LENGTHS

CONTAINER_MARKER = "--- containers"
# Harbor's compose project: pinned so the name never follows a versioned directory.
COMPOSE_PROJECT = "harbor"


def releases_command(install_dir):
    """Shell printing ``key=value`` lines of the releases under ``install_dir``: the
    symlink's target as written, the directory it resolves to, the bundle there and
    the releases kept beside it (files only: no docker, no systemd)."""
    d = shlex.quote(install_dir.rstrip("/"))
    return (
        f'echo "link_target=$(readlink {d} 2>/dev/null)"; '
        f"target=$(readlink -f {d} 2>/dev/null); "
        f'[ -d "$target" ] || target=""; echo "release_dir=$target"; '
        'echo "bundle=$(cd "$target" 2>/dev/null && ls harbor.v*.tar.gz 2>/dev/null | head -n1)"; '
        f'echo "releases=$(ls -d {d}-v* 2>/dev/null | grep -v "\\.partial$" | tr "\\n" " ")"'
    )


def releases_of(values):
    bundle = values.get("bundle") or ""
    return {
        "link_target": values.get("link_target") or None,
        "release_dir": values.get("release_dir") or None,
        "bundle_version": bundle[len("harbor.") : -len(".tar.gz")] if bundle else None,
        "releases": values.get("releases", "").split(),
    }


class HarborReleases(FactBase[dict]):
    """
    Returns the releases under a Harbor install dir, from files alone (the part of
    ``HarborInstallation`` that needs neither docker nor systemd).

    .. code:: python

        {
            "link_target": "/usr/local/harbor-v2.13.1",
            "release_dir": "/usr/local/harbor-v2.13.1",
            "bundle_version": "v2.13.1",
            "releases": ["/usr/local/harbor-v2.13.1"],
        }
    """

    def command(self, install_dir):
        return releases_command(install_dir)

    def process(self, output):
        return releases_of(key_values(output))


class HarborInstallation(FactBase[dict]):
    """
    Returns what is installed under a Harbor install dir, read from real artifacts
    (the installer writes no marker): the symlink's target as written and the release
    directory the install dir resolves to, the bundle's version (from its ``harbor.vX.Y.Z.tar.gz``), the releases kept
    beside it, the generated ``docker-compose.yml`` and ``harbor.yml`` (mtimes and
    sha256), the versions of harbor-core images loaded, the compose project's containers
    and the ``harbor.service`` state, in one round trip.

    .. code:: python

        {
            "link_target": "/usr/local/harbor-v2.13.1",
            "release_dir": "/usr/local/harbor-v2.13.1",
            "bundle_version": "v2.13.1",
            "releases": ["/usr/local/harbor-v2.13.1"],
            "compose_mtime": 1764262000, "harbor_yml_mtime": 1764261990,
            "harbor_yml_sha256": "…", "core_images": ["v2.13.1"],
            "containers": {"harbor-core": {"image": "goharbor/harbor-core:v2.13.1",
                                           "state": "running"}},
            "running_version": "v2.13.1",
            "service_enabled": "enabled", "service_active": "active",
        }
    """

    def command(self, install_dir):
        return (
            f"{releases_command(install_dir)}; "
            'echo "compose_mtime=$(stat -c %Y "$target/docker-compose.yml" 2>/dev/null)"; '
            'echo "harbor_yml_mtime=$(stat -c %Y "$target/harbor.yml" 2>/dev/null)"; '
            'echo "harbor_yml_sha256=$(sha256sum "$target/harbor.yml" 2>/dev/null | cut -d" " -f1)"; '
            "echo \"core_images=$(docker image ls goharbor/harbor-core --format '{{.Tag}}' 2>/dev/null "
            '| tr "\\n" " ")"; '
            'echo "service_enabled=$(systemctl is-enabled harbor.service 2>/dev/null)"; '
            'echo "service_active=$(systemctl is-active harbor.service 2>/dev/null)"; '
            f"echo {CONTAINER_MARKER}; "
            f"docker ps -a --filter label=com.docker.compose.project={COMPOSE_PROJECT} "
            "--format '{{.Names}} {{.Image}} {{.State}}' 2>/dev/null || true"
        )

    def process(self, output):
        head, listed = split_at(output, CONTAINER_MARKER)
        values = key_values(head)
        containers = {}
        for line in listed or []:
            parts = line.split()
            if len(parts) == 3:
                containers[parts[0]] = {"image": parts[1], "state": parts[2]}
        core = containers.get("harbor-core", {}).get("image", "")
        return {
            **releases_of(values),
            "compose_mtime": int(values["compose_mtime"]) if values.get("compose_mtime") else None,
            "harbor_yml_mtime": int(values["harbor_yml_mtime"]) if values.get("harbor_yml_mtime") else None,
            "harbor_yml_sha256": values.get("harbor_yml_sha256") or None,
            "core_images": sorted(values.get("core_images", "").split()),
            "containers": containers,
            "running_version": core.rsplit(":", 1)[1] if ":" in core else None,
            "service_enabled": values.get("service_enabled") or None,
            "service_active": values.get("service_active") or None,
        }


class HarborHealth(FactBase[dict]):
    """
    Returns each Harbor container's state, health and start time, and Harbor's own
    ``/api/v2.0/health`` answer (``None`` when it does not answer), in one round trip.
    Only these fields are read from ``docker inspect``: container environments hold
    secrets.

    .. code:: python

        {
            "containers": {"harbor-core": {"state": "running", "health": "healthy",
                                           "started_at": "2026-11-27T17:00:00.1Z"}},
            "api": {"status": "healthy", "components": [{"name": "core", "status": "healthy"}]},
        }
    """

    def command(self, url):
        return (
            f"ids=$(docker ps -aq --filter label=com.docker.compose.project={COMPOSE_PROJECT} 2>/dev/null); "
            '[ -z "$ids" ] || docker inspect --format '
            "'{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} "
            "{{.State.StartedAt}}' $ids; "
            f"echo {CONTAINER_MARKER}; "
            f"curl -sk --max-time 5 {shlex.quote(url.rstrip('/') + '/api/v2.0/health')} || true"
        )

    def process(self, output):
        listed, answer = split_at(output, CONTAINER_MARKER)
        containers = {}
        for line in listed:
            parts = line.split()
            if len(parts) == 4:
                containers[parts[0].lstrip("/")] = {"state": parts[1], "health": parts[2], "started_at": parts[3]}
        try:
            api = json.loads("\n".join(answer or []))
        except ValueError:
            api = None
        return {"containers": containers, "api": api if isinstance(api, dict) else None}


class HarborLogTails(FactBase[dict]):
    """
    Returns the last ``lines`` lines of each of Harbor's logs in ``log_dir`` (harbor-log
    writes one ``<component>.log`` per container), by component.

    .. code:: python

        {"core": ["Nov 28 21:50:03 172.18.0.1 core[1]: ..."], "registry": [...]}
    """

    def command(self, log_dir, lines):
        return (
            f'for f in {shlex.quote(log_dir)}/*.log; do [ -f "$f" ] || continue; '
            f'printf \'\\n{SECTION_MARKER}%s\\n\' "$(basename "$f" .log)"; tail -n {int(lines)} "$f"; done; true'
        )

    def process(self, output):
        return split_sections(output)

    @staticmethod
    def default():
        return {}


class SharedValueDigests(FactBase[dict]):
    """
    Returns, for each env file prepare wrote under ``<install_dir>/common/config``, the
    digests (the first 16 hex digits of a sha256, as ``shared_values.digest``) of the
    values prepare draws on every run; never the values. A file missing is left out.

    .. code:: python

        {"core/env": {"CORE_SECRET": "3f9a…", "CSRF_KEY": "…", ...}, "jobservice/env": {...}}
    """

    def command(self, install_dir):
        config = shlex.quote(f"{install_dir.rstrip('/')}/common/config")
        keys = "|".join(LENGTHS)
        # The value stays in the shell (printf is a builtin): on no command line.
        return (
            f"cd {config} 2>/dev/null || exit 0; for f in {' '.join(ENV_FILES)}; do [ -f \"$f\" ] || continue; "
            f"grep -E '^({keys})=' \"$f\" | while IFS='=' read -r key value; do "
            'printf \'%s %s %s\\n\' "$f" "$key" "$(printf %s "$value" | sha256sum | cut -c1-16)"; done; done'
        )

    def process(self, output):
        found = {}
        for line in output:
            name, key, digest = line.split()
            found.setdefault(name, {})[key] = digest
        return found


class HarborBackups(FactBase[dict]):
    """
    Returns the complete backups in ``backup_dir`` (``harbor-<UTC time>-<version>/``
    with a ``manifest.json``; a ``.partial`` one is not complete), by name, each with
    its manifest and ``sha256sums``, the sha256 of its ``SHA256SUMS`` (which backup it
    is, whatever its name).

    .. code:: python

        {"harbor-20261128T221500Z-v2.13.1": {"version": "v2.13.1", "created": "20261128T221500Z", ...,
                                             "sha256sums": "9f2c..."}}
    """

    def command(self, backup_dir):
        return (
            f'for d in {shlex.quote(backup_dir)}/harbor-*; do case "$d" in *.partial) continue;; esac; '
            '[ -f "$d/manifest.json" ] || continue; '
            f'printf \'\\n{SECTION_MARKER}%s\\n\' "$(basename "$d")"; '
            'echo "sha256sums $(sha256sum < "$d/SHA256SUMS" 2>/dev/null | cut -d" " -f1)"; '
            'cat "$d/manifest.json"; done; true'
        )

    def process(self, output):
        backups = {}
        for name, lines in split_sections(output).items():
            sums = lines[0].split()[1:] if lines and lines[0].startswith("sha256sums") else []
            try:
                backups[name] = {**json.loads("\n".join(lines[1:])), "sha256sums": sums[0] if sums else None}
            except ValueError:
                continue  # a manifest being written, or damaged: not a usable backup
        return backups

    @staticmethod
    def default():
        return {}


class UpgradeUnit(FactBase[dict]):
    """
    Waits, at most ``wait`` seconds, while an upgrade (or rollback) started by an
    earlier run still runs (``unit``, detached from the SSH session that started it),
    then returns whether it still runs, whether this read waited for it, and the
    newest log in ``log_dir`` with its last line: how that run ended.

    .. code:: python

        {
            "running": False,
            "waited": True,
            "log": "/var/log/harbor-deploy/upgrade-harbor-20261128T221500Z-v2.13.1-to-v2.14.0.log",
            "outcome": "upgraded v2.13.1 -> v2.14.0 (2 projects, 1 robots, 1 tags); backup ...",
        }
    """

    def command(self, unit=UPGRADE_UNIT, log_dir=UPGRADE_LOG_DIR, wait=UPGRADE_WAIT_SECONDS):
        u = shlex.quote(unit)
        return (
            f"waited=0; deadline=$(( $(date +%s) + {int(wait)} )); "
            f'while systemctl is-active --quiet {u} && [ "$(date +%s)" -lt "$deadline" ]; do waited=1; sleep 2; done; '
            f'if systemctl is-active --quiet {u}; then echo running=1; else echo running=0; fi; echo "waited=$waited"; '
            f"log=$(ls -1t {shlex.quote(log_dir.rstrip('/'))}/*.log 2>/dev/null | head -n 1); "
            'echo "log=$log"; if [ -n "$log" ]; then echo "outcome=$(tail -n 1 "$log")"; fi'
        )

    def process(self, output):
        values = key_values(output)
        return {
            "running": values.get("running") == "1",
            "waited": values.get("waited") == "1",
            "log": values.get("log") or None,
            "outcome": values.get("outcome") or None,
        }

    @staticmethod
    def default():
        return {"running": False, "waited": False, "log": None, "outcome": None}


class UnfinishedOperation(FactBase):
    """
    Returns what an upgrade, rollback or restore of Harbor's data wrote in
    ``UNFINISHED_MARKER`` as it started and did not remove: it failed, or its host
    went down under it (None when there is no marker).

    .. code:: python

        "rollback v2.14.0 -> v2.13.1 failed at 2026-12-07T10:00:00Z: ...; the way out: ..."
    """

    def command(self, marker=UNFINISHED_MARKER):
        return f"cat {shlex.quote(marker)} 2>/dev/null || true"

    def process(self, output):
        return " ".join(line.strip() for line in output if line.strip()) or None


# What a restore or a rollback would drop: Harbor's rows made after a time (real
# Harbor's tables carry creation_time; update_time also moves when a migration
# rewrites rows, so it would count every upgraded row) and tags pushed after it
# (their link files in the registry's storage, when that is the data volume).
DATA_SINCE_SQL = (
    "select string_agg(kind || '=' || n || '=' || coalesce(to_char(newest at time zone 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), ' ') from ("
    "select 'projects' kind, count(*) n, max(creation_time) newest from project where creation_time > :since "
    "union all select 'robots', count(*), max(creation_time) from robot where creation_time > :since "
    "union all select 'users', count(*), max(creation_time) from harbor_user where creation_time > :since "
    "union all select 'registries', count(*), max(creation_time) from registry where creation_time > :since) counts"
)


class HarborDataSince(FactBase[dict]):
    """
    Returns what the live Harbor holds that is newer than ``since`` (an ISO UTC time,
    e.g. a backup's): the rows of its database made after it (projects, robots,
    users, registries) and the tags pushed after it in ``<data_volume>/registry``, with
    the newest of those times. ``readable`` is False when harbor-db does not answer
    (Harbor stopped or broken): then nothing is known of the database.

    .. code:: python

        {"readable": True, "projects": 1, "robots": 0, "users": 0, "registries": 0,
         "tags": 3, "newest": "2026-12-07T10:12:03Z"}
    """

    def command(self, since, data_volume):
        sql = DATA_SINCE_SQL.replace(":since", f"'{since}'::timestamptz")
        links = shlex.quote(f"{data_volume.rstrip('/')}/registry/docker/registry/v2/repositories")
        return (
            f'echo "rows=$(docker exec harbor-db psql -U postgres -d registry -Atc {shlex.quote(sql)} '
            '2>/dev/null || echo unreadable)"; '
            f"TZ=UTC find {links} -path '*/_manifests/tags/*/current/link' -newermt {shlex.quote(since)} "
            "-printf '%TY-%Tm-%TdT%TH:%TM:%TSZ\\n' 2>/dev/null | sort | "
            'awk \'END { print "tags=" NR; print "newest_tag=" $0 }\''
        )

    def process(self, output):
        values = key_values(output)
        rows = values.get("rows", "unreadable")
        found = {"readable": rows != "unreadable", "tags": int(values.get("tags") or 0)}
        newest = [values["newest_tag"][:19] + "Z"] if values.get("newest_tag") else []
        for part in rows.split() if found["readable"] else ():
            kind, count, when = part.split("=")
            found[kind] = int(count)
            newest += [when] if when else []
        found["newest"] = max(newest) if newest else None
        return found
