"""docker_login.login: the password goes to the command's stdin only; a working
stored login for the same account is left alone."""

import pytest
from pyinfra.api import OperationError, StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from harbor_deploy.lib.config.secrets import RereadableSecret, Secret
from harbor_deploy.operations import docker_login

REGISTRY = "harbor.lab.internal:8443"
PASSWORD = Secret("S3cret-Pw$1 'quoted'", "test")
FACT_KEY = f"registry={REGISTRY}, scheme=https, user=jenkins"


def run_login(login_state, username="robot$ci+push", password=PASSWORD):
    host = create_host(FakeState(), facts={"docker_client.DockerLoginCheck": {FACT_KEY: login_state}})
    with ctx_state.use(FakeState()), ctx_host.use(host):
        commands = list(
            docker_login.login._inner(registry=REGISTRY, username=username, password=password, user="jenkins")
        )
    return commands, host


def test_login_passes_the_password_on_stdin_and_quotes_the_robot_name():
    commands, _ = run_login({"user_exists": True, "username": None, "works": False})
    [command] = commands
    assert isinstance(command, StringCommand)
    text = command.get_raw_value()
    assert text == (
        'home=$(getent passwd jenkins | cut -d: -f6) && runuser -u jenkins -- env HOME="$home" '
        "sh -c 'docker login --username '\"'\"'robot$ci+push'\"'\"' --password-stdin "
        "harbor.lab.internal:8443'"
    )
    assert command.connector_arguments == {"_stdin": PASSWORD.reveal()}
    assert "S3cret" not in text and "S3cret" not in str(command) and "S3cret" not in repr(command)


def test_working_login_for_the_same_or_an_unknown_account_is_a_noop():
    for stored in ("robot$ci+push", None):
        commands, host = run_login({"user_exists": True, "username": stored, "works": True})
        assert commands == []
        assert host.noop_description == f"jenkins is already logged in to {REGISTRY}"


def test_working_login_for_another_account_logs_in_again():
    commands, _ = run_login({"user_exists": True, "username": "admin", "works": True})
    assert len(commands) == 1


def test_missing_os_user_fails_this_host_only():
    commands, _ = run_login({"user_exists": False, "username": None, "works": False})
    assert commands == ["echo 'no OS user '\"'\"'jenkins'\"'\"' to log in to harbor.lab.internal:8443' >&2; exit 1"]


def test_password_must_be_a_secret():
    with pytest.raises(OperationError, match="must be a harbor_deploy.lib.config.secrets.Secret"):
        run_login({"user_exists": True, "username": None, "works": False}, password="plain")


def test_a_check_read_earlier_is_used_without_asking_the_host():
    host = create_host(FakeState(), facts={})  # no DockerLoginCheck: asking would raise
    with ctx_state.use(FakeState()), ctx_host.use(host):
        commands = list(
            docker_login.login._inner(
                registry=REGISTRY,
                username="robot$ci+push",
                password=PASSWORD,
                user="jenkins",
                check={"user_exists": True, "username": "robot$ci+push", "works": True},
            )
        )
    assert commands == []
    assert host.noop_description == f"jenkins is already logged in to {REGISTRY}"


def test_a_secret_replaced_since_planning_logs_in_again_with_the_new_one():
    """configure refreshed the robot's secret earlier in the run: the stored login still
    worked when the host was read, but not with Harbor any more."""
    source = {"value": Secret("0ld-Secret1", "file robots/ci+push")}
    password = RereadableSecret(lambda: source["value"])
    working = {"user_exists": True, "username": "robot$ci+push", "works": True}
    assert run_login(working, password=password)[0] == []  # unchanged: nothing to do
    source["value"] = Secret("N3w-Secret2", "file robots/ci+push")
    [command] = run_login(working, password=password)[0]
    assert command.connector_arguments == {"_stdin": "N3w-Secret2"}
    assert "Secret" not in command.get_raw_value()
    source["value"] = None
    [gone] = run_login(working, password=password)[0]
    assert "no longer where it was read (file robots/ci+push)" in gone
