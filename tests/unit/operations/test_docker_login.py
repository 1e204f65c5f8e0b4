"""docker_login.login: the password goes to the command's stdin only; a working
stored login for the same account is left alone; the host writes the login docker
would write where it can, else runs docker login (the script run here with stand-in
curl and docker programs)."""

import base64
import json
import os
import shlex
import subprocess

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


def auth_of(username, password):
    return base64.b64encode(f"{username}:{password.reveal()}".encode()).decode()


def test_login_passes_the_credentials_on_stdin_and_quotes_the_robot_name():
    commands, _ = run_login({"user_exists": True, "username": None, "works": False})
    [command] = commands
    assert isinstance(command, StringCommand)
    text = command.get_raw_value()
    assert text == (
        'home=$(getent passwd jenkins | cut -d: -f6) && runuser -u jenkins -- env HOME="$home" '
        f"sh -c {shlex.quote(docker_login.login_script(REGISTRY, 'robot$ci+push'))}"
    )
    script = docker_login.login_script(REGISTRY, "robot$ci+push")
    assert "docker login --username 'robot$ci+push' --password-stdin harbor.lab.internal:8443" in script
    auth = auth_of("robot$ci+push", PASSWORD)
    assert command.connector_arguments == {"_stdin": f"{auth}\n{PASSWORD.reveal()}"}
    for secret in ("S3cret", auth):
        assert secret not in text and secret not in str(command) and secret not in repr(command)


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
    renewed = Secret("N3w-Secret2", "file robots/ci+push")
    assert command.connector_arguments == {"_stdin": f"{auth_of('robot$ci+push', renewed)}\nN3w-Secret2"}
    assert "Secret" not in command.get_raw_value()
    source["value"] = None
    [gone] = run_login(working, password=password)[0]
    assert "no longer where it was read (file robots/ci+push)" in gone


FAKE_CURL = """#!/bin/sh
cat > "$WORK/curl.stdin"; echo "$*" > "$WORK/curl.args"; printf %s "$FAKE_STATUS"
"""
FAKE_DOCKER = """#!/bin/sh
cat > "$WORK/docker.stdin"; echo "$*" > "$WORK/docker.args"
"""


def run_script(tmp_path, status="200", config=None, helper=False, link=False):
    """The login script as the user's shell runs it, curl and docker being stand-ins."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    programs = {"curl": FAKE_CURL, "docker": FAKE_DOCKER}
    if helper:
        programs["docker-credential-secretservice"] = "#!/bin/sh\n"
    for name, text in programs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    if config is not None:
        (home / ".docker").mkdir()
        target = tmp_path / "shared-config.json" if link else home / ".docker" / "config.json"
        target.write_text(config)
        if link:
            (home / ".docker" / "config.json").symlink_to(target)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "WORK": str(tmp_path), "FAKE_STATUS": status}
    auth = auth_of("robot$ci+push", PASSWORD)
    result = subprocess.run(
        ["sh", "-c", docker_login.login_script(REGISTRY, "robot$ci+push")],
        input=f"{auth}\n{PASSWORD.reveal()}",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result, home / ".docker", auth


@pytest.mark.parametrize("config", [None, "{}", '{\n\t"auths": {}\n}'])
def test_a_config_with_nothing_in_it_gets_the_login_docker_would_write(tmp_path, config):
    result, docker_dir, auth = run_script(tmp_path, config=config)
    assert result.returncode == 0, result.stderr
    written = (docker_dir / "config.json").read_text()
    assert written == json.dumps({"auths": {REGISTRY: {"auth": auth}}}, indent="\t")  # Go's MarshalIndent, tabs
    assert (docker_dir / "config.json").stat().st_mode & 0o777 == 0o600
    if config is None:
        assert docker_dir.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "curl.stdin").read_text() == f"Authorization: Basic {auth}\n"
    token_url = "https://harbor.lab.internal:8443/service/token?service=harbor-registry"
    assert token_url in (tmp_path / "curl.args").read_text()
    assert not (tmp_path / "docker.args").exists()
    assert os.listdir(docker_dir) == ["config.json"]  # no temporary file left


@pytest.mark.parametrize(
    "case",
    [
        {"status": "401"},  # refused: docker login reports it in its own words
        {"status": "000"},  # no answer (a proxy only dockerd knows)
        {"config": '{"auths": {"other.example:443": {"auth": "eA=="}}}'},
        {"config": '{"credsStore": "pass"}'},
        {"helper": True},  # docker login would keep it in the helper
        {"config": "{}", "link": True},  # a link (to a shared file): left for docker to follow
    ],
)
def test_anything_else_is_left_to_docker_login(tmp_path, case):
    result, docker_dir, _ = run_script(tmp_path, **case)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "docker.args").read_text().split() == [
        "login", "--username", "robot$ci+push", "--password-stdin", REGISTRY
    ]  # fmt: skip
    assert (tmp_path / "docker.stdin").read_text() == PASSWORD.reveal()
    if "config" in case:
        assert (docker_dir / "config.json").read_text() == case["config"]  # untouched
    if case.get("helper"):
        assert not (tmp_path / "curl.args").exists()
    if case.get("link"):
        assert (docker_dir / "config.json").is_symlink()
