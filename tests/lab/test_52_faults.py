"""The server deploy through faults, on the lab's harbor-1:

- two runs at once: the second refuses before changing anything, naming the first;
  a run killed mid-change leaves no lasting lock, and the next run converges;
- the SSH connection cut during the installer upload, then the next run cut during the
  unpack, then the next during install.sh: a half-uploaded or half-unpacked bundle is
  never used, and the run after converges to a healthy Harbor;
- a full filesystem where the bundle goes: refused before any change, naming the
  path and the space, the running Harbor untouched;
- a corrupt installer at the source: refused before any host changes, md5 named.

The connection is cut by killing, inside the lab host, exactly the SSH session that
holds the deploy lock (its PID is in the lock): nothing else is touched.
"""

import functools
import http.server
import json
import shutil
import signal
import subprocess
import threading
import time

import pytest

from lab.labctl import PREFIX
from lab.standin import build as standin
from tests.conftest import ROOT
from tests.lab.conftest import PYINFRA, changed_count, host_exec, reset_harbor_server, run_pyinfra

SERVER = f"{PREFIX}-harbor-1"
DEPLOY = ("inventories/lab.py", "deploys/server.py", "--limit", "harbor-1")
LOCK = "/run/lock/harbor-deploy"
CACHE = "/var/cache/harbor-deploy"
BUNDLE = "harbor-offline-installer-v2.13.1.tgz"


def healthy():
    answer = host_exec(SERVER, "curl -sk --max-time 5 https://127.0.0.1:8443/api/v2.0/health", check=False)
    try:
        return json.loads(answer)["status"] == "healthy"
    except (ValueError, KeyError):
        return False


def started_at():
    return host_exec(SERVER, "docker ps -q | xargs -r docker inspect --format '{{.Name}} {{.State.StartedAt}}'")


