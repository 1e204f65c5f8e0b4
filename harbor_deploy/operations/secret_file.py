"""
Files that hold secrets (harbor.yml, private keys, passwords): uploaded to a host, or
kept on the controller, without leaking them.
"""

import base64
import hashlib
import posixpath
import shlex
from pathlib import Path

from pyinfra import host, logger, state
from pyinfra.api import (
    FileDownloadCommand,
    FileUploadCommand,
    FunctionCommand,
    QuoteString,
    StringCommand,
    operation,
)
from pyinfra.operations.util.files import generate_color_diff

from harbor_deploy.facts.files import FileStates, PrivateFiles
from harbor_deploy.facts.quiet import quiet_fact
from harbor_deploy.lib.config.secrets import Secret, write_private_files_as_read
from harbor_deploy.operations.deploy_lock import guarded
from harbor_deploy.operations.session import when_session_ends

# Connector arguments of an upload made as the login user (no sudo/su/doas hop): files
# go straight into a staging directory that user owns, never through /tmp.
AS_LOGIN_USER = {"_sudo": False, "_doas": False, "_dzdo": False, "_su_user": None}
STAGING = ".harbor-deploy-staging"
# Beside a file ``put`` replaces with ``keep_original``: the file as it was first found.
ORIGINAL_SUFFIX = ".harbor-deploy-orig"
# Where large secret files pass between the controller and a host: a 0700 directory in
# the login user's home (SFTP's starting directory), as the destination or source may
# sit in a directory only root can enter.
TRANSFER = ".harbor-deploy-transfer"
# The login user's home, from a shell run as root through sudo.
_LOGIN_HOME = 'home=$(getent passwd "${SUDO_USER:-$(id -un)}" | cut -d: -f6)'


def public(text):
    """The ``mask`` of a file with nothing secret in it: ``--diff`` shows it whole."""
    return text


