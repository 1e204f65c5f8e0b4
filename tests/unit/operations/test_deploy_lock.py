"""The deploy lock's shell, run by a local shell on a real directory: taken, kept by
its own session, refused while another live SSH session holds it (naming the holder),
taken over once that session is gone. (Two real runs against a lab host:
tests/lab/test_52_faults.py.)"""

import os
import shutil
import subprocess

import pytest

from harbor_deploy.operations.deploy_lock import acquire, guarded


def run(script):
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)


@pytest.fixture
def live_session(tmp_path):
    """A process whose name starts with sshd, as an SSH session's does."""
    program = tmp_path / "sshd-session"
    shutil.copy("/bin/sleep", program)
    process = subprocess.Popen([str(program), "60"])
    yield process.pid
    process.kill()
    process.wait()


def test_a_free_lock_is_taken_with_its_holder(tmp_path):
    lock = tmp_path / "harbor-deploy"
    assert run(acquire("me@ctl pid 1", str(lock))).returncode == 0
    assert (lock / "holder").read_text() == "me@ctl pid 1\n"
    assert (lock / "session").read_text().strip().isdigit()


def test_a_live_holder_refuses_another_run_by_name(tmp_path, live_session):
    lock = tmp_path / "harbor-deploy"
    lock.mkdir()
    (lock / "holder").write_text("alice@laptop pid 42 (harbor_server, started 2026-11-28T20:00:00Z)\n")
    (lock / "session").write_text(f"{live_session}\n")
    result = run(f"{acquire('bob@ci pid 7', str(lock))} && echo changed")
    assert result.returncode == 1 and "changed" not in result.stdout
    assert "another harbor-deploy run holds" in result.stderr
    assert "alice@laptop pid 42 (harbor_server, started 2026-11-28T20:00:00Z)" in result.stderr
    assert (lock / "holder").read_text().startswith("alice@laptop")  # still hers
    assert not list(tmp_path.glob("harbor-deploy.*"))  # no leftovers


def test_a_lock_whose_session_is_gone_is_taken_over(tmp_path):
    lock = tmp_path / "harbor-deploy"
    lock.mkdir()
    (lock / "holder").write_text("killed@run pid 9\n")
    (lock / "session").write_text("4194304\n")  # above pid_max: no such process
    result = run(f"{acquire('bob@ci pid 7', str(lock))} && echo changed")
    assert result.returncode == 0 and result.stdout.strip() == "changed"
    assert "taking over" in result.stderr and "killed@run pid 9" in result.stderr
    assert (lock / "holder").read_text() == "bob@ci pid 7\n"


def test_without_a_holder_commands_run_unguarded():
    assert str(guarded(None, "true")) == "true"
    assert str(guarded("me", "true")).endswith("&& true")


def test_an_active_detached_upgrade_refuses_the_lock_naming_it(tmp_path, monkeypatch):
    """Even a free lock (the session that started the upgrade has gone) is refused
    while harbor-deploy-upgrade.service is active."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text('#!/bin/sh\n[ "$1 $2 $3" = "is-active --quiet harbor-deploy-upgrade.service" ]\n')
    systemctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    lock = tmp_path / "harbor-deploy"
    result = run(f"{acquire('bob@ci pid 7', str(lock))} && echo changed")
    assert result.returncode == 1 and "changed" not in result.stdout
    assert "an upgrade started by an earlier harbor-deploy run is still running here" in result.stderr
    assert "(harbor-deploy-upgrade.service, logging to /var/log/harbor-deploy)" in result.stderr
    assert not lock.exists() and not list(tmp_path.glob("harbor-deploy.*"))
    systemctl.write_text("#!/bin/sh\nexit 3\n")  # inactive: taken as usual
    assert run(acquire("bob@ci pid 7", str(lock))).returncode == 0
    assert (lock / "holder").read_text() == "bob@ci pid 7\n"