def background(*args):
    """A deploy run of this test's own, in the background."""
    return subprocess.Popen(
        [PYINFRA, "-y", *DEPLOY, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for(condition, what, timeout=180, run=None):
    """Until ``condition()`` holds; with ``run``, failing as soon as that run has ended
    without it (its output named), however long the bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if run is not None and run.poll() is not None:
            raise AssertionError(f"the run ended before {what}:\n{run.communicate()[0][-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def lock_taken_by(run):
    """True once ``run`` holds the lock: an earlier run's lock stays behind (it is only
    free once its session has gone), so the lock existing proves nothing."""
    holder = host_exec(SERVER, f"cat {LOCK}/holder 2>/dev/null || true")
    return f" pid {run.pid} (" in holder


def cut_the_run_holding_the_lock():
    """Kill the lock holder's SSH session in the lab host: that run's connection drops."""
    session = host_exec(SERVER, f"cat {LOCK}/session")
    assert host_exec(SERVER, f"cat /proc/{session}/comm").startswith("sshd")
    host_exec(SERVER, f"kill -9 {session}")


def harbor_yml():
    return host_exec(SERVER, "cat /usr/local/harbor/harbor.yml")


@pytest.fixture
def installed(harbor_server):
    """Harbor installed and healthy as each test starts (a converged run when it is,
    so one test's failure does not fail the next)."""
    run_pyinfra("-y", *DEPLOY)
    wait_for(healthy, "a healthy Harbor")
    return harbor_server


def test_a_second_run_at_once_refuses_naming_the_first(installed):
    first = background("--data", "harbor_log_rotate_count=41")
    wait_for(lambda: lock_taken_by(first), "the first run's lock", run=first)
    # The first run paused while it holds the lock (its SSH session lives on), so
    # that the second meets it however fast the first would have finished.
    first.send_signal(signal.SIGSTOP)
    try:
        second = run_pyinfra("-y", *DEPLOY, "--data", "harbor_log_rotate_count=42", check=False)
    finally:
        first.send_signal(signal.SIGCONT)
    output = first.communicate(timeout=600)[0]
    assert first.returncode == 0, output[-3000:]
    refusal = second.stdout + second.stderr
    assert second.returncode != 0
    assert "another harbor-deploy run holds /run/lock/harbor-deploy" in refusal
    assert "(harbor_server, started " in refusal and "nothing was changed here" in refusal
    assert "rotate_count: 41" in harbor_yml()  # the first run's change, never interleaved
    assert healthy()
    run_pyinfra("-y", *DEPLOY)  # once the first has ended, the lock is free
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_a_run_killed_mid_change_leaves_no_lasting_lock(installed):
    run = background("--data", "harbor_log_rotate_count=43")
    wait_for(lambda: lock_taken_by(run), "the run's lock", run=run)
    run.kill()  # the controller dies: its SSH session ends, the lock is left behind
    run.communicate()
    second = run_pyinfra("-y", "-vvv", *DEPLOY, "--data", "harbor_log_rotate_count=44")
    assert "taking over /run/lock/harbor-deploy from a run that has gone" in second.stdout + second.stderr
    assert "rotate_count: 44" in harbor_yml()
    assert healthy()
    run_pyinfra("-y", *DEPLOY)


# Where a fresh install is cut, in its order: each run after a cut gets one step further
# (what the last one finished stays done) before this test cuts it again.
CUTS = (
    ("upload", f"ls {CACHE}/.harbor-deploy-staging/{BUNDLE}"),
    ("unpack", "test -d /usr/local/harbor-v2.13.1.partial"),
    ("install.sh", "docker image inspect goharbor/harbor-core:v2.13.1"),
)


def test_a_connection_cut_mid_install_converges_on_the_next_run(installed):
    """One fresh install cut at its upload, the run after it at the unpack, the next
    at install.sh: each left the host as the next run could take it on from, and the
    run after the last cut converges to a healthy Harbor."""
    reset_harbor_server(SERVER)
    for moment, reached in CUTS:
        run = background()
        # A bound for a loaded machine: the run itself ending is caught at once.
        wait_for(
            lambda reached=reached: host_exec(SERVER, f"{reached} >/dev/null 2>&1 && echo reached", check=False),
            moment,
            timeout=900,
            run=run,
        )
        assert lock_taken_by(run)
        cut_the_run_holding_the_lock()
        output = run.communicate(timeout=300)[0]
        assert run.returncode != 0, f"the run went on after its connection was cut at {moment}:\n{output[-2000:]}"
        if moment == "upload":  # what was sent never took the bundle's name
            assert host_exec(SERVER, f"ls {CACHE}/{BUNDLE} 2>/dev/null || true") == ""
        if moment == "unpack":  # a half-unpacked release is never the one in use
            assert host_exec(SERVER, "readlink /usr/local/harbor || true") != "/usr/local/harbor-v2.13.1.partial"
    run_pyinfra("-y", *DEPLOY)
    assert healthy()
    assert host_exec(SERVER, "ls -d /usr/local/harbor-v*") == "/usr/local/harbor-v2.13.1"
    assert host_exec(SERVER, f"cd {CACHE} && sha256sum -c --status {BUNDLE}.sha256 && echo verified") == "verified"
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_a_full_filesystem_for_the_bundle_is_refused_before_any_change(installed):
    before, config = started_at(), harbor_yml()
    host_exec(SERVER, f"mount -t tmpfs -o size=20m tmpfs {CACHE}")
    try:
        result = run_pyinfra("-y", *DEPLOY, "--data", "harbor_log_rotate_count=45", check=False)
    finally:
        host_exec(SERVER, f"umount {CACHE}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{BUNDLE}: {CACHE} need " in output and f"MiB free on {CACHE}, which has 20 MiB" in output
    assert "nothing was changed" in output
    assert (started_at(), harbor_yml()) == (before, config)
    assert healthy()
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_corrupt_installer_at_the_source_is_refused_before_any_host_changes(installed, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(standin.build(), mirror)
    bundle = mirror / standin.RELEASE_PATH / "v2.13.1" / BUNDLE
    with open(bundle, "r+b") as handle:
        handle.truncate(bundle.stat().st_size // 2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(mirror)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before, config = started_at(), harbor_yml()
    try:
        result = run_pyinfra(
            "-y",
            *DEPLOY,
            "--data",
            f"harbor_mirror_url=http://127.0.0.1:{server.server_address[1]}",
            check=False,
            env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
        )
    finally:
        server.shutdown()
        server.server_close()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{BUNDLE}: md5 " in output and "does not match the release md5sum" in output
    assert "Starting operation" not in output  # refused while planning
    assert (started_at(), harbor_yml()) == (before, config)
    assert not list((tmp_path / "cache").rglob(BUNDLE))  # nothing half-downloaded kept
