"""A sudo password that never appears on a remote command line.

pyinfra 3.10 hands a sudo password (``--sudo-password`` / ``_sudo_password``) to sudo
as ``env SUDO_ASKPASS=<helper> PYINFRA_SUDO_PASSWORD=<password> sudo -A ...``: the
remote login shell holds that command line, password included, for as long as the
command runs, and any local user of the host sees it in ``ps``. Here the askpass
helper itself carries the password: created with ``mktemp`` (0600, owned by the login
user), its content uploaded over SFTP, then made executable by that user only; the
commands name the helper and nothing else. pyinfra removes the helper when it
disconnects (its own askpass cleanup covers the cache key used here); when the
connection drops instead, a watcher started with the helper removes it once the
session has ended (``session.when_session_ends``).

Installed by ``install()``, which every packaged deploy calls as it starts
(``harbor_deploy.deploys.packaged``).
"""

import shlex
from io import BytesIO

from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.exceptions import PyinfraError
from pyinfra.connectors import chroot, docker, dockerssh, ssh, util

from harbor_deploy.operations.session import when_session_ends

_pyinfra_make_unix_command_for_host = util.make_unix_command_for_host
# pyinfra removes every askpass file cached under a key starting with this.
CACHE_KEY = "sudo_askpass_path__harbor_deploy"


def _askpass_helper(host, password):
    """The path of this host's private askpass helper, made on first use."""
    if host.connector_data.get(CACHE_KEY):
        return host.connector_data[CACHE_KEY]
    template = f"{host.get_temp_dir_config().rstrip('/')}/harbor-deploy-askpass-XXXXXXXXXXXX"
    remove = when_session_ends('rm -f "$helper"')
    made, output = host.run_shell_command(
        StringCommand(f'helper=$(mktemp {shlex.quote(template)}) && {remove} && echo "$helper"')
    )
    if not made or not output.stdout_lines:
        raise PyinfraError(f"cannot create a sudo askpass helper on {host.name}: {output.stderr}")
    path = output.stdout_lines[0]
    script = f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(password)}\n"
    if (
        not host.put_file(BytesIO(script.encode()), path)
        or not host.run_shell_command(StringCommand("chmod", "0700", QuoteString(path)))[0]
    ):
        raise PyinfraError(f"cannot write the sudo askpass helper on {host.name}")
    host.connector_data[CACHE_KEY] = path
    return path


def make_unix_command_for_host(state, host, command, **arguments):
    """pyinfra's command builder, with a sudo password passed through the private helper."""
    password = arguments.get("_sudo_password") or host.connector_data.get("prompted_sudo_password")
    if not arguments.get("_sudo") or not password:
        return _pyinfra_make_unix_command_for_host(state, host, command, **arguments)
    helper = _askpass_helper(host, password)
    inner = _pyinfra_make_unix_command_for_host(
        state, host, command, **{**arguments, "_sudo": False, "_sudo_password": ""}
    )
    sudo = ["env", StringCommand("SUDO_ASKPASS=", QuoteString(helper), _separator=""), "sudo", "-H", "-A", "-k"]
    if arguments.get("_use_sudo_login"):
        sudo.append("-i")
    if arguments.get("_preserve_sudo_env"):
        sudo.append("-E")
    if arguments.get("_sudo_user"):
        sudo += ["-u", QuoteString(arguments["_sudo_user"])]
    return StringCommand(*sudo, inner)


def install():
    """Make every connector build its commands with ``make_unix_command_for_host``
    (once per process; calling again changes nothing)."""
    for module in (util, ssh, docker, dockerssh, chroot):
        setattr(module, "make_unix_command_for_host", make_unix_command_for_host)  # noqa: B010
