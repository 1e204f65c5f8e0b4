"""Day-2 reading on the lab's harbor-1: ``deploys/status.py`` exits 0 on a healthy
Harbor and non-zero, naming the container, with one stopped; ``deploys/logs.py``
brings the last lines of each of Harbor's logs to the controller, one file per host
and component."""

import json
import time

import pytest

from lab.labctl import PREFIX
from tests.lab.conftest import host_exec, run_pyinfra

SERVER = f"{PREFIX}-harbor-1"
LIMIT = ("--limit", "harbor-1")


def status_of(result):
    line = next(
        line.strip()
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip().startswith("harbor-status harbor-1 ")
    )
    return json.loads(line.split(" ", 2)[2])


def wait_until_healthy(timeout=180):
    deadline = time.monotonic() + timeout
    while run_pyinfra("-y", "inventories/lab.py", "deploys/status.py", *LIMIT, check=False).returncode != 0:
        assert time.monotonic() < deadline, "Harbor not healthy again"
        time.sleep(3)


@pytest.fixture
def portal_stopped(harbor_server):
    host_exec(SERVER, "docker stop harbor-portal >/dev/null")
    yield
    host_exec(SERVER, "docker start harbor-portal >/dev/null")
    wait_until_healthy()


def test_status_exits_zero_on_a_healthy_harbor(harbor_server):
    result = run_pyinfra("-y", "inventories/lab.py", "deploys/status.py", *LIMIT)
    assert status_of(result)["problems"] == []


def test_status_exits_non_zero_naming_a_stopped_container(portal_stopped):
    result = run_pyinfra("-y", "inventories/lab.py", "deploys/status.py", *LIMIT, check=False)
    assert result.returncode != 0
    problems = status_of(result)["problems"]
    assert (
        "container harbor-portal is exited/unhealthy" in problems
        or "container harbor-portal is exited/none" in problems
    )
    assert "Harbor: " in result.stdout + result.stderr and "container harbor-portal is exited" in result.stderr


def test_logs_come_to_the_controller_one_file_per_component(harbor_server, tmp_path):
    run_pyinfra(
        "-y",
        "inventories/lab.py",
        "deploys/logs.py",
        *LIMIT,
        "--data",
        f"harbor_logs_dir={tmp_path}",
        "--data",
        "harbor_logs_lines=5",
    )
    fetched = {path.stem: path for path in (tmp_path / "harbor-1").iterdir()}
    on_host = host_exec(SERVER, "cd /var/log/harbor && ls *.log").split()
    assert set(fetched) == {name.removesuffix(".log") for name in on_host}
    assert oct((tmp_path / "harbor-1").stat().st_mode & 0o777) == "0o700"
    for component, path in fetched.items():
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        lines = path.read_text().splitlines()
        assert 0 < len(lines) <= 5, component
        recent = host_exec(SERVER, f"tail -n 100 /var/log/harbor/{component}.log").splitlines()
        assert all(line in recent for line in lines), component


@pytest.fixture
def robot_near_expiry(harbor_server):
    """A system robot that expires in 3 days (made through the API); removed afterwards."""
    admin = harbor_server["admin"]()
    created = admin.post(
        "/robots",
        "robot hd-expiring",
        {
            "name": "hd-expiring",
            "level": "system",
            "duration": 3,
            "permissions": [
                {"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}
            ],
        },
    ).json()
    yield created["name"]
    admin.delete(f"/robots/{created['id']}", "robot hd-expiring")


def test_status_reports_a_robot_about_to_expire(robot_near_expiry):
    """Harbor's robots are read from the controller (status runs on the server host):
    one within harbor_robot_expiry_warning_days (14) fails the run, naming it."""
    result = run_pyinfra("-y", "inventories/lab.py", "deploys/status.py", *LIMIT, check=False)
    assert result.returncode != 0
    [robot] = status_of(result)["robots"]["expiring"]
    assert (robot["name"], robot["days_left"]) == (robot_near_expiry, 2)
    assert any(
        problem.startswith(f"robot {robot_near_expiry} expires in 2 days") for problem in status_of(result)["problems"]
    )
    quiet = run_pyinfra(
        "-y", "inventories/lab.py", "deploys/status.py", *LIMIT, "--data", "harbor_robot_expiry_warning_days=2"
    )
    assert status_of(quiet)["problems"] == []
