"""
Upload files that hold secrets (harbor.yml, private keys) without leaking them.
"""

import hashlib
import posixpath
from io import StringIO

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations.util.files import generate_color_diff

from facts.harbor import MaskedFileContents


@operation()
def put(dest, content, mode="0600", masked=None):
    """
    Upload ``content`` to ``dest`` only when the remote file differs.

    + dest: remote file path
    + content: the file's text (a str; it is never printed)
    + mode: octal permissions, applied before the file appears at ``dest``
    + masked: ``content`` with secret values masked, for ``--diff``; without it the
      diff only says the content changed

    Unlike ``files.put``, the upload lands in a private (0700) staging directory
    next to ``dest`` and gets its mode before it is moved into place, so the file is
    never readable by others, and ``--diff`` never shows a secret value.

    **Example:**

    .. code:: python

        secret_file.put(
            name="Upload harbor.yml",
            dest="/usr/local/harbor/harbor.yml",
            content=rendered,
            masked=harbor_yml.masked(rendered),
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
        if masked is None:
            logger.info("  (content holds secrets: diff not shown)")
        else:
            old = [line + "\n" for line in host.get_fact(MaskedFileContents, path=dest) or []]
            for line in generate_color_diff(old, masked.splitlines(keepends=True)):
                logger.info("  %s", line)
        logger.info("")

    staging = posixpath.join(posixpath.dirname(dest), ".harbor-deploy-staging")
    staged = posixpath.join(staging, posixpath.basename(dest))
    yield StringCommand("install", "-d", "-m", "0700", QuoteString(staging))
    yield FileUploadCommand(StringIO(content), staged,
                            remote_temp_filename=posixpath.join(staging, "upload.tmp"))
    yield StringCommand("chmod", mode, QuoteString(staged), "&&", "mv", "-f", QuoteString(staged),
                        QuoteString(dest), "&&", "rmdir", QuoteString(staging))
