"""Ports that change: Harbor's ports live in a firewalld service of their own
(``harbor``), so moving Harbor from 8081/8443 to 9081/9443 closes the old ports by
itself. A probe listening on the old HTTPS port (not Harbor, not docker) is refused
from a client once Harbor moved, and reached while a rule opens it; Harbor serves on
the new port from a client; the API URL follows the port; a re-run changes nothing.
Harbor is moved back to its ports afterwards."""

import json

import pytest

from tests.lab.conftest import changed_count, host_exec, run_pyinfra

MOVED = ("--data", "harbor_http_port=9081", "--data", "harbor_https_port=9443")
SERVER = ("inventories/lab.py", "deploys/server.py", "--limit", "harbor-1")
PROBE = "hd-port-probe"


@pytest.fixture(scope="module")
def moved(harbor_server, lab):
    client = next(h for h in lab["hosts"] if h["group"] == "docker_clients")
    first = run_pyinfra("-y", "--json", *SERVER, *MOVED)
    yield {**harbor_server, "client": client["container"], "first": first}
    host_exec(harbor_server["container"], f"systemctl stop {PROBE}.service 2>/dev/null; true")
    run_pyinfra("-y", *SERVER)


def from_client(moved, command):
    return host_exec(moved["client"], command, check=False)


def test_the_harbor_service_holds_the_new_ports_and_the_old_ones_are_gone(moved):
    container = moved["container"]
    assert "Open Harbor's ports through firewalld service harbor" in moved["first"].stderr
    ports = set(host_exec(container, "firewall-cmd --permanent --service=harbor --get-ports").split())
    assert ports == {"9081/tcp", "9443/tcp"}
    for scope in ("--permanent ", ""):
        assert "harbor" in host_exec(container, f"firewall-cmd {scope}--list-services").split()
        for port in ("8081/tcp", "8443/tcp"):
            assert host_exec(container, f"firewall-cmd {scope}--query-port={port}", check=False) == "no"
    assert changed_count(run_pyinfra("-y", "--json", *SERVER, *MOVED)) == 0


def test_harbor_serves_on_the_new_port_and_the_api_url_follows(moved):
    ca = f"/etc/docker/certs.d/{moved['hostname']}:9443/ca.crt"
    host_exec(
        moved["client"],
        f"mkdir -p $(dirname {ca}) && cp /etc/docker/certs.d/{moved['registry']}/ca.crt {ca} " f"2>/dev/null || true",
    )
    answer = from_client(moved, f"curl -s --cacert {ca} https://{moved['hostname']}:9443/api/v2.0/ping")
    assert answer == "Pong"
    status = run_pyinfra("-y", "inventories/lab.py", "deploys/status.py", "--limit", "harbor-1", *MOVED)
    line = next(
        line.strip()
        for line in (status.stdout + status.stderr).splitlines()
        if line.strip().startswith("harbor-status harbor-1 ")
    )
    assert json.loads(line.split(" ", 2)[2])["health"] == "healthy"
    configure = run_pyinfra("-y", "--json", "inventories/lab.py", "deploys/configure.py", "--limit", "harbor-1", *MOVED)
    assert json.loads(configure.stdout)["results"]["totals"]["error"] == 0


def test_the_old_port_is_refused_by_the_firewall(moved):
    container = moved["container"]
    # Something of the host's own (not docker's) on the old port: only firewalld decides.
    host_exec(
        container,
        f"systemd-run --unit={PROBE} systemd-socket-activate -l 8443 -a --inetd " "/bin/echo probe-open && sleep 1",
    )
    reach = f"timeout 5 bash -c 'cat < /dev/tcp/{moved['address']}/8443' 2>&1"
    assert "No route to host" in from_client(moved, reach)  # firewalld's reject
    host_exec(container, "firewall-cmd --add-port=8443/tcp")  # runtime only: the control
    try:
        assert "probe-open" in from_client(moved, reach)
    finally:
        host_exec(container, "firewall-cmd --remove-port=8443/tcp")
    assert "No route to host" in from_client(moved, reach)
    host_exec(container, f"systemctl stop {PROBE}.service")
