"""Harbor and its clients come back by themselves, or fail clearly and recover:

- the server host restarts (its lab container stopped and started), and dockerd is
  killed inside it: Harbor is healthy again within a bounded time, no manual step,
  and a deploy run afterwards changes nothing;
- Harbor unhealthy after a restart (a component paused): the deploy fails naming
  the component with the tail of its log; once the cause is gone the next run
  recovers;
- a client's dockerd that does not come back with a new daemon.json: the previous
  file is restored, docker runs again, that host alone is reported failed, the
  others finish.
"""

import json
import subprocess
import time

import pytest

from lab import labctl
from lab.labctl import PREFIX
from tests.conftest import ROOT
from tests.lab.conftest import PYINFRA, changed_count, host_exec, run_pyinfra

SERVER = f"{PREFIX}-harbor-1"
DEPLOY = ("inventories/lab.py", "deploys/server.py", "--limit", "harbor-1")
# Bounds for "by itself": a host boot plus Harbor's start and health checks, on a
# machine the other lanes load (quiet, about 20 s and 50 s: docs/guarantees.md).
BACK_WITHIN = 600


def health():
    answer = host_exec(SERVER, "curl -sk --max-time 5 https://127.0.0.1:8443/api/v2.0/health", check=False)
    try:
        return json.loads(answer)
    except ValueError:
        return None


def all_healthy():
    states = host_exec(
        SERVER,
        "docker ps -a --filter label=com.docker.compose.project=harbor --format '{{.Names}} {{.State}} {{.Status}}'",
        check=False,
    ).splitlines()
    return (
        (health() or {}).get("status") == "healthy"
        and len(states) >= 10
        and all(" running " in f" {line} " and "(healthy)" in line for line in states)
    )


def seconds_until_healthy(timeout=BACK_WITHIN):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all_healthy():
            return time.monotonic() - started
        time.sleep(2)
    raise AssertionError(f"Harbor not healthy within {timeout}s, no manual step taken\n{server_state()}")


def server_state():
    """What the server shows when Harbor did not come back: units, containers, journal."""
    return host_exec(
        SERVER,
        "systemctl --no-pager status docker.service harbor.service 2>&1 | head -40; "
        "docker ps -a --format '{{.Names}} {{.State}} {{.Status}}'; "
        "journalctl --no-pager -n 60 -u docker.service -u harbor.service",
        check=False,
    )


@pytest.fixture(scope="module")
def installed(harbor_server):
    run_pyinfra("-y", *DEPLOY)
    seconds_until_healthy()
    return harbor_server


def test_harbor_is_back_by_itself_after_the_server_host_restarts(installed, lab):
    subprocess.run(["docker", "stop", SERVER], check=True, capture_output=True)
    subprocess.run(["docker", "start", SERVER], check=True, capture_output=True)
    took = seconds_until_healthy()
    print(f"server host restart: Harbor healthy again after {took:.0f}s")
    assert host_exec(SERVER, "systemctl is-active harbor.service") == "active"
    # The lab publishes SSH on a port docker picks anew at each start: the lab's
    # state learns it (a real server keeps its port); its address stays.
    state = labctl.up(clients=len([h for h in lab["hosts"] if h["group"] == "docker_clients"]))
    address = {h["name"]: h["address"] for h in state["hosts"]}["harbor-1"]
    assert address == {h["name"]: h["address"] for h in lab["hosts"]}["harbor-1"]
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_harbor_is_back_by_itself_after_dockerd_is_killed(installed):
    # The lab host's own dockerd, by its unit inside that host: a crash, as systemd sees one.
    host_exec(SERVER, "systemctl kill --kill-whom=main --signal=SIGKILL docker.service")
    took = seconds_until_healthy()
    print(f"dockerd killed: Harbor healthy again after {took:.0f}s")
    assert host_exec(SERVER, "systemctl is-active docker.service") == "active"
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_an_unhealthy_harbor_fails_the_run_by_name_and_the_next_run_recovers(installed):
    before = host_exec(SERVER, "docker inspect --format '{{.State.StartedAt}}' registry")
    run = subprocess.Popen(
        [PYINFRA, "-y", *DEPLOY, "--data", "harbor_log_rotate_count=47", "--data", "harbor_health_timeout=45"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    # Created anew and running (a container compose has only created has a zero start time).
    state = "docker inspect --format '{{.State.Running}} {{.State.StartedAt}}' registry"
    while host_exec(SERVER, state, check=False) in ("", f"true {before}") or not host_exec(
        SERVER, state, check=False
    ).startswith("true "):
        assert time.monotonic() < deadline, "the config change never restarted Harbor"
        time.sleep(0.5)
    host_exec(SERVER, "docker pause registry")  # the cause: one component stops answering
    try:
        output = run.communicate(timeout=300)[0]
    finally:
        host_exec(SERVER, "docker unpause registry")  # the cause is gone
    assert run.returncode != 0
    assert "Harbor not healthy after 45s" in output
    assert "registry paused" in output
    assert "--- last lines of /var/log/harbor/registry.log" in output
    result = run_pyinfra("-y", *DEPLOY, "--data", "harbor_log_rotate_count=47")
    assert "Wait until Harbor is healthy" in result.stdout + result.stderr
    assert all_healthy()
    run_pyinfra("-y", *DEPLOY)


@pytest.fixture
def one_bad_client(lab, harbor_server, tmp_path):
    """An inventory of every client logging in as admin (HARBOR_CLIENT_PASSWORD), where
    only the first one's daemon.json gains a key dockerd refuses."""
    first = next(h["name"] for h in lab["hosts"] if h["group"] == "docker_clients")
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        "import runpy\n"
        f"_lab = runpy.run_path({str(ROOT / 'inventories' / 'lab.py')!r})\n"
        "harbor_servers = _lab['harbor_servers']\n"
        f"_bad = {{'harbor_client_daemon_extra': {{'no-such-directive': True}}}}\n"
        "docker_clients = [(name, {**data, 'harbor_client_username': 'admin', "
        f"**(_bad if name == {first!r} else {{}})}}) for name, data in _lab['docker_clients']]\n"
    )
    env = {"HARBOR_CLIENT_PASSWORD": harbor_server["admin_password"]().reveal()}
    return first, f"{PREFIX}-{first}", inventory, env


def test_a_dockerd_that_does_not_come_back_is_rolled_back_and_fails_only_its_host(installed, one_bad_client):
    name, container, inventory, env = one_bad_client
    before = host_exec(container, "cat /etc/docker/daemon.json 2>/dev/null || echo MISSING")
    result = run_pyinfra("-y", str(inventory), "deploys/client.py", check=False, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "docker did not come back with the new /etc/docker/daemon.json" in output
    assert f"[{name}] Error" in output
    assert host_exec(container, "systemctl is-active docker") == "active"
    assert host_exec(container, "cat /etc/docker/daemon.json 2>/dev/null || echo MISSING") == before
    assert "no-such-directive" in host_exec(container, "cat /etc/docker/daemon.json.rejected")
    others = [line for line in output.splitlines() if "Error" in line and "[" in line and f"[{name}]" not in line]
    assert others == []  # the other clients finished
    host_exec(container, "rm -f /etc/docker/daemon.json.rejected")
