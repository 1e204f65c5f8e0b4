"""upload.large_file: the bundle is streamed through the controller's ssh with the SSH
connector's settings, the host writing it and hashing the bytes as they land; pyinfra's
SFTP when ssh cannot do it alike or fails, and wherever another connector reaches the
host."""

import hashlib
import subprocess
from types import SimpleNamespace

from pyinfra.connectors.ssh import SSHConnector, connector_data_meta

from harbor_deploy.operations import upload
from harbor_deploy.operations.secret_file import AS_LOGIN_USER

DEST = "/var/cache/harbor-deploy/.harbor-deploy-staging/harbor-offline-installer-v2.13.1.tgz"
SRC = "/home/me/.cache/harbor-offline-installer-v2.13.1.tgz"


def connector_data(**given):
    """Connector data as pyinfra fills it: every key, its default unless given."""
    return {key: given.get(key, meta.default) for key, meta in connector_data_meta.items()}


LAB = connector_data(
    ssh_hostname="127.0.0.1",
    ssh_port=2201,
    ssh_user="root",
    ssh_key="/lab/id_ed25519",
    ssh_known_hosts_file="/lab/known_hosts",
    ssh_strict_host_key_checking="yes",
    ssh_allow_agent=False,
)


def test_ssh_reaches_the_host_as_pyinfra_does():
    assert upload.ssh_command(LAB, "harbor-1", aes=False) == [
        "ssh", "-q", "-T", "-o", "BatchMode=yes",
        "-o", "UserKnownHostsFile=/lab/known_hosts",
        "-o", "StrictHostKeyChecking=yes",
        "-p", "2201",
        "-i", "/lab/id_ed25519", "-o", "IdentitiesOnly=yes",
        "--", "root@127.0.0.1",
    ]  # fmt: skip


def test_defaults_the_host_name_an_ssh_config_and_the_agent():
    argv = upload.ssh_command(connector_data(ssh_config_file="/me/ssh_config"), "h.example", aes=False)
    assert argv == [
        "ssh", "-q", "-T", "-o", "BatchMode=yes", "-F", "/me/ssh_config",
        "-o", "StrictHostKeyChecking=accept-new", "--", "h.example",
    ]  # fmt: skip
    no_agent = upload.ssh_command(connector_data(ssh_allow_agent=False), "h.example", aes=False)
    assert no_agent[7:9] == ["-o", "IdentityAgent=none"]
    assert upload.ssh_command(connector_data(ssh_hostname="fd00::5"), "x")[-1] == "fd00::5"


def test_aes_gcm_goes_first_where_the_cpu_has_aes_instructions(tmp_path):
    assert upload.ssh_command(LAB, "harbor-1", aes=True)[5:7] == ["-o", upload.PREFER_AES_GCM]
    x86, arm, none = (tmp_path / name for name in ("x86", "arm", "none"))
    x86.write_text("processor\t: 0\nflags\t\t: fpu sse2 aes avx sha_ni\n")
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd aes pmull sha1\n")
    none.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\nmodel name\t: aes-less\n")
    assert upload.cpu_has_aes(x86) and upload.cpu_has_aes(arm)
    assert not upload.cpu_has_aes(none) and not upload.cpu_has_aes(tmp_path / "missing")


def test_the_lab_s_ssh_takes_the_preference():
    """This machine's OpenSSH accepts the option as written (it refuses a bad one)."""
    check = ["ssh", "-G", "-o", upload.PREFER_AES_GCM, "example.invalid"]
    config = subprocess.run(check, capture_output=True, text=True, check=True).stdout
    assert "ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com," in config
    refused = subprocess.run(["ssh", "-G", "-o", "Ciphers=^no-such-cipher", "x"], capture_output=True, check=False)
    assert refused.returncode != 0


def test_what_ssh_cannot_do_unattended_or_alike_is_left_to_sftp():
    for given in ({"ssh_password": "pw"}, {"ssh_key_password": "pw"}, {"ssh_paramiko_connect_kwargs": {"sock": 1}}):
        assert upload.ssh_command(connector_data(**given), "h") is None, given


