"""A sudo password reaches sudo through a private askpass helper, never a command line."""

import subprocess

from pyinfra.connectors import ssh, util

from harbor_deploy.operations.session import when_session_ends
from harbor_deploy.stages import sudo_askpass

PASSWORD = "Sud0-pa'ss word"


class FakeOutput:
    def __init__(self, lines):
        self.stdout_lines, self.stderr = lines, ""


class FakeHost:
    name = "h"

    def __init__(self):
        self.connector_data, self.commands, self.uploads = {}, [], []

    def get_temp_dir_config(self):
        return "/tmp"

    def run_shell_command(self, command, **arguments):
        self.commands.append(command.get_raw_value())
        return True, FakeOutput(["/tmp/harbor-deploy-askpass-abc"])

    def put_file(self, data, path, **arguments):
        self.uploads.append((path, data.read().decode()))
        return True


def build(host, **arguments):
    from pyinfra.api import StringCommand

    return sudo_askpass.make_unix_command_for_host(None, host, StringCommand("docker", "ps"), **arguments)


def test_the_password_is_in_the_helper_file_and_nowhere_on_a_command_line():
    host = FakeHost()
    command = build(host, _sudo=True, _sudo_password=PASSWORD).get_raw_value()
    assert command.startswith("env SUDO_ASKPASS=/tmp/harbor-deploy-askpass-abc sudo -H -A -k sh -c ")
    assert "docker ps" in command and "PYINFRA_SUDO_PASSWORD" not in command
    for line in [command, *host.commands]:
        assert PASSWORD not in line and "Sud0" not in line
    removed = when_session_ends('rm -f "$helper"')  # once the session has ended: test_session.py
    assert host.commands == [
        f'helper=$(mktemp /tmp/harbor-deploy-askpass-XXXXXXXXXXXX) && {removed} && echo "$helper"',
        "chmod 0700 /tmp/harbor-deploy-askpass-abc",
    ]
    [(path, script)] = host.uploads
    assert path == "/tmp/harbor-deploy-askpass-abc"
    printed = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert printed == PASSWORD + "\n"
    # One helper per host and run, removed by pyinfra's own askpass cleanup.
    build(host, _sudo=True, _sudo_password=PASSWORD, _sudo_user="postgres")
    assert len(host.uploads) == 1 and sudo_askpass.CACHE_KEY.startswith("sudo_askpass_path__")


def test_without_a_password_pyinfra_builds_the_command_as_usual():
    host = FakeHost()
    assert build(host, _sudo=True).get_raw_value().startswith("sudo -H -n sh -c ")
    assert build(host).get_raw_value() == "sh -c 'docker ps'"
    assert host.commands == [] and host.uploads == []


def test_once_installed_every_connector_pyinfra_uses_here_builds_commands_this_way():
    sudo_askpass.install()
    assert ssh.make_unix_command_for_host is sudo_askpass.make_unix_command_for_host
    assert util.make_unix_command_for_host is sudo_askpass.make_unix_command_for_host
