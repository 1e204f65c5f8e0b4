"""
The deploy lock of a host: two runs never change one server at the same time.

A run takes the lock with its first change (the commands of each changing operation
start with ``acquire(holder)``), so a converged run, which changes nothing, takes no
lock and counts no change. The lock is a directory in ``/run/lock`` naming its holder,
the PID of the run's session and that process's start time, and it lasts as long as
that session: while it lives, another run's first change fails its host, naming the
holder, before it changes anything; once it is gone (the run ended, was killed or
lost its connection) the next run takes the lock over, saying so on stderr.
Nothing needs to release it, so no run can forget to. Taking the lock, or taking it
over, is one step under ``flock`` (util-linux) on a file beside it: of any number of
runs finding it free or stale at once, exactly one takes it.

A run's session is the SSH session serving it, or the process ``SESSION_ENV`` names
(``session``); a run that can tell neither changes nothing and says why, as it could
not tell whether another run holds the lock.

What a run decided from the host's state it read before the lock (a fresh install,
the database password) holds only if no other run changed that state meanwhile: a
``Holder`` may carry a shell condition (``unchanged``), checked when the lock is taken
(from then on this run is the only writer); when it fails, nothing is changed and the
run is told to run again.

An upgrade runs detached from its session (``UPGRADE_UNIT``, see
``harbor_data.upgrade``): while that unit is active the lock is refused too, naming it,
even once the session that started it has gone.
"""

import datetime
import getpass
import os
import shlex
import socket
from dataclasses import dataclass

from pyinfra.api import StringCommand

from harbor_deploy.lib.config.defaults import UPGRADE_LOG_DIR, UPGRADE_UNIT
from harbor_deploy.operations.session import FIELD, SESSION, SESSION_ENV

LOCK_DIR = "/run/lock/harbor-deploy"
# How long a run waits for another one's few milliseconds of taking the lock.
GUARD_WAIT_SECONDS = 30


def unknown_session():
    """Why a run that cannot tell its session changes nothing."""
    return (
        "cannot tell this run's session (no sshd process above it: pyinfra's @local connector, or an SSH "
        f"server of another name), so not whether another harbor-deploy run holds the lock: set {SESSION_ENV} "
        "to the PID of a process that lives exactly as long as this run; nothing was changed here"
    )


def host_changed(what):
    """Why a run whose host changed since it read it changes nothing."""
    return f"the host changed since this run read it ({what}); nothing was changed here: run again"


def upgrade_running(unit=UPGRADE_UNIT):
    """Why nothing changes while the detached upgrade ``unit`` is active."""
    return (
        f"an upgrade started by an earlier harbor-deploy run is still running here ({unit}, "
        f"logging to {UPGRADE_LOG_DIR}); nothing was changed here: run again when it has ended"
    )


@dataclass(frozen=True)
class Holder:
    """Who takes a host's lock (``who``: user, controller, PID, deploy, start; as
    another run's refusal names it) and, when this run decided from the host's state,
    a shell condition true while the host is as the run read it (``unchanged``) and
    what it is about (``what``, for the refusal)."""

    who: str
    unchanged: str | None = None
    what: str = ""


def lock_holder(deploy_name, unchanged=None, what=""):
    """The ``Holder`` of this controller's user, host and process for ``deploy_name``,
    started now (UTC); see ``Holder`` for ``unchanged`` and ``what``."""
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    who = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} ({deploy_name}, started {started})"
    return Holder(who, unchanged, what)


def as_read(files=None, nonempty=None):
    """A condition (``Holder.unchanged``) true while ``files`` ({path: mtime in whole
    seconds, or None for no such file}) and the emptiness of folders (``nonempty``:
    {path: whether it held anything}) are as read. No content is compared: the
    command line never carries anything derived from a secret."""
    tests = [
        f'[ "$(stat -L -c %Y {shlex.quote(path)} 2>/dev/null)" = "{"" if mtime is None else int(mtime)}" ]'
        for path, mtime in (files or {}).items()
    ]
    tests += [
        f'[ {"-n" if full else "-z"} "$(ls -A {shlex.quote(path)} 2>/dev/null)" ]'
        for path, full in (nonempty or {}).items()
    ]
    return " && ".join(tests) or "true"


def acquire(holder, lock_dir=LOCK_DIR, upgrade_unit=UPGRADE_UNIT):
    """Shell taking the lock for ``holder`` (a ``Holder``), or failing: naming the live
    holder, or ``upgrade_unit`` while that detached upgrade is active, or the session
    it cannot tell, or ``holder.what`` when ``holder.unchanged`` no longer holds; a
    no-op when this session holds it already."""
    lock = shlex.quote(lock_dir)
    unit = shlex.quote(upgrade_unit)
    unchanged = (
        f"if ! ( {holder.unchanged} ); then echo {shlex.quote(host_changed(holder.what))} >&2; exit 1; fi; "
        if holder.unchanged
        else ""
    )
    return (
        f"( if systemctl is-active --quiet {unit} 2>/dev/null; then "
        f"echo {shlex.quote(upgrade_running(upgrade_unit))} >&2; exit 1; fi; "
        f"{FIELD}; {SESSION}; "
        f'if [ -z "$started" ]; then echo {shlex.quote(unknown_session())} >&2; exit 1; fi; '
        f'lock={lock}; mkdir -p "${{lock%/*}}" && exec 9>>"$lock.guard" && flock -w {GUARD_WAIT_SECONDS} 9 '
        '|| { echo "cannot take $lock.guard with flock (util-linux); nothing was changed here" >&2; exit 1; }; '
        'held=; held_started=; read -r held 2>/dev/null < "$lock/session"; '
        'read -r held_started 2>/dev/null < "$lock/started"; '
        'if [ "$held $held_started" = "$session $started" ]; then exit 0; fi; '
        'field "$held" 20 live; if [ -n "$held_started" ] && [ "$live" = "$held_started" ]; then '
        'echo "another harbor-deploy run holds $lock: $(cat "$lock/holder") (its session, pid $held, is live);'
        ' nothing was changed here: run again when it has ended" >&2; exit 1; fi; '
        f"{unchanged}"
        'if [ -e "$lock" ]; then echo "taking over $lock from a run that has gone: $(cat "$lock/holder" 2>/dev/null)"'
        " >&2; fi; "
        'rm -rf "$lock" && mkdir -m 0700 "$lock" && '
        f'printf "%s\\n" {shlex.quote(holder.who)} > "$lock/holder" && echo "$started" > "$lock/started" && '
        'echo "$session" > "$lock/session" )'
    )


def guarded(holder, *bits, **connector_arguments):
    """A ``StringCommand`` of ``bits`` run only once this session holds the lock for
    ``holder``; as it is without a holder (the lock is the caller's choice).
    ``connector_arguments``: the command's own, e.g. ``_stdin`` (never printed)."""
    if holder:
        return StringCommand(acquire(holder), "&&", *bits, **connector_arguments)
    return StringCommand(*bits, **connector_arguments)
