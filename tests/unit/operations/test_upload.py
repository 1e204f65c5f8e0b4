"""upload.large_file: the bundle goes through the controller's scp with the SSH
connector's settings, falls back to pyinfra's SFTP when scp cannot do it alike or
fails, and never where another connector reaches the host."""

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


def test_scp_reaches_the_host_as_pyinfra_does():
    assert upload.scp_command(LAB, "harbor-1", SRC, DEST) == [
        "scp", "-q", "-o", "BatchMode=yes",
        "-o", "UserKnownHostsFile=/lab/known_hosts",
        "-o", "StrictHostKeyChecking=yes",
        "-P", "2201",
        "-i", "/lab/id_ed25519", "-o", "IdentitiesOnly=yes",
        "--", SRC, f"root@127.0.0.1:{DEST}",
    ]  # fmt: skip


def test_defaults_the_host_name_an_ssh_config_and_the_agent():
    argv = upload.scp_command(connector_data(ssh_config_file="/me/ssh_config"), "h.example", SRC, DEST)
    assert argv == [
        "scp", "-q", "-o", "BatchMode=yes", "-F", "/me/ssh_config",
        "-o", "StrictHostKeyChecking=accept-new", "--", SRC, f"h.example:{DEST}",
    ]  # fmt: skip
    no_agent = upload.scp_command(connector_data(ssh_allow_agent=False), "h.example", SRC, DEST)
    assert no_agent[6:8] == ["-o", "IdentityAgent=none"]


def test_an_ipv6_address_is_bracketed():
    assert upload.scp_command(connector_data(ssh_hostname="fd00::5"), "x", SRC, DEST)[-1] == f"[fd00::5]:{DEST}"


def test_what_scp_cannot_do_unattended_or_alike_is_left_to_sftp():
    for given in ({"ssh_password": "pw"}, {"ssh_key_password": "pw"}, {"ssh_paramiko_connect_kwargs": {"sock": 1}}):
        assert upload.scp_command(connector_data(**given), "h", SRC, DEST) is None, given
    assert upload.scp_command(LAB, "h", SRC, "/var/cache/my dir/bundle.tgz") is None
    assert upload.scp_command(LAB, "h", SRC, "/var/cache/$(x)/bundle.tgz") is None


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


def scp_on_path(tmp_path, monkeypatch, exit_code):
    scp = tmp_path / "scp"
    scp.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/scp.args\necho "scp: failed" >&2\nexit {exit_code}\n')
    scp.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path / "scp.args"


def send(host):
    command = upload.large_file(SRC, DEST, **AS_LOGIN_USER)
    return command.function(None, host, *command.args, **command.kwargs)


def test_scp_sends_it_and_sftp_is_not_used(tmp_path, monkeypatch):
    args = scp_on_path(tmp_path, monkeypatch, 0)
    host = FakeHost(ssh_connector(LAB))
    assert send(host) is True
    assert args.read_text().splitlines() == upload.scp_command(LAB, "harbor-1", SRC, DEST)[1:]
    assert host.sent == []


def test_a_failing_scp_falls_back_to_sftp_as_the_login_user(tmp_path, monkeypatch):
    scp_on_path(tmp_path, monkeypatch, 1)
    host = FakeHost(ssh_connector(LAB))
    assert send(host) is True
    assert host.sent == [(SRC, DEST, {"remote_temp_filename": DEST, **AS_LOGIN_USER})]


def test_no_scp_is_sftp(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no scp here
    host = FakeHost(ssh_connector(LAB))
    assert send(host) is True
    assert len(host.sent) == 1


def test_another_connector_is_sftp(tmp_path, monkeypatch):
    args = scp_on_path(tmp_path, monkeypatch, 0)
    host = FakeHost(SimpleNamespace(data=LAB))  # e.g. @docker, @local
    assert send(host) is True
    assert len(host.sent) == 1 and not args.exists()
