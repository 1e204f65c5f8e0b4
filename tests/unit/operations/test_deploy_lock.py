"""The deploy lock's shell, run by local shells on a real directory. A run's SSH
session is faked by a shell whose command name starts with sshd, as an SSH session's
does: taken, kept by its own session, refused while another live session holds it
(naming the holder), taken over once that session is gone, by exactly one of any
number of runs at once; a run that cannot tell its session changes nothing; a run
whose host changed since it read it changes nothing. (Two real runs against a lab
host: tests/lab/test_52_faults.py.)"""

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harbor_deploy.operations.deploy_lock import Holder, acquire, as_read, guarded, lock_holder

STALE = "4194304"  # above any pid_max: no such process


@pytest.fixture
def sshd(tmp_path):
    """A shell named like an SSH session (sshd-session): the session of what it runs."""
    program = tmp_path / "sshd-session"
    shutil.copy("/bin/sh", program)
    return str(program)


def run(script, shell="sh", env=None):
    return subprocess.run(
        [shell, "-c", script], capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )


def started(pid):
    """Field 22 of /proc/<pid>/stat: when the process started."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()[19]


@pytest.fixture
def live_session(tmp_path):
    """A live process whose name starts with sshd, as an SSH session's does."""
    program = tmp_path / "sshd-live"
    shutil.copy("/bin/sleep", program)
    process = subprocess.Popen([str(program), "60"])
    yield process.pid
    process.kill()
    process.wait()


def held_by(lock, holder, session, since):
    lock.mkdir()
    (lock / "holder").write_text(f"{holder}\n")
    (lock / "session").write_text(f"{session}\n")
    (lock / "started").write_text(f"{since}\n")


def test_a_free_lock_is_taken_with_its_holder_and_kept_by_its_session(tmp_path, sshd):
    lock = tmp_path / "harbor-deploy"
    result = run(f"{acquire(Holder('me@ctl pid 1'), str(lock))} && echo $$ && {acquire(Holder('me'), str(lock))}", sshd)
    assert result.returncode == 0, result.stderr
    session = result.stdout.strip()
    assert (lock / "holder").read_text() == "me@ctl pid 1\n"
    assert (lock / "session").read_text() == f"{session}\n"  # the shell named sshd*: the session
    assert (lock / "started").read_text().strip().isdigit()
    assert result.stderr == ""  # the second acquire found its own lock


def test_a_live_holder_refuses_another_run_by_name(tmp_path, sshd, live_session):
    lock = tmp_path / "harbor-deploy"
    alice = "alice@laptop pid 42 (harbor_server, started 2026-11-28T20:00:00Z)"
    held_by(lock, alice, live_session, started(live_session))
    result = run(f"{acquire(Holder('bob@ci pid 7'), str(lock))} && echo changed", sshd)
    assert result.returncode == 1 and "changed" not in result.stdout
    assert "another harbor-deploy run holds" in result.stderr
    assert "alice@laptop pid 42 (harbor_server, started 2026-11-28T20:00:00Z)" in result.stderr
    assert f"(its session, pid {live_session}, is live)" in result.stderr
    assert (lock / "holder").read_text().startswith("alice@laptop")  # still hers


@pytest.mark.parametrize(
    "session, since",
    [
        (STALE, "1"),  # the process is gone
        ("live", "1"),  # its PID now names another process, started later
        ("live", ""),  # a lock without a start time
    ],
)
def test_a_lock_whose_session_is_gone_is_taken_over(tmp_path, sshd, live_session, session, since):
    lock = tmp_path / "harbor-deploy"
    held_by(lock, "killed@run pid 9", live_session if session == "live" else session, since)
    result = run(f"{acquire(Holder('bob@ci pid 7'), str(lock))} && echo changed", sshd)
    assert result.returncode == 0 and result.stdout.strip() == "changed", result.stderr
    assert "taking over" in result.stderr and "killed@run pid 9" in result.stderr
    assert (lock / "holder").read_text() == "bob@ci pid 7\n"


