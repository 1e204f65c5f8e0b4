"""
Large uploads (the offline installer bundle) at OpenSSH's speed: through the
controller's ``scp`` when the host is reached over SSH with a key or the agent, else
(and when ``scp`` fails) through pyinfra's own SFTP.
"""

import re
import shutil
import subprocess

from pyinfra import logger
from pyinfra.api import FunctionCommand
from pyinfra.connectors.ssh import SSHConnector

# Paths scp passes on unchanged whichever protocol it speaks (its legacy one hands the
# remote path to a shell).
PLAIN_PATH = re.compile(r"^[A-Za-z0-9._/+-]+$")


def scp_command(data, name, src, dest, scp="scp"):
    """The ``scp`` argv copying ``src`` to ``dest`` as pyinfra's SSH connector reaches
    the host (``data``: its connector data, ``name``: the host's name), or None when
    ``scp`` could not do it unattended and alike: a password, a key with a passphrase
    (pyinfra asks or reads those itself), paramiko's own connect arguments, or a path a
    shell would change."""
    if (
        data["ssh_password"]
        or data["ssh_key_password"]
        or data["ssh_paramiko_connect_kwargs"]
        or not PLAIN_PATH.match(dest)
    ):
        return None
    hostname = data["ssh_hostname"] or name
    if ":" in hostname:
        hostname = f"[{hostname}]"
    argv = [scp, "-q", "-o", "BatchMode=yes"]
    if data["ssh_config_file"]:
        argv += ["-F", data["ssh_config_file"]]
    if data["ssh_known_hosts_file"]:
        argv += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    if data["ssh_strict_host_key_checking"]:
        argv += ["-o", f"StrictHostKeyChecking={data['ssh_strict_host_key_checking']}"]
    if data["ssh_port"]:
        argv += ["-P", str(data["ssh_port"])]
    if data["ssh_key"]:
        argv += ["-i", data["ssh_key"], "-o", "IdentitiesOnly=yes"]
    elif not data["ssh_allow_agent"]:
        argv += ["-o", "IdentityAgent=none"]
    user = f"{data['ssh_user']}@" if data["ssh_user"] else ""
    return [*argv, "--", src, f"{user}{hostname}:{dest}"]


def send_large_file(state, host, src, dest, connector_arguments):
    scp = shutil.which("scp")
    argv = isinstance(host.connector, SSHConnector) and scp and scp_command(host.connector.data, host.name, src, dest)
    if argv:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return True
        logger.warning(f"{host.name}: scp of {src} failed ({result.stderr.strip()}); sending it by SFTP")
    return host.put_file(src, dest, remote_temp_filename=dest, **connector_arguments)


def large_file(src, dest, **connector_arguments):
    """A command sending the local file ``src`` to ``dest`` on the host (a path the
    login user may write), at OpenSSH's speed where it can: ``scp`` with the SSH
    connector's settings, else pyinfra's SFTP. ``connector_arguments`` go to the SFTP
    upload (``AS_LOGIN_USER``: no sudo hop)."""
    return FunctionCommand(send_large_file, (src, dest, connector_arguments), {})
