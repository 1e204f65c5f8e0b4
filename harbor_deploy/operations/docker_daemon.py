"""
Merge settings into the docker daemon configuration (``/etc/docker/daemon.json``)
and apply them with a reload when dockerd supports it, a restart otherwise.

The merge happens on the controller: hosts need neither python nor jq.
"""

import copy
import json
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation

from harbor_deploy.facts.docker import DAEMON_JSON, DockerDaemonConfig, DockerEngine

BACKUP = f"{DAEMON_JSON}.bak"
REJECTED = f"{DAEMON_JSON}.rejected"
# Staged next to the target so that the final mv is an atomic rename.
STAGED = "/etc/docker/.daemon.json.new"

LIST_MERGE_KEYS = ("insecure-registries", "registry-mirrors")

# Keys dockerd applies on SIGHUP, as read in moby's daemon/reload.go and
# daemon/reload_unix.go (Reload, reloadPlatform). Left out on purpose: "features"
# (some only act at start-up), default-ipc-mode and default-cgroupns-mode (not
# reset when removed), authorization-plugins (reloaded outside Daemon.Reload).
RELOADABLE_KEYS = frozenset(
    {
        "debug",
        "labels",
        "live-restore",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "shutdown-timeout",
        "insecure-registries",
        "registry-mirrors",
        "allow-nondistributable-artifacts",
        "runtimes",
        "default-runtime",
        "default-shm-size",
    }
)


def merge_daemon_config(current, settings, list_merge_keys=LIST_MERGE_KEYS):
    """
    Return ``current`` with ``settings`` merged in, leaving ``current`` untouched.

    Keys absent from ``settings`` are kept. ``list_merge_keys`` become the union of
    the existing and the given entries, existing first, without duplicates. Other
    dict values merge key by key (recursively); any other value is set as given.
    Raises ``ValueError`` when a list merge key holds something other than a list.
    """
    merged = copy.deepcopy(current)
    for key, value in settings.items():
        if key in list_merge_keys:
            existing = merged.get(key, [])
            if not isinstance(existing, list) or not isinstance(value, list | tuple):
                raise ValueError(f"{key!r} must be a list in both daemon.json and the settings")
            merged[key] = list(dict.fromkeys([*existing, *value]))
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_daemon_config(merged[key], value, ())
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def reload_or_restart(old, new):
    """
    What dockerd needs to take ``new`` in place of ``old``: ``"none"`` when they are
    equal, ``"reload"`` (SIGHUP) when only ``RELOADABLE_KEYS`` were added or changed,
    ``"restart"`` otherwise. Removing a key needs a restart: on reload dockerd
    keeps the running value of a key that is no longer set.
    """
    changed = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    if not changed:
        return "none"
    if changed <= RELOADABLE_KEYS and changed <= new.keys():
        return "reload"
    return "restart"


def fail_host(message):
    """A command failing this host with ``message``: an exception raised while an
    operation runs would stop the run on every host, a failing command only on this one."""
    return f"echo {shlex.quote(message)} >&2; exit 1"


