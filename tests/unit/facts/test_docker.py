"""Docker facts parse output captured from the lab hosts (client-2 with docker,
bare-1 without)."""

import os
import subprocess

from harbor_deploy.facts.docker import DockerDaemonConfig, DockerEngine
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"


def process(fact, fixture):
    return fact().process((FACT_OUTPUTS / fixture).read_text().splitlines())


# DockerDaemonConfig


def test_daemon_config_parsed_with_mode():
    assert process(DockerDaemonConfig, "docker_daemon_config_client_valid.txt") == {
        "exists": True,
        "mode": "644",
        "config": {"log-driver": "json-file", "log-opts": {"max-size": "10m"}, "insecure-registries": ["other:5000"]},
        "error": None,
        "raw": None,
    }


def test_missing_daemon_config_is_an_empty_config_not_an_error():
    # No output at all: pyinfra hands over the fact's default, which reads the same.
    facts = process(DockerDaemonConfig, "docker_daemon_config_client_missing.txt")
    missing = {"exists": False, "mode": None, "config": {}, "error": None, "raw": None}
    assert facts == DockerDaemonConfig.default() == missing


def test_invalid_daemon_config_keeps_error_and_raw_text():
    facts = process(DockerDaemonConfig, "docker_daemon_config_client_invalid.txt")
    assert facts["exists"] is True
    assert facts["config"] is None
    assert "line 3 column 1" in facts["error"]  # wording varies across Python versions
    assert facts["raw"] == '{\n  "insecure-registries": ["other:5000"],\n}'


def test_blank_daemon_config_counts_as_empty():
    facts = process(DockerDaemonConfig, "docker_daemon_config_client_blank.txt")
    assert (facts["exists"], facts["config"], facts["error"]) == (True, {}, None)


def test_daemon_config_on_host_without_docker():
    facts = process(DockerDaemonConfig, "docker_daemon_config_bare.txt")
    assert (facts["exists"], facts["config"]) == (False, {})


def test_daemon_config_command_reads_the_given_path():
    assert "cat /etc/docker/daemon.json" in DockerDaemonConfig().command()
    assert "cat /etc/docker/daemon.json.bak" in DockerDaemonConfig().command(path="/etc/docker/daemon.json.bak")


# DockerEngine


def test_engine_installed_and_running_read_from_its_packages():
    # docker.io and Debian's compose plugin package; docker-ce known to dpkg, not installed.
    assert process(DockerEngine, "docker_engine_client.txt") == {
        "installed": True,
        "version": "26.1.5+dfsg1",
        "cli": True,
        "compose_version": "2.26.1",
        "active": True,
        "enabled": True,
    }


def test_engine_absent():
    assert process(DockerEngine, "docker_engine_bare.txt") == {
        "installed": False,
        "version": None,
        "cli": False,
        "compose_version": None,
        "active": False,
        "enabled": False,
    }


def engine_on(tmp_path, packages):
    """The fact's shell run by a local shell with stand-ins for dockerd, docker, systemctl
    and dpkg-query (answering ``packages`` in the fact's format, as dpkg's database
    would); returns the processed fact and the programs run that the fact must not need."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir(parents=True)
    plugin = home / ".docker" / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True)
    ran = tmp_path / "ran"

    def tool(path, body):
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    for name in ("dockerd", "docker"):
        tool(bin_dir / name, f'echo "{name} $*" >> {ran}; echo "Docker version 27.0.0, build x"')
    tool(plugin, f'echo "compose $*" >> {ran}; echo 2.30.0')
    tool(bin_dir / "systemctl", '[ "$1" = show ] && printf "ActiveState=active\\nUnitFileState=enabled\\n"')
    answers = "".join(f"package.{package}={status}|{version}\\n" for status, package, version in packages)
    tool(bin_dir / "dpkg-query", f"printf '{answers}'")
    run = subprocess.run(
        ["sh", "-c", DockerEngine().command()],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home)},
    )
    return DockerEngine().process(run.stdout.splitlines()), (ran.read_text() if ran.exists() else "")


def test_an_engine_from_packages_is_read_without_running_docker(tmp_path):
    state, ran = engine_on(
        tmp_path,
        [
            ("ii ", "docker-ce", "5:27.3.1-1~debian.12~bookworm"),
            ("ii ", "docker-compose", "1.29.2-3"),  # compose v1, not the plugin
            ("ii ", "docker-compose-plugin", "2.29.7-1~debian.12~bookworm"),
        ],
    )
    assert (state["installed"], state["version"], state["cli"]) == (True, "27.3.1", True)
    assert state["compose_version"] == "2.29.7"
    assert (state["active"], state["enabled"]) == (True, True)
    assert ran == ""


def test_a_changed_engine_package_is_a_changed_version(tmp_path):
    before, _ = engine_on(tmp_path / "before", [("ii ", "docker.io", "26.1.5+dfsg1-9+b1")])
    after, _ = engine_on(
        tmp_path / "after",
        [("ii ", "docker-ce", "5:27.3.1-1~debian.12~bookworm"), ("rc ", "docker.io", "26.1.5+dfsg1-9+b1")],
    )
    assert (before["version"], after["version"]) == ("26.1.5+dfsg1", "27.3.1")


def test_an_engine_without_a_package_asks_the_binaries(tmp_path):
    state, ran = engine_on(tmp_path, [])
    assert (state["version"], state["compose_version"]) == ("27.0.0", "2.30.0")
    assert ran == "dockerd --version\ncompose version --short\n"