def test_exactly_one_of_fifty_racing_runs_takes_over_a_stale_lock(tmp_path, sshd):
    """Fifty runs, each a process of its own with a session of its own (its shell),
    start at once on one stale lock: one takes it over, the 49 others find it held by
    that one. The winner's session lives until every racer has finished, as a run's
    does while it changes the host."""
    lock, done = tmp_path / "harbor-deploy", tmp_path / "done"
    held_by(lock, "killed@run pid 9", STALE, "1")
    with open(tmp_path / "go", "w") as go:
        fcntl.flock(go, fcntl.LOCK_EX)  # the racers wait on it, then start together
        racers = [
            subprocess.Popen(
                [
                    sshd,
                    "-c",
                    f"flock -s {go.name} true; {acquire(Holder(f'racer {number}'), str(lock))} "
                    f"&& echo won && until [ -e {done} ]; do sleep 0.05; done",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for number in range(50)
        ]
        time.sleep(1)
    deadline = time.monotonic() + 120
    while sum(racer.poll() is not None for racer in racers) < 49 and time.monotonic() < deadline:
        time.sleep(0.05)
    done.touch()
    outcomes = [(racer.communicate(timeout=60), racer.returncode) for racer in racers]
    winners = [number for number, ((out, _), code) in enumerate(outcomes) if code == 0 and out == "won\n"]
    assert len(winners) == 1, [err for (_, err), _ in outcomes]
    winner = f"racer {winners[0]}"
    assert (lock / "holder").read_text() == f"{winner}\n"
    refusals = [err for number, ((_, err), _) in enumerate(outcomes) if number != winners[0]]
    assert all(f"another harbor-deploy run holds {lock}: {winner} (its session" in err for err in refusals)
    assert [err for (_, err), _ in outcomes].count("") == 0
    assert sum("taking over" in err for (_, err), _ in outcomes) == 1


def orphan(tmp_path, script, env=None):
    """``script`` run by a shell that its parent left: reparented to init, it has no
    sshd ancestor, whatever runs these tests."""
    out = tmp_path / "orphan"
    result = run(f"( {script} ) > {out}.out 2> {out}.err; echo $? > {out}.rc &", env=env)
    assert result.returncode == 0
    for _ in range(200):
        if (out.with_suffix(".rc")).exists() and (out.with_suffix(".rc")).read_text():
            break
        time.sleep(0.05)
    return (
        int(out.with_suffix(".rc").read_text()),
        out.with_suffix(".out").read_text(),
        out.with_suffix(".err").read_text(),
    )


def test_a_run_that_cannot_tell_its_session_changes_nothing_and_says_why(tmp_path, live_session):
    lock = tmp_path / "harbor-deploy"
    code, out, err = orphan(tmp_path, f"{acquire(Holder('local run'), str(lock))} && echo changed")
    assert (code, out) == (1, "")
    assert err.startswith("cannot tell this run's session (no sshd process above it: pyinfra's @local connector")
    assert "set HARBOR_DEPLOY_SESSION to the PID of a process that lives exactly as long as this run" in err
    assert not lock.exists()
    for bad in (STALE, "12 34", "-1"):
        assert orphan(tmp_path, acquire(Holder("local run"), str(lock)), env={"HARBOR_DEPLOY_SESSION": bad})[0] == 1
    assert not lock.exists()


def test_a_run_on_local_names_its_session_in_the_environment(tmp_path, live_session):
    lock = tmp_path / "harbor-deploy"
    session = {"HARBOR_DEPLOY_SESSION": str(live_session)}
    code, out, err = orphan(tmp_path, f"{acquire(Holder('local run'), str(lock))} && echo changed", session)
    assert (code, out, err) == (0, "changed\n", "")
    assert (lock / "session").read_text() == f"{live_session}\n"
    assert (lock / "started").read_text() == f"{started(live_session)}\n"
    # Another local run, of another session, is refused while that one lives.
    code, _, err = orphan(tmp_path, acquire(Holder("second"), str(lock)), {"HARBOR_DEPLOY_SESSION": str(os.getpid())})
    assert code == 1 and "another harbor-deploy run holds" in err and "local run" in err


def test_a_session_whose_name_holds_blanks_and_parentheses_is_read_right(tmp_path):
    program = tmp_path / "odd) name ("
    shutil.copy("/bin/sleep", program)
    process = subprocess.Popen([str(program), "60"])
    try:
        lock = tmp_path / "harbor-deploy"
        code, _, err = orphan(tmp_path, acquire(Holder("odd"), str(lock)), {"HARBOR_DEPLOY_SESSION": str(process.pid)})
        assert code == 0, err
        assert (lock / "started").read_text() == f"{started(process.pid)}\n"
    finally:
        process.kill()
        process.wait()


def test_a_host_changed_since_the_run_read_it_is_refused_untouched(tmp_path, sshd):
    lock, config, database = tmp_path / "harbor-deploy", tmp_path / "harbor.yml", tmp_path / "database"
    database.mkdir()
    fresh = Holder("me", as_read({str(config): None}, {str(database): False}), "Harbor installed meanwhile")
    (database / "PG_VERSION").write_text("15")  # another run installed Harbor meanwhile
    result = run(f"{acquire(fresh, str(lock))} && echo changed", sshd)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "the host changed since this run read it (Harbor installed meanwhile); nothing was changed here: run again\n"
    )
    assert not lock.exists()
    config.write_text("hostname: h\n")
    held_by(lock, "gone", STALE, "1")
    mtime = int(config.stat().st_mtime)
    installed = Holder("me", as_read({str(config): mtime}, {str(database): True}), "Harbor installed meanwhile")
    result = run(f"{acquire(installed, str(lock))} && {acquire(fresh, str(lock))} && echo changed", sshd)
    assert result.stdout == "changed\n", result.stderr  # checked when taken; the session's own lock is not
    os.utime(config, (mtime + 5, mtime + 5))
    assert run(f"{acquire(installed, str(lock))} && echo changed", sshd).returncode == 1


def test_what_is_compared_is_no_content():
    condition = as_read({"/usr/local/harbor/harbor.yml": 1764261990}, {"/data/database": True})
    assert condition == (
        '[ "$(stat -L -c %Y /usr/local/harbor/harbor.yml 2>/dev/null)" = "1764261990" ] && '
        '[ -n "$(ls -A /data/database 2>/dev/null)" ]'
    )
    assert as_read() == "true"


def test_without_a_holder_commands_run_unguarded():
    assert str(guarded(None, "true")) == "true"
    assert str(guarded(Holder("me"), "true")).endswith("&& true")


def test_the_holder_names_who_where_what_and_when():
    holder = lock_holder("harbor_configure")
    assert f" pid {os.getpid()} (harbor_configure, started 20" in holder.who
    assert (holder.unchanged, holder.what) == (None, "")


def test_an_active_detached_upgrade_refuses_the_lock_naming_it(tmp_path, monkeypatch, sshd):
    """Even a free lock (the session that started the upgrade has gone) is refused
    while harbor-deploy-upgrade.service is active."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text('#!/bin/sh\n[ "$1 $2 $3" = "is-active --quiet harbor-deploy-upgrade.service" ]\n')
    systemctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    lock = tmp_path / "harbor-deploy"
    result = run(f"{acquire(Holder('bob@ci pid 7'), str(lock))} && echo changed", sshd)
    assert result.returncode == 1 and "changed" not in result.stdout
    assert "an upgrade started by an earlier harbor-deploy run is still running here" in result.stderr
    assert "(harbor-deploy-upgrade.service, logging to /var/log/harbor-deploy)" in result.stderr
    assert not lock.exists() and not list(tmp_path.glob("harbor-deploy.*"))
    systemctl.write_text("#!/bin/sh\nexit 3\n")  # inactive: taken as usual
    assert run(acquire(Holder("bob@ci pid 7"), str(lock)), sshd).returncode == 0
    assert (lock / "holder").read_text() == "bob@ci pid 7\n"
