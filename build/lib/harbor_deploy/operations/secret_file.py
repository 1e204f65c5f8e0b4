"""
Files that hold secrets (harbor.yml, private keys, passwords): uploaded to a host, or
kept on the controller, without leaking them.
"""

import hashlib
import posixpath
from io import StringIO
from pathlib import Path

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations.util.files import generate_color_diff

from harbor_deploy.facts.files import PrivateFiles
from harbor_deploy.facts.quiet import quiet_fact
from harbor_deploy.lib.secrets import Secret, write_private_file


@operation()
def put(dest, content, mode="0600", mask=None):
    """
    Upload ``content`` to ``dest`` only when the remote file differs.

    + dest: remote file path
    + content: the file's text (a str; it is never printed)
    + mode: octal permissions, applied before the file appears at ``dest``
    + mask: a function masking the secret values of such a file's text, for ``--diff``
      (applied to the new content and to the file on the host, read without printing);
      without it the diff only says the content changed

    Unlike ``files.put``, the upload lands in a private (0700) staging directory
    next to ``dest``, owned by the login user so it works under ``--sudo``, and gets
    its mode before it is moved into place, so the file is never readable by others,
    and ``--diff`` never shows a secret value.

    **Example:**

    .. code:: python

        secret_file.put(
            name="Upload harbor.yml",
            dest="/usr/local/harbor/harbor.yml",
            content=rendered,
            mask=harbor_yml.masked,
        )
    """
    current_sha256 = host.get_fact(Sha256File, path=dest)
    if current_sha256 == hashlib.sha256(content.encode()).hexdigest():
        current = host.get_fact(File, path=dest)
        if current and current["mode"] != int(mode[-3:]):
            yield StringCommand("chmod", mode, QuoteString(dest))
        else:
            host.noop(f"{dest} is up to date")
        return

    if state.config.DIFF:
        host.log(f"Will {'modify' if current_sha256 else 'create'} {dest}", logger.info)
        if mask is None:
            logger.info("  (content holds secrets: diff not shown)")
        else:
            current = quiet_fact(PrivateFiles, paths=(dest,))["files"].get(dest)
            old = mask(current.decode(errors="replace")).splitlines(keepends=True) if current else []
            for line in generate_color_diff(old, mask(content).splitlines(keepends=True)):
                logger.info("  %s", line)
        logger.info("")

    staging = posixpath.join(posixpath.dirname(dest), ".harbor-deploy-staging")
    staged = posixpath.join(staging, posixpath.basename(dest))
    # Owned by the login user (SUDO_USER under sudo): pyinfra uploads as that user and
    # copies into place with sudo. 0700 keeps the secret from everyone else meanwhile.
    yield StringCommand("install", "-d", "-m", "0700", "-o", '"${SUDO_USER:-$(id -un)}"', QuoteString(staging))
    yield FileUploadCommand(StringIO(content), staged, remote_temp_filename=posixpath.join(staging, "upload.tmp"))
    yield StringCommand(
        "chmod",
        mode,
        QuoteString(staged),
        "&&",
        "mv",
        "-f",
        QuoteString(staged),
        QuoteString(dest),
        "&&",
        "rmdir",
        QuoteString(staging),
    )


@operation()
def keep(directory, files, why):
    """
    Keep files on the controller, in a private directory (0700, files 0600, written
    atomically), when this operation runs: planning and ``--dry`` write nothing.

    + directory: controller directory (created 0700)
    + files: ``{name: bytes | str | Secret}``; names may hold one subdirectory level
    + why: ``{name: reason}`` printed with the names, e.g. "recovered from the server"

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
    yield FunctionCommand(_write_all, (Path(directory), files), {})


def _write_all(directory, files):
    for name, value in files.items():
        text = value.reveal() if isinstance(value, Secret) else value
        write_private_file(directory / name, text if isinstance(text, bytes) else text.encode())
