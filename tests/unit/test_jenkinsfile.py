"""examples.jenkinsfile: the committed example is the template's output, and the
shell part run with a fake docker builds, logs in via stdin, pushes both tags, logs out."""

import stat
import subprocess

import pytest

from examples import jenkinsfile
from tests.conftest import ROOT

EXAMPLE_ARGS = ("harbor.example.org:8443", "ci", "webapp", "harbor-robot-ci-jenkins")
FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$CALLS"
if [ "$1" = login ]; then printf 'stdin=' >> "$CALLS"; cat >> "$CALLS"; echo >> "$CALLS"; fi
"""


def test_example_is_the_rendered_template():
    assert (ROOT / "examples" / "Jenkinsfile").read_text() == jenkinsfile.render(*EXAMPLE_ARGS)


def test_pipeline_holds_no_credential_and_no_bashism():
    text = jenkinsfile.render(*EXAMPLE_ARGS)
    assert "<<<" not in text
    assert "withCredentials([usernamePassword(credentialsId: 'harbor-robot-ci-jenkins'" in text
    assert "--password-stdin" in text and "set -eu" in text


def test_shell_part_logs_in_on_stdin_pushes_both_tags_and_logs_out(tmp_path):
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(FAKE_DOCKER)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    script = jenkinsfile.render_shell("reg.test:8443", "ci", "app")
    run = subprocess.run(
        ["dash", "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "PATH": f"{fake.parent}:/usr/bin:/bin",
            "CALLS": str(calls),
            "HARBOR_USER": "robot$ci+jenkins",
            "HARBOR_PASSWORD": "S3cret-Value",
        },
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = calls.read_text().splitlines()
    tag = lines[0].split()[2].rsplit(":", 1)[1]
    assert lines[0] == f"build -t reg.test:8443/ci/app:{tag} -t reg.test:8443/ci/app:latest ."
    assert lines[1] == "login reg.test:8443 --username robot$ci+jenkins --password-stdin"
    assert lines[2] == "stdin=S3cret-Value"
    assert lines[3:] == [f"push reg.test:8443/ci/app:{tag}", "push reg.test:8443/ci/app:latest", "logout reg.test:8443"]
    assert "S3cret-Value" not in run.stdout + run.stderr


def run_with_failing_pushes(tmp_path, failures, message="connection refused"):
    """The shell part with a docker whose first ``failures`` pushes fail saying
    ``message``, retrying twice without waiting; the docker commands it ran."""
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(
        FAKE_DOCKER
        + f'if [ "$1" = push ] && [ "$(grep -c ^push "$CALLS")" -le {failures} ]; then '
        + f"echo '{message}' >&2; exit 1; fi\nexit 0\n"
    )
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    run = subprocess.run(
        ["dash", "-c", jenkinsfile.render_shell("reg.test:8443", "ci", "app")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "PATH": f"{fake.parent}:/usr/bin:/bin",
            "CALLS": str(calls),
            "HARBOR_USER": "u",
            "HARBOR_PASSWORD": "p",
            "HARBOR_RETRY_WAITS": "0 0",
        },
        check=False,
    )
    commands = [line.split()[0] for line in calls.read_text().splitlines() if not line.startswith("stdin=")]
    return run, commands


def test_a_push_refused_while_harbor_restarts_is_retried(tmp_path):
    run, commands = run_with_failing_pushes(tmp_path, failures=2)
    assert run.returncode == 0, run.stderr
    assert commands == ["build", "login", "push", "push", "push", "push", "logout"]
    assert "docker push reg.test:8443/ci/app:" in run.stderr and "failed: retrying in 0s" in run.stderr


def test_a_push_failing_every_retry_stops_the_script_and_still_logs_out(tmp_path):
    run, commands = run_with_failing_pushes(tmp_path, failures=99)
    assert run.returncode != 0
    assert commands == ["build", "login", "push", "push", "push", "logout"]


def test_a_push_harbor_denies_fails_at_once_without_retrying(tmp_path):
    run, commands = run_with_failing_pushes(tmp_path, failures=99, message="denied: requested access is denied")
    assert run.returncode != 0
    assert commands == ["build", "login", "push", "logout"]
    assert "refused: not retried" in run.stderr and "retrying" not in run.stderr


def test_unsafe_values_are_refused():
    with pytest.raises(ValueError, match="project"):
        jenkinsfile.render("reg:1", "ci'; rm -rf /", "app", "cred")
