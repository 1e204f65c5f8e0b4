"""
Large uploads (the offline installer bundle) at OpenSSH's speed: streamed through the
controller's ``ssh`` when the host is reached over SSH with a key or the agent, the
host hashing the bytes as they land; else (and when ``ssh`` fails) through pyinfra's
own SFTP, the host hashing the file afterwards.
"""

import shlex
import shutil
import subprocess

from pyinfra import logger
from pyinfra.api import FunctionCommand
from pyinfra.connectors.ssh import SSHConnector

RECEIVED_SUFFIX = ".received-sha256"
# The tag of the line a streamed upload leaves in the host's log.
UPLOAD_LOG_TAG = "harbor-deploy-upload"


def received_sha256(dest):
    """Where the host keeps the sha256 of the bytes it received as ``dest`` (the
    ``sha256sum`` line), beside it in the staging directory."""
    return f"{dest}{RECEIVED_SUFFIX}"


# OpenSSH prefers chacha20-poly1305, fast in software; with AES instructions AES-GCM
# moves the same bytes for less CPU at both ends (the lab's 108 MB bundle: about
# 0.7 s against 0.95 s). "^" puts them at the head of ssh's own list (OpenSSH 8.0+;
# an older ssh refuses the option and the upload goes by SFTP).
PREFER_AES_GCM = "Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com"


def cpu_has_aes(cpuinfo="/proc/cpuinfo"):
    """Whether this controller's CPU has AES instructions (the ``aes`` flag x86 and
    ARM kernels list); False where there is no such list."""
    try:
        with open(cpuinfo) as info:
            lines = info.read().splitlines()
    except OSError:
        return False
    return any(
        key.strip() in ("flags", "Features") and "aes" in values.split()
        for key, _, values in (line.partition(":") for line in lines)
    )


def ssh_command(data, name, ssh="ssh", aes=None):
    """The ``ssh`` argv reaching the host as pyinfra's SSH connector does (``data``: its
    connector data, ``name``: the host's name), up to the destination; None when
    ``ssh`` could not do it unattended and alike: a password, a key with a passphrase
    (pyinfra asks or reads those itself) or paramiko's own connect arguments. With
    ``aes`` (default: ``cpu_has_aes()``), AES-GCM is preferred (``PREFER_AES_GCM``)."""
    if data["ssh_password"] or data["ssh_key_password"] or data["ssh_paramiko_connect_kwargs"]:
        return None
    argv = [ssh, "-q", "-T", "-o", "BatchMode=yes"]
    if cpu_has_aes() if aes is None else aes:
        argv += ["-o", PREFER_AES_GCM]
    if data["ssh_config_file"]:
        argv += ["-F", data["ssh_config_file"]]
    if data["ssh_known_hosts_file"]:
        argv += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    if data["ssh_strict_host_key_checking"]:
        argv += ["-o", f"StrictHostKeyChecking={data['ssh_strict_host_key_checking']}"]
    if data["ssh_port"]:
        argv += ["-p", str(data["ssh_port"])]
    if data["ssh_key"]:
        argv += ["-i", data["ssh_key"], "-o", "IdentitiesOnly=yes"]
    elif not data["ssh_allow_agent"]:
        argv += ["-o", "IdentityAgent=none"]
    user = f"{data['ssh_user']}@" if data["ssh_user"] else ""
    return [*argv, "--", f"{user}{data['ssh_hostname'] or name}"]


def receive_command(dest):
    """The host's side of a stream: the bytes written to ``dest`` and hashed as they
    pass, by ``openssl`` when there, else ``sha256sum`` (the file removed when it
    cannot be written whole, so no sum stands for it), then one line in the host's log
    saying how many arrived, as sftp-server logs the bytes of each file it writes."""
    quoted = shlex.quote(dest)
    # OpenSSL's sha256 uses the CPU's SHA instructions (about 5x sha256sum's speed here).
    script = (
        'if command -v openssl >/dev/null 2>&1; then hash="openssl dgst -sha256 -r"; else hash=sha256sum; fi; '
        f"(tee {quoted} || rm -f {quoted}) | $hash > {shlex.quote(received_sha256(dest))} && "
        f'{{ logger -t {UPLOAD_LOG_TAG} "received $(stat -c %s {quoted}) bytes into "{quoted} 2>/dev/null || true; }}'
    )
    return f"sh -c {shlex.quote(script)}"


def send_large_file(state, host, src, dest, connector_arguments):
    ssh = shutil.which("ssh")
    argv = isinstance(host.connector, SSHConnector) and ssh and ssh_command(host.connector.data, host.name)
    if argv:
        with open(src, "rb") as stream:
            result = subprocess.run(
                [*argv, receive_command(dest)], stdin=stream, capture_output=True, text=True, check=False
            )
        if result.returncode == 0:
            return True
        logger.warning(f"{host.name}: streaming {src} through ssh failed ({result.stderr.strip()}); sending it by SFTP")
    return host.put_file(src, dest, remote_temp_filename=dest, **connector_arguments)


def large_file(src, dest, **connector_arguments):
    """A command sending the local file ``src`` to ``dest`` on the host (a path the
    login user may write), at OpenSSH's speed where it can: streamed through ``ssh``
    with the SSH connector's settings, the sha256 of what arrived written to
    ``received_sha256(dest)``; else pyinfra's SFTP, without that sum (the caller hashes
    the file when it is missing). ``connector_arguments`` go to the SFTP upload
    (``AS_LOGIN_USER``: no sudo hop)."""
    return FunctionCommand(send_large_file, (src, dest, connector_arguments), {})
