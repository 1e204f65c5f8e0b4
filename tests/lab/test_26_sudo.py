"""Deploys as a non-root SSH user with sudo, as real servers are reached: ``ops`` (sudo
without a password) and ``opspw`` (sudo with a password), both with ``--sudo`` on the
command line and ``_sudo`` in data, the password in data (``_sudo_password``) or
answered at pyinfra's prompt (``--use-sudo-password``). A config change uploads
harbor.yml on its command's stdin through the private staging directory; the client logs
in; configure and status read; a backup is copied to the controller, restored from
that copy (uploaded) and logs fetched, never through a file another user could read.
``opspw``'s login shell is wrapped to log every command line sshd hands it: the sudo
password is in none of them."""

import json
import os
import subprocess

import pytest

from tests.conftest import ROOT
from tests.lab.conftest import PYINFRA, host_exec

# A login shell that logs each command line (what every process of the session sees
# first) before running it with bash.
LOGGING_SHELL = """#!/bin/sh
printf '%s\\n' "$*" >> /var/log/hd-login-commands
exec /bin/bash "$@"
"""
INVENTORY = """
import runpy
from pathlib import Path

_lab = runpy.run_path(LAB_INVENTORY)
_user, _sudo_in_data, _password_in_data = ARGS
_extra = {"ssh_user": _user}
if _sudo_in_data:
    _extra["_sudo"] = True
if _password_in_data:
    _extra["_sudo_password"] = Path(_lab["_state"]["sudo_password_file"]).read_text().strip()
harbor_servers = [(name, {**data, **_extra}) for name, data in _lab["harbor_servers"]]
docker_clients = [(name, {**data, **_extra}) for name, data in _lab["docker_clients"]]
"""


@pytest.fixture(scope="module")
def sudo_password(lab):
    return open(lab["sudo_password_file"]).read().strip()


@pytest.fixture
def as_user(tmp_path):
    def inventory(user, sudo_in_data=False, password_in_data=False):
        path = tmp_path / f"{user}-{sudo_in_data}-{password_in_data}.py"
        path.write_text(
            INVENTORY.replace("LAB_INVENTORY", repr(str(ROOT / "inventories" / "lab.py"))).replace(
                "ARGS", repr((user, sudo_in_data, password_in_data))
            )
        )
        return path

    return inventory


@pytest.fixture
def sampled(harbor_server):
    """Logs every command line sshd gives ``opspw``'s login shell from now on; call it
    to get them. The usual shell is back afterwards."""
    container = harbor_server["container"]
    subprocess.run(
        [
            "docker",
            "exec",
            "-i",
            container,
            "sh",
            "-c",
            "cat > /usr/local/bin/hd-logging-shell && chmod 755 /usr/local/bin/hd-logging-shell",
        ],
        input=LOGGING_SHELL,
        text=True,
        check=True,
    )
    host_exec(
        container,
        "install -m 0622 /dev/null /var/log/hd-login-commands && " "usermod -s /usr/local/bin/hd-logging-shell opspw",
    )
    yield lambda: host_exec(container, "cat /var/log/hd-login-commands").splitlines()
    host_exec(container, "usermod -s /bin/bash opspw; rm -f /var/log/hd-login-commands /usr/local/bin/hd-logging-shell")