@operation()
def put(
    dest, content, mode="0600", mask=None, known_files=None, lock_holder=None, owner="root:root", keep_original=False
):
    """
    Upload ``content`` to ``dest`` only when the remote file differs.

    + dest: remote file path (missing parent directories are created, mode 0755)
    + content: the file's text or bytes (never printed)
    + mode: octal permissions, applied before the file appears at ``dest``
    + owner: ``user:group`` of the file (names, or ids for a user without a name on the
      host), set before it appears at ``dest`` (a service reading its own configuration:
      ``root:redis`` or ``redis:redis`` with mode 0640)
    + mask: a function masking the secret values of such a file's text, for ``--diff``
      (applied to the new content and to the file on the host, read without printing);
      without it the diff only says the content changed; ``public`` shows it whole
    + known_files: the ``FileStates`` fact holding ``dest``, when the caller read it
      already (a missing ``dest`` is a missing file); read here otherwise
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder
      before changing anything
    + keep_original: before ``dest`` is first replaced (a file of the distribution's
      package: ``pg_hba.conf``, ``haproxy.cfg``), copy it to ``<dest>.harbor-deploy-orig``;
      that copy is never overwritten later

    Unlike ``files.put``, the content travels on one command's stdin (never on a
    command line, never through /tmp, under ``--sudo`` too) into a private (0700)
    staging directory next to ``dest``; it gets its owner and mode before it is moved
    into place, so the file is never readable by others, and ``--diff`` never shows
    a secret value. One round trip, no SFTP session. What a dropped connection leaves
    staged is removed once the run's session has ended (``session.when_session_ends``).

    **Example:**

    .. code:: python

        secret_file.put(
            name="Upload harbor.yml",
            dest="/usr/local/harbor/harbor.yml",
            content=rendered,
            mask=harbor_yml.masked,
        )
    """
    data = content.encode() if isinstance(content, str) else content
    if known_files is None:
        known_files = host.get_fact(FileStates, paths=(dest,))
    current = known_files.get(dest)
    if current and current["sha256"] == hashlib.sha256(data).hexdigest():
        if owner not in (f"{current['user']}:{current['group']}", f"{current['uid']}:{current['gid']}"):
            yield guarded(lock_holder, "chown", QuoteString(owner), QuoteString(dest))
            yield StringCommand("chmod", mode, QuoteString(dest))
        elif current["mode"] != mode[-3:].lstrip("0"):
            yield guarded(lock_holder, "chmod", mode, QuoteString(dest))
        else:
            host.noop(f"{dest} is up to date")
        return

    if state.config.DIFF:
        host.log(f"Will {'modify' if current else 'create'} {dest}", logger.info)
        if mask is None:
            logger.info("  (content holds secrets: diff not shown)")
        else:
            on_host = quiet_fact(PrivateFiles, paths=(dest,))["files"].get(dest)
            old = mask(on_host.decode(errors="replace")).splitlines(keepends=True) if on_host else []
            new = mask(data.decode(errors="replace")).splitlines(keepends=True)
            for line in generate_color_diff(old, new):
                logger.info("  %s", line)
        logger.info("")

    staging = posixpath.join(posixpath.dirname(dest), STAGING)
    # One command: the content arrives on its stdin (base64: pyinfra sends text lines)
    # into a 0700 staging directory, gets its owner and mode, then moves into place;
    # what a dropped connection leaves staged is removed when the session ends. The
    # staged name carries the command's own PID: the watcher of a run that ended a
    # moment ago removes only what that run staged, never what this one stages under
    # the same name (two runs writing one file within the watcher's poll). The
    # original is kept as the file moves in: a package the same run installed may
    # have put it there after the run read the host.
    staged = shlex.quote(posixpath.join(staging, posixpath.basename(dest))) + ".$$"
    original, target = QuoteString(dest + ORIGINAL_SUFFIX), QuoteString(dest)
    keep = ["{", "[", "-e", original, "]", "||", "[", "!", "-e", target, "]", "||", "cp", "-p", target, original]
    yield guarded(
        lock_holder,
        "install", "-d", "-m", "0700", QuoteString(staging),
        "&&", f"staged={staged}",
        "&&", when_session_ends('rm -f "$staged"'),
        "&&", "base64", "-d", ">", '"$staged"',
        "&&", "chown", QuoteString(owner), '"$staged"',
        "&&", "chmod", mode, '"$staged"',
        *(["&&", *keep, ";", "}"] if keep_original else []),
        "&&", "mv", "-f", '"$staged"', QuoteString(dest),
        # Another run may be staging beside this one: the directory goes with the last.
        "&&", "{", "rmdir", QuoteString(staging), "2>/dev/null", "||", "true;", "}",
        _stdin=base64.encodebytes(data).decode(),
    )  # fmt: skip


@operation()
def keep(directory, files, why, as_read=None):
    """
    Keep files on the controller, in a private directory (0700, files 0600, written
    atomically), when this operation runs: planning and ``--dry`` write nothing. When
    one is no longer as the run read it (another run of this controller kept another
    value meanwhile: two fresh installs at once), nothing is written and this host
    fails, before it changes: the run that wrote it first decides.

    + directory: controller directory (created 0700)
    + files: ``{name: bytes | str | Secret | None}``; names may hold one subdirectory
      level; None removes the file (what the data no longer asks for)
    + why: ``{name: reason}`` printed with the names, e.g. "recovered from the server"
    + as_read: ``{name: bytes}`` of the files that existed when the run read them (a
      renewed certificate replaces one); every other one was absent

    **Example:**

    .. code:: python

        secret_file.keep(
            name="Keep Harbor's secrets on the controller",
            directory="/home/me/.secrets/harbor.example.org",
            files={"db_password": secret},
            why={"db_password": "recovered from the server"},
        )
    """
    if not files:
        host.noop(f"every secret is already kept in {directory}")
        return
    for name in sorted(files):
        logger.info(f"{host.print_prefix}controller secrets: {name} {why.get(name, '')} -> {directory}")
    yield FunctionCommand(_write_all, (Path(directory), files, as_read or {}), {})


