"""Docker facts parse output captured from the lab hosts (client-2 with docker,
bare-1 without); DockerLogin never lets a credential value leave the host."""

import subprocess
from pathlib import Path

from harbor_deploy.facts.docker import _REDACT_CREDENTIALS, DockerDaemonConfig, DockerEngine, DockerLogin

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facts"


def process(fact, fixture):
    return fact().process((FIXTURES / fixture).read_text().splitlines())


# DockerDaemonConfig

def test_daemon_config_parsed_with_mode_and_docker_state():
    assert process(DockerDaemonConfig, "docker_daemon_config_client_valid.txt") == {
        "docker_active": True, "exists": True, "mode": "644",
        "config": {"log-driver": "json-file", "log-opts": {"max-size": "10m"},
                   "insecure-registries": ["other:5000"]},
        "error": None, "raw": None,
    }


def test_missing_daemon_config_is_an_empty_config_not_an_error():
    facts = process(DockerDaemonConfig, "docker_daemon_config_client_missing.txt")
    assert facts == {"docker_active": True, "exists": False, "mode": None,
                     "config": {}, "error": None, "raw": None}


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
        "installed": True, "version": "26.1.5+dfsg1", "compose_version": "2.26.1-4",
        "active": True, "enabled": True,
    }


def test_engine_absent():
    assert process(DockerEngine, "docker_engine_bare.txt") == {
        "installed": False, "version": None, "compose_version": None,
        "active": False, "enabled": False,
    }


# DockerLogin

def test_login_from_auths_entry_with_redacted_credential():
    assert process(DockerLogin, "docker_login_auths.txt") == {
        "user_exists": True, "config_exists": True, "config_error": None,
        "auth_entry": True, "creds_store": None, "cred_helper": None, "logged_in": True,
    }


def test_login_through_creds_store_entry():
    facts = process(DockerLogin, "docker_login_creds_store.txt")
    assert (facts["auth_entry"], facts["creds_store"], facts["cred_helper"], facts["logged_in"]) == (
        False, "pass", None, True)


def test_no_login_without_config_or_user():
    for fixture, user_exists in (("docker_login_no_config.txt", True), ("docker_login_no_user.txt", False)):
        facts = process(DockerLogin, fixture)
        assert facts["user_exists"] is user_exists
        assert facts["config_exists"] is False
        assert facts["logged_in"] is False


def test_login_matches_url_style_keys_and_ignores_empty_credentials():
    lines = (FIXTURES / "docker_login_auths.txt").read_text().splitlines()
    other = DockerLogin().process(["registry=other.example:5000", *lines[1:]])
    empty = DockerLogin().process(["registry=empty.example:5000", *lines[1:]])
    assert (other["auth_entry"], other["logged_in"]) == (True, True)
    assert (empty["auth_entry"], empty["logged_in"]) == (False, False)


def test_login_through_cred_helper():
    lines = (FIXTURES / "docker_login_creds_store.txt").read_text().splitlines()
    facts = DockerLogin().process(["registry=helped.example:443", *lines[1:]])
    assert facts["cred_helper"] == "ecr-login"
    assert facts["logged_in"] is True


def test_captured_fixtures_hold_no_credential():
    for fixture in FIXTURES.glob("docker_login_*.txt"):
        text = fixture.read_text()
        assert "aGRm" not in text and "ZmFr" not in text, fixture


def test_redaction_runs_on_the_host_and_handles_escapes_and_minified_json(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        '{"auths":{"a:1":{"auth":"c2VjcmV0OnMz"},"b:2":{"identitytoken":"tok\\"en\\\\x","auth":""}},'
        '"credsStore":"pass"}')
    redacted = subprocess.run(f'{_REDACT_CREDENTIALS} "{config}"', shell=True, check=True,
                              capture_output=True, text=True).stdout
    assert redacted == ('{"auths":{"a:1":{"auth":"<redacted>"},"b:2":{"identitytoken":"<redacted>","auth":""}},'
                        '"credsStore":"pass"}')


def test_login_command_quotes_its_arguments():
    command = DockerLogin().command(registry="harbor.lab.internal:8443", user="deploy user")
    assert "echo registry=harbor.lab.internal:8443;" in command
    assert "getent passwd 'deploy user'" in command