def deploy(inventory, entry, *args, stdin=None, env=None):
    run = subprocess.run(
        [PYINFRA, "-y", "--json", *args, str(inventory), str(ROOT / "deploys" / entry)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        start_new_session=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)["results"]


def harbor_yml_state(container):
    return host_exec(
        container, "stat -c '%U %a' /usr/local/harbor/harbor.yml; " "ls -a /usr/local/harbor | grep -c staging || true"
    )


def test_a_config_change_as_ops_with_sudo_on_the_command_line(harbor_server, as_user):
    results = deploy(as_user("ops"), "server.py", "--sudo", "--limit", "harbor-1", "--data", "harbor_log_level=warning")
    assert results["totals"]["error"] == 0 and results["totals"]["success"] >= 2
    container = harbor_server["container"]
    assert "level: warning" in host_exec(container, "cat /usr/local/harbor/harbor.yml")
    assert harbor_yml_state(container) == "root 600\n0"


def test_back_as_opspw_with_sudo_and_its_password_in_data_never_on_a_command_line(
    harbor_server, as_user, sampled, sudo_password
):
    results = deploy(as_user("opspw", sudo_in_data=True, password_in_data=True), "server.py", "--limit", "harbor-1")
    assert results["totals"]["error"] == 0 and results["totals"]["success"] >= 2
    container = harbor_server["container"]
    assert "level: info" in host_exec(container, "cat /usr/local/harbor/harbor.yml")
    assert harbor_yml_state(container) == "root 600\n0"
    lines = sampled()
    assert any("harbor-deploy-askpass" in line for line in lines)  # sudo ran with the helper
    assert not [line for line in lines if sudo_password in line]
    assert host_exec(container, "ls /tmp | grep -c harbor-deploy-askpass || true") == "0"  # removed


def test_clients_as_ops_with_sudo_in_data_log_in(harbor_server, as_user, lab):
    client = next(h for h in lab["hosts"] if h["group"] == "docker_clients")
    results = deploy(
        as_user("ops", sudo_in_data=True),
        "client.py",
        "--limit",
        client["name"],
        "--data",
        "harbor_client_username=admin",
        env={"HARBOR_CLIENT_PASSWORD": harbor_server["admin_password"]().reveal()},
    )
    assert results["totals"]["error"] == 0
    config = host_exec(client["container"], "cat /root/.docker/config.json")
    assert harbor_server["registry"] in json.loads(config)["auths"]


def test_configure_and_status_as_opspw_answering_the_sudo_prompt(harbor_server, as_user, sampled, sudo_password):
    inventory = as_user("opspw")
    status = subprocess.run(
        [
            PYINFRA,
            "-y",
            "--sudo",
            "--use-sudo-password",
            str(inventory),
            str(ROOT / "deploys" / "status.py"),
            "--limit",
            "harbor-1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=sudo_password + "\n",
        start_new_session=True,
        check=False,
    )
    output = status.stdout + status.stderr
    assert status.returncode == 0, output
    line = next(line.strip() for line in output.splitlines() if line.strip().startswith("harbor-status harbor-1 "))
    assert json.loads(line.split(" ", 2)[2])["health"] == "healthy"
    configure = deploy(
        inventory, "configure.py", "--sudo", "--use-sudo-password", "--limit", "harbor-1", stdin=sudo_password + "\n"
    )
    assert configure["totals"]["error"] == 0
    assert sudo_password not in output
    assert not [line for line in sampled() if sudo_password in line]


def test_backup_restore_and_logs_as_opspw_never_through_a_readable_copy(
    harbor_server, as_user, sampled, sudo_password, tmp_path
):
    inventory = as_user("opspw", sudo_in_data=True, password_in_data=True)
    fetch_dir = f"harbor_backup_fetch_dir={tmp_path / 'backups'}"
    backup = deploy(inventory, "backup.py", "--limit", "harbor-1", "--data", fetch_dir)
    assert backup["totals"]["error"] == 0
    [copy] = list((tmp_path / "backups" / "harbor-1").iterdir())
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=copy, check=True)
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for path in copy.iterdir())
    # The server lacks it now: the restore uploads the controller copy.
    container = harbor_server["container"]
    host_exec(container, f"rm -rf /var/backups/harbor-deploy/{copy.name}")
    restore = deploy(
        inventory,
        "restore.py",
        "--limit",
        "harbor-1",
        "--data",
        fetch_dir,
        "--data",
        f"harbor_restore_from={copy.name}",
        "--data",
        f"harbor_restore_hostname={harbor_server['hostname']}",
    )
    assert restore["totals"]["error"] == 0
    assert (
        host_exec(
            container,
            f"cd /var/backups/harbor-deploy/{copy.name} && sha256sum -c --quiet SHA256SUMS && "
            "stat -c %a registry.pgdump",
        )
        == "600"
    )
    logs = deploy(inventory, "logs.py", "--limit", "harbor-1", "--data", f"harbor_logs_dir={tmp_path / 'logs'}")
    assert logs["totals"]["error"] == 0
    assert (tmp_path / "logs" / "harbor-1" / "core.log").stat().st_size > 0
    lines = sampled()
    # pyinfra's own transfers under sudo copy through a file anyone can read ("chmod +r").
    assert not [line for line in lines if "chmod +r" in line or sudo_password in line]
    assert any(".harbor-deploy-transfer" in line for line in lines)
    assert host_exec(container, "ls -A ~opspw/.harbor-deploy-transfer") == ""