def _write_all(state, host, directory, files, as_read):
    values = {name: value.reveal() if isinstance(value, Secret) else value for name, value in files.items()}
    changed = write_private_files_as_read(
        directory,
        {name: text.encode() if isinstance(text, str) else text for name, text in values.items()},
        as_read,
    )
    if changed:
        host.log_styled(
            f"controller secrets: {', '.join(changed)} in {directory} changed since this run read them (another run "
            "at the same time?); nothing was changed here: run again",
            fg="red",
            log_func=logger.error,
        )
    return not changed


@operation(is_idempotent=False)
def upload(src, dest, mode="0600", lock_holder=None):
    """
    Upload the local file ``src`` (a database dump, an archive: too large to hold in
    memory) to ``dest``, every time, never readable by another user on the way.

    + src: local file path
    + dest: remote file path (missing directories are created, mode 0700)
    + mode: octal permissions, applied before the file appears at ``dest``
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    The login user uploads into ``~/.harbor-deploy-transfer`` (0700), under ``--sudo``
    too; the file is then owned by root, given its mode and moved to ``dest``. Unlike
    ``files.put`` under sudo, no copy passes through a readable temporary file; a copy
    a dropped connection leaves there is removed when the session ends.

    **Example:**

    .. code:: python

        secret_file.upload(
            name="Upload the database dump",
            src="/home/me/harbor-backups/harbor-1/harbor-20261128T000000Z-v2.13.1/registry.pgdump",
            dest="/var/backups/harbor-deploy/harbor-20261128T000000Z-v2.13.1/registry.pgdump",
        )
    """
    staged = posixpath.join(TRANSFER, posixpath.basename(dest))
    if lock_holder:  # before anything lands on the host, not after
        yield guarded(lock_holder, "true")
    yield StringCommand(
        f'mkdir -p "$HOME"/{TRANSFER} && chmod 0700 "$HOME"/{TRANSFER} && '
        + when_session_ends(f'rm -f "$HOME"/{shlex.quote(staged)}'),
        **AS_LOGIN_USER,
    )
    yield FileUploadCommand(src, staged, remote_temp_filename=staged, **AS_LOGIN_USER)
    yield guarded(
        lock_holder,
        f'{_LOGIN_HOME} && staged="$home"/{shlex.quote(staged)} && '
        f"(umask 077 && mkdir -p {shlex.quote(posixpath.dirname(dest))}) && "
        f'chown root:root "$staged" && chmod {mode} "$staged" && mv -f "$staged" {shlex.quote(dest)}',
    )


@operation(is_idempotent=False)
def fetch(src, dest):
    """
    Download the remote file ``src`` to the local ``dest``, every time, never readable
    by another user of the host on the way.

    + src: remote file path, readable by root only (a backup's dump)
    + dest: local file path (its directory must exist; make it private)

    The file is copied, owned by the login user and mode 0600, into
    ``~/.harbor-deploy-transfer`` (0700), which that user downloads and removes (or,
    when the connection drops, a watcher once the session has ended); ``files.get``
    under sudo would copy it to a temporary file anyone can read.

    **Example:**

    .. code:: python

        secret_file.fetch(
            name="Copy the database dump to the controller",
            src="/var/backups/harbor-deploy/harbor-20261128T000000Z-v2.13.1/registry.pgdump",
            dest="/home/me/harbor-backups/harbor-1/harbor-20261128T000000Z-v2.13.1/registry.pgdump",
        )
    """
    staged = posixpath.join(TRANSFER, posixpath.basename(src))
    yield StringCommand(
        f'{_LOGIN_HOME} && user="${{SUDO_USER:-$(id -un)}}" && install -d -m 0700 -o "$user" "$home"/{TRANSFER} && '
        + when_session_ends(f'rm -f "$home"/{shlex.quote(staged)}')
        + f' && install -m 0600 -o "$user" {shlex.quote(src)} "$home"/{shlex.quote(staged)}'
    )
    yield FileDownloadCommand(staged, dest, **AS_LOGIN_USER)
    yield StringCommand(f'rm -f "$HOME"/{shlex.quote(staged)}', **AS_LOGIN_USER)
