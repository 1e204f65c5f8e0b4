"""Docker facts parse output captured from the lab hosts (client-2 with docker,
bare-1 without)."""

from harbor_deploy.facts.docker import DockerDaemonConfig, DockerEngine
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"


def process(fact, fixture):
    return fact().process((FACT_OUTPUTS / fixture).read_text().splitlines())


# DockerDaemonConfig


def test_daemon_config_parsed_with_mode_and_docker_state():
    assert process(DockerDaemonConfig, "docker_daemon_config_client_valid.txt") == {
        "docker_active": True,
        "exists": True,
        "mode": "644",
        "config": {"log-driver": "json-file", "log-opts": {"max-size": "10m"}, "insecure-registries": ["other:5000"]},
        "error": None,
        "raw": None,
    }


def test_missing_daemon_config_is_an_empty_config_not_an_error():
    facts = process(DockerDaemonConfig, "docker_daemon_config_client_missing.txt")
    assert facts == {"docker_active": True, "exists": False, "mode": None, "config": {}, "error": None, "raw": None}


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
    assert (facts["docker_active"], facts["exists"], facts["config"]) == (False, False, {})


def test_daemon_config_command_reads_the_given_path():
    assert "cat /etc/docker/daemon.json" in DockerDaemonConfig().command()
    assert "cat /etc/docker/daemon.json.bak" in DockerDaemonConfig().command(path="/etc/docker/daemon.json.bak")


# DockerEngine


def test_engine_installed_and_running():
    assert process(DockerEngine, "docker_engine_client.txt") == {
        "installed": True,
        "version": "26.1.5+dfsg1",
        "cli": True,
        "compose_version": "2.26.1-4",
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