@operation()
def daemon_json(settings, list_merge_keys=LIST_MERGE_KEYS, backup=True, current=None):
    """
    Merge settings into ``/etc/docker/daemon.json``; never overwrite it wholesale.

    + settings: dict of daemon.json keys to set (see ``merge_daemon_config``)
    + list_merge_keys: keys whose lists are merged (union, existing entries first)
    + backup: copy the current file to ``daemon.json.bak`` before changing it (when
      there was no file, a stale ``.bak`` is removed, which tells ``apply`` so)
    + current: the ``DockerDaemonConfig`` fact of daemon.json, when the caller read it
      already; read here otherwise

    Nothing changes when the merged result equals the current content. A current
    file that is not valid JSON is refused and left untouched: the host fails, the
    others carry on. The new file is
    staged in ``/etc/docker`` then moved into place (root:root, mode 0644). This
    does not signal dockerd: follow it with ``apply``.

    **Example:**

    .. code:: python

        from harbor_deploy.operations import docker_daemon
        daemon_config = docker_daemon.daemon_json(
            name="Trust the plain-HTTP Harbor",
            settings={"insecure-registries": ["harbor.lab.internal:80"]},
        )
        docker_daemon.apply(
            name="Apply the docker daemon configuration",
            _if=daemon_config.did_change,
        )
    """

    if current is None:
        current = host.get_fact(DockerDaemonConfig, path=DAEMON_JSON)
    if current["error"] is not None:
        yield fail_host(
            f"{DAEMON_JSON} is not valid JSON ({current['error']}): refusing to merge into it, "
            "the file is left untouched; fix or remove it, then run again"
        )
        return
    try:
        merged = merge_daemon_config(current["config"], settings, list_merge_keys)
    except ValueError as error:
        yield fail_host(f"{DAEMON_JSON}: {error}")
        return

    if merged == current["config"]:
        host.noop(f"{DAEMON_JSON} already holds {', '.join(settings) or 'the settings'}")
        return

    if backup:
        yield f"cp -p {DAEMON_JSON} {BACKUP}" if current["exists"] else f"rm -f {BACKUP}"
    if not current["exists"]:
        yield "mkdir -p /etc/docker"
    content = json.dumps(merged, indent=2) + "\n"
    yield FileUploadCommand(StringIO(content), STAGED, remote_temp_filename=host.get_temp_filename(STAGED))
    yield f"chown root:root {STAGED} && chmod 644 {STAGED} && mv -f {STAGED} {DAEMON_JSON}"


@operation(is_idempotent=False)
def apply():
    """
    Make dockerd take the daemon.json that ``daemon_json`` just changed, comparing
    it with the ``daemon.json.bak`` that ``daemon_json(backup=True)`` left: reload
    (``systemctl reload docker``) when only reloadable keys changed, restart
    otherwise. A restart stops running containers unless ``live-restore`` is on.
    If docker does not come back after the restart, the new file is moved to
    ``daemon.json.rejected``, the previous one restored, docker restarted again
    and the operation fails. Nothing is done while docker is not running: the
    file applies when it starts.

    Run it only right after a change, with ``_if=<daemon_json op>.did_change``:
    afterwards ``.bak`` still differs from the current file.

    **Example:**

    .. code:: python

        from harbor_deploy.operations import docker_daemon
        daemon_config = docker_daemon.daemon_json(
            name="Add the registry mirror",
            settings={"registry-mirrors": ["https://harbor.lab.internal"]},
        )
        docker_daemon.apply(
            name="Apply the docker daemon configuration",
            _if=daemon_config.did_change,
        )
    """

    if not host.get_fact(DockerEngine)["active"]:
        host.noop("docker is not running: the daemon configuration applies when it starts")
        return
    new = host.get_fact(DockerDaemonConfig, path=DAEMON_JSON)
    old = host.get_fact(DockerDaemonConfig, path=BACKUP)
    if new["config"] is None or old["config"] is None:
        action = "restart"
    else:
        action = reload_or_restart(old["config"], new["config"])

    if action == "none":
        host.noop(f"{DAEMON_JSON} is the same as {BACKUP}: nothing to apply")
    elif action == "reload":
        yield "systemctl reload docker"
    else:
        yield (
            "systemctl restart docker && docker version >/dev/null || { "
            f"echo 'docker did not come back with the new {DAEMON_JSON}: restoring the previous one, "
            f"the new one is kept as {REJECTED}' >&2; "
            f"mv -f {DAEMON_JSON} {REJECTED}; "
            f"if [ -e {BACKUP} ]; then cp -p {BACKUP} {DAEMON_JSON}; fi; "
            "systemctl reset-failed docker; systemctl restart docker; exit 1; }"
        )