def test_the_host_writes_the_stream_and_the_sum_of_what_arrived(tmp_path):
    dest = tmp_path / "staging dir" / "it's.tgz"
    dest.parent.mkdir()
    data = b"bundle bytes\n" * 1000
    subprocess.run(["sh", "-c", upload.receive_command(str(dest))], input=data, check=True)
    assert dest.read_bytes() == data
    received = (tmp_path / "staging dir" / "it's.tgz.received-sha256").read_text()
    assert received.split()[0] == hashlib.sha256(data).hexdigest()


def test_without_openssl_sha256sum_takes_the_sum(tmp_path):
    dest = tmp_path / "bundle.tgz"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "tee", "rm", "sha256sum", "stat"):
        (bin_dir / tool).symlink_to(
            subprocess.run(
                ["sh", "-c", f"command -v {tool}"], capture_output=True, text=True, check=False
            ).stdout.strip()
        )
    subprocess.run(
        ["/bin/sh", "-c", upload.receive_command(str(dest))], input=b"data", check=True, env={"PATH": str(bin_dir)}
    )
    assert (tmp_path / "bundle.tgz.received-sha256").read_text().split()[0] == hashlib.sha256(b"data").hexdigest()


def test_a_stream_the_host_cannot_write_leaves_no_file(tmp_path):
    dest = tmp_path / "staging" / "bundle.tgz"
    dest.parent.mkdir()
    dest.mkdir()  # tee cannot open it
    subprocess.run(["sh", "-c", upload.receive_command(str(dest))], input=b"x", check=False)
    assert not dest.is_file()


class FakeHost:
    def __init__(self, connector):
        self.name, self.connector, self.sent = "harbor-1", connector, []

    def put_file(self, src, dest, **arguments):
        self.sent.append((src, dest, arguments))
        return True


def ssh_connector(data):
    connector = SSHConnector.__new__(SSHConnector)
    connector.data = data
    return connector


def ssh_on_path(tmp_path, monkeypatch, exit_code):
    """A stand-in ssh recording its argv and what it was sent."""
    ssh = tmp_path / "ssh"
    ssh.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/ssh.args\n/bin/cat > {tmp_path}/ssh.stdin\n'
        f'echo "ssh: failed" >&2\nexit {exit_code}\n'
    )
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path / "ssh.args"


def send(host, src=SRC):
    command = upload.large_file(src, DEST, **AS_LOGIN_USER)
    return command.function(None, host, *command.args, **command.kwargs)


def test_ssh_streams_it_and_sftp_is_not_used(tmp_path, monkeypatch):
    src = tmp_path / "bundle.tgz"
    src.write_bytes(b"bundle")
    args = ssh_on_path(tmp_path, monkeypatch, 0)
    host = FakeHost(ssh_connector(LAB))
    assert send(host, str(src)) is True
    assert args.read_text().splitlines() == [*upload.ssh_command(LAB, "harbor-1")[1:], upload.receive_command(DEST)]
    assert (tmp_path / "ssh.stdin").read_bytes() == b"bundle"
    assert host.sent == []


def test_a_failing_ssh_falls_back_to_sftp_as_the_login_user(tmp_path, monkeypatch):
    src = tmp_path / "bundle.tgz"
    src.write_bytes(b"bundle")
    ssh_on_path(tmp_path, monkeypatch, 255)
    host = FakeHost(ssh_connector(LAB))
    assert send(host, str(src)) is True
    assert host.sent == [(str(src), DEST, {"remote_temp_filename": DEST, **AS_LOGIN_USER})]


def test_no_ssh_is_sftp(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ssh here
    host = FakeHost(ssh_connector(LAB))
    assert send(host) is True
    assert len(host.sent) == 1


def test_another_connector_is_sftp(tmp_path, monkeypatch):
    args = ssh_on_path(tmp_path, monkeypatch, 0)
    host = FakeHost(SimpleNamespace(data=LAB))  # e.g. @docker, @local
    assert send(host) is True
    assert len(host.sent) == 1 and not args.exists()
