"""
The deploy lock of a host: two runs never change one server at the same time.

A run takes the lock with its first change (the commands of each changing operation
start with ``acquire(holder)``), so a converged run, which changes nothing, takes no
lock and counts no change. The lock is a directory in ``/run/lock`` naming its holder
and the PID of the SSH session (``sshd``) that took it, and it lasts as long as that
session: while it lives, another run's first change fails its host, naming the
holder, before it changes anything; once it is gone (the run ended, was killed or
lost its connection) the next run takes the lock over, saying so on stderr.
Nothing needs to release it, so no run can forget to.

An upgrade runs detached from its session (``UPGRADE_UNIT``, see
``harbor_data.upgrade``): while that unit is active the lock is refused too, naming it,
even once the session that started it has gone.
"""

import datetime
import getpass
import os
import shlex
import socket

from pyinfra.api import StringCommand

from harbor_deploy.lib.config.defaults import UPGRADE_LOG_DIR, UPGRADE_UNIT

LOCK_DIR = "/run/lock/harbor-deploy"

# The SSH session serving this command: the first sshd* ancestor (sudo, su and
# shells sit between). Under pyinfra's local connector there is none: pid 1, which
# never counts as a live holder.
_SESSION = (
    'session=$$; while [ "$session" -gt 1 ]; do '
    'case "$(cat /proc/$session/comm 2>/dev/null)" in sshd*) break;; esac; '
    "session=$(awk '{print $4}' /proc/$session/stat 2>/dev/null || echo 1); done"
)
_LIVE = '[ "$held" -gt 1 ] 2>/dev/null && case "$(cat /proc/$held/comm 2>/dev/null)" in sshd*) true;; *) false;; esac'


def lock_holder(deploy_name):
    """Who takes a host's deploy lock: this controller's user, host and process, the
    deploy and when (UTC), as another run's refusal names it."""
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} ({deploy_name}, started {started})"


def upgrade_running(unit=UPGRADE_UNIT):
    """Why nothing changes while the detached upgrade ``unit`` is active."""
    return (
        f"an upgrade started by an earlier harbor-deploy run is still running here ({unit}, "
        f"logging to {UPGRADE_LOG_DIR}); nothing was changed here: run again when it has ended"
    )


def acquire(holder, lock_dir=LOCK_DIR, upgrade_unit=UPGRADE_UNIT):
    """Shell taking the lock for ``holder`` (a description: who, from where, since
    when), or failing with the live holder's description, or naming ``upgrade_unit``
    while that detached upgrade is active; a no-op when this session holds it already."""
    lock = shlex.quote(lock_dir)
    unit = shlex.quote(upgrade_unit)
    return (
        f"( if systemctl is-active --quiet {unit} 2>/dev/null; then "
        f"echo {shlex.quote(upgrade_running(upgrade_unit))} >&2; "
        "exit 1; fi; "
        f"{_SESSION}; lock={lock}; tmp=$lock.$$; "
        'mkdir -p "$(dirname "$lock")" && rm -rf "$tmp" && mkdir -m 0700 "$tmp" && '
        f'printf "%s\\n" {shlex.quote(holder)} > "$tmp/holder" && echo "$session" > "$tmp/session" || exit 1; '
        'while ! mv -T "$tmp" "$lock" 2>/dev/null; do '
        'held=$(cat "$lock/session" 2>/dev/null); '
        'if [ "$held" = "$session" ]; then rm -rf "$tmp"; exit 0; fi; '
        f"if {_LIVE}; then "
        'echo "another harbor-deploy run holds $lock: $(cat "$lock/holder") (its SSH session, pid $held, is live);'
        ' nothing was changed here: run again when it has ended" >&2; rm -rf "$tmp"; exit 1; fi; '
        'echo "taking over $lock from a run that has gone: $(cat "$lock/holder" 2>/dev/null)" >&2; '
        'rm -rf "$lock"; done )'
    )


def guarded(holder, *bits):
    """A ``StringCommand`` of ``bits`` run only once this session holds the lock for
    ``holder``; as it is without a holder (the lock is the caller's choice)."""
    return StringCommand(acquire(holder), "&&", *bits) if holder else StringCommand(*bits)
