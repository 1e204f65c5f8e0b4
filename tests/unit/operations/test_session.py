"""What a run leaves on a host only while it runs is gone once its session has ended,
the connection dropped or not: the shell of ``session.when_session_ends``, of
``secret_file``'s staging and transfer copies and of the sudo askpass helper, run by
local shells. A run's SSH session is faked by a shell named like one (sshd-session),
its connection dropped by killing it."""

import base64
import os
import shutil
import signal
import subprocess
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from pyinfra.api import StringCommand

from harbor_deploy.operations import secret_file
from harbor_deploy.operations import session as run_session
from harbor_deploy.operations.session import when_session_ends
from harbor_deploy.stages import sudo_askpass

WATCH_SECONDS = 0.2


@pytest.fixture(autouse=True)
def quick_watchers(monkeypatch):
    """Watchers that look every 0.2 s (2 s on a host): the same shell, a faster test."""
    monkeypatch.setattr(run_session, "WATCH_SECONDS", WATCH_SECONDS)


@pytest.fixture
def session(tmp_path):
    """Runs a script in a fake SSH session that goes on until killed; yields a start
    function returning the session's process, whose stdout is a pipe."""
    program = tmp_path / "sshd-session"
    shutil.copy("/bin/sh", program)
    started = []

    def start(script, env=None, stdin=None):
        process = subprocess.Popen(
            [str(program), "-c", f"{script}\nexec sleep 600"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()
        if process.stdin:
            process.stdin.close()  # what still reads it ends


def gone_after_the_session(process, *paths):
    """Whether ``paths``, there while ``process`` (the session) lives, are gone soon
    after it is killed (its connection dropped)."""
    time.sleep(WATCH_SECONDS + 0.5)
    assert all(os.path.lexists(path) for path in paths), "removed while the session lives"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 3 * WATCH_SECONDS + 5
    while any(os.path.lexists(path) for path in paths) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(os.path.lexists(path) for path in paths)


def test_a_command_runs_once_the_session_has_ended(tmp_path, session):
    secret = tmp_path / "secret"
    process = session(f"echo s3cret > {secret} && {when_session_ends(f'rm -f {secret}')} && echo started")
    assert process.stdout.readline() == "started\n"  # the watcher holds no output open
    assert gone_after_the_session(process, secret)


def orphan(tmp_path, script, env):
    """``script`` run by a shell its parent left (reparented to init, so with no sshd
    above it, whatever runs these tests); its exit status once it has run."""
    done = tmp_path / "rc"
    subprocess.run(["sh", "-c", f"( sleep 0.5; {script}; echo $? > {done} ) >/dev/null 2>&1 &"], check=True, env=env)
    deadline = time.monotonic() + 10
    while not (done.exists() and done.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return int(done.read_text())


def test_a_session_named_in_the_environment_is_watched_too(tmp_path):
    """pyinfra's @local: no sshd above the shell, the session named in the environment."""
    secret, keeper = tmp_path / "secret", subprocess.Popen(["sleep", "600"])
    try:
        script = f"echo s3cret > {secret} && {when_session_ends(f'rm -f {secret}')}"
        assert orphan(tmp_path, script, {**os.environ, "HARBOR_DEPLOY_SESSION": str(keeper.pid)}) == 0
        assert gone_after_the_session(keeper, secret)
    finally:
        keeper.kill()
        keeper.wait()


def test_without_a_session_to_watch_nothing_is_started(tmp_path):
    secret = tmp_path / "secret"
    script = f"echo s3cret > {secret} && {when_session_ends(f'rm -f {secret}')}"
    assert orphan(tmp_path, script, {k: v for k, v in os.environ.items() if k != "HARBOR_DEPLOY_SESSION"}) == 0
    time.sleep(WATCH_SECONDS + 0.5)
    assert secret.exists()


def commands(operation, *args, **kwargs):
    with mock.patch.object(secret_file, "state", SimpleNamespace(config=SimpleNamespace(DIFF=False))):
        return [str(command) for command in operation._inner(*args, **kwargs) if isinstance(command, StringCommand)]


def test_a_secret_staged_for_put_is_removed_when_the_connection_drops(tmp_path, session):
    dest = tmp_path / "tls" / "server.key"
    staging = dest.parent / secret_file.STAGING
    [put] = commands(secret_file.put, str(dest), "KEY\n", known_files={})
    process = session(put, stdin=subprocess.PIPE)
    process.stdin.write("S0VZ")  # part of the content on the command's stdin; the rest never comes
    process.stdin.flush()
    deadline = time.monotonic() + 10
    while not list(staging.glob("server.key.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [staged] = staging.glob("server.key.*")  # named by the command's PID
    assert gone_after_the_session(process, staged)
    assert list(staging.iterdir()) == []  # the empty directory goes with the next put there
    assert dest.parent.is_dir() and not dest.exists()


def test_a_run_s_watcher_leaves_what_the_next_run_stages_alone(tmp_path, session):
    """Two runs writing one file within the watcher's poll: the first run's watcher,
    firing once that run has ended, removes only what the first run staged."""
    dest = tmp_path / "certs.d" / "ca.crt"
    [first] = commands(secret_file.put, str(dest), "FIRST\n", known_files={})
    process = session(f"{first} && echo written", stdin=subprocess.PIPE)
    process.stdin.write(base64.encodebytes(b"FIRST\n").decode())
    process.stdin.close()
    assert process.stdout.readline() == "written\n"
    staging = dest.parent / secret_file.STAGING
    staging.mkdir(mode=0o700)
    second = staging / "ca.crt.999999"  # what a second run has staged meanwhile
    second.write_text("SECOND\n")
    process.send_signal(signal.SIGKILL)  # the first run's session ends: its watcher fires
    process.wait()
    time.sleep(3 * WATCH_SECONDS)
    assert second.read_text() == "SECOND\n" and dest.read_text() == "FIRST\n"


@pytest.mark.parametrize("direction", ["upload", "fetch"])
def test_a_transfer_copy_is_removed_when_the_connection_drops(tmp_path, session, direction):
    home, dump = tmp_path / "home", tmp_path / "backup" / "registry.pgdump"
    dump.parent.mkdir()
    dump.write_text("dump")
    home.mkdir()
    copy = home / secret_file.TRANSFER / "registry.pgdump"
    env = {"HOME": str(home), "SUDO_USER": os.environ.get("USER", "root")}
    if direction == "upload":
        first = commands(secret_file.upload, str(dump), "/var/backups/registry.pgdump")[0]
        script = f"{first} && cp {dump} {copy} && echo copied"  # the SFTP upload, then the connection drops
    else:
        first = commands(secret_file.fetch, str(dump), str(tmp_path / "fetched"))[0]
        script = f'getent() {{ echo "x:x:0:0::{home}:/bin/sh"; }}; {first} && echo copied'
    process = session(script, env)
    assert process.stdout.readline() == "copied\n"
    assert copy.read_text() == "dump"
    assert gone_after_the_session(process, copy)


def test_the_sudo_askpass_helper_is_removed_when_the_connection_drops(tmp_path, session):
    """The helper's own command, as a connection runs it: the helper file holding the
    sudo password does not outlive the session."""
    made = []

    class Host:
        name, connector_data = "h", {}

        def get_temp_dir_config(self):
            return str(tmp_path)

        def run_shell_command(self, command, **arguments):
            if not made:
                process = session(command.get_raw_value())
                made.append(process)
                return True, SimpleNamespace(stdout_lines=[process.stdout.readline().strip()], stderr="")
            return subprocess.run(["sh", "-c", command.get_raw_value()], check=False).returncode == 0, None

        def put_file(self, data, path, **arguments):
            with open(path, "wb") as handle:
                handle.write(data.read())
            return True

    host = Host()
    sudo_askpass.make_unix_command_for_host(None, host, StringCommand("true"), _sudo=True, _sudo_password="Sud0-pass")
    helper = host.connector_data[sudo_askpass.CACHE_KEY]
    assert helper.startswith(f"{tmp_path}/harbor-deploy-askpass-")
    assert subprocess.run([helper], capture_output=True, text=True, check=True).stdout == "Sud0-pass\n"
    assert gone_after_the_session(made[0], helper)
