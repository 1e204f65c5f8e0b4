"""
Operations on a Harbor installation: its installer bundle, and its running compose project.
"""

import hashlib
import os
import posixpath
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from harbor_deploy.facts.harbor import COMPOSE_PROJECT
from harbor_deploy.facts.server import InstallerState
from harbor_deploy.lib.config.defaults import release_dir as versioned_release_dir
from harbor_deploy.operations import upload
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
      caller read them already; read here otherwise (with the two below, in one round
      trip: ``InstallerState``)
    + installation: the ``HarborInstallation`` (or ``HarborReleases``) of ``install_dir``,
      likewise
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
    if known_files is None or installation is None or space is None:
        read = host.get_fact(
            InstallerState, install_dir=install_dir, cache_dir=cache_dir, release_parent=posixpath.dirname(release_dir)
        )
        known_files = read["files"] if known_files is None else known_files
        installation = read["releases"] if installation is None else installation
        space = read["space"] if space is None else space
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
        received = upload.received_sha256(staged)
        yield guarded(
            lock_holder,
            "install", "-d", "-m", "0755", QuoteString(cache_dir), "&&",
            "install", "-d", "-m", "0700", "-o", '"${SUDO_USER:-$(id -un)}"', QuoteString(staging), "&&",
            "rm", "-f", QuoteString(staged), QuoteString(received),
        )  # fmt: skip
        yield upload.large_file(src, staged, **AS_LOGIN_USER)
        # The sum the host took of the bytes as they arrived (a stream), else of the file.
        quoted, expected = shlex.quote(staged), shlex.quote(sha256)
        verify = (
            f'[ "$(stat -c %s {quoted})" = {size} ] && '
            f'{{ [ "$(cut -c1-64 {shlex.quote(received)} 2>/dev/null)" = {expected} ] || '
            f'[ "$(sha256sum < {quoted} | cut -c1-64)" = {expected} ]; }}'
        )
        yield StringCommand(
            f"if ! {{ {verify}; }}; then rm -f {quoted} {shlex.quote(received)}; "
            f"echo {shlex.quote(f'{name}: the upload does not match sha256 {sha256}')} >&2; exit 1; fi",
            "&&", "chown", "root:root", QuoteString(staged),
            "&&", "chmod", "0644", QuoteString(staged),
            "&&", "mv", "-f", QuoteString(staged), QuoteString(bundle),
            "&&", "printf", "%s", QuoteString(record), ">", QuoteString(f"{bundle}.sha256"),
            "&&", "rm", "-f", QuoteString(received),
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
