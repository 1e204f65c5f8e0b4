"""The lab smoke of `make test-quick`: what `make demo` does, on hosts made anew. The
server deploy installs Harbor, configure makes the demo project and its CI robot,
then both clients trust Harbor, log in as that robot, push an image built on the
spot and pull the other's; a second server run changes nothing."""

import pytest

from lab import labctl
from lab.demo_summary import images
from tests.lab.conftest import changed_count, run_pyinfra

PROJECT = "demo"


@pytest.fixture(scope="module")
def fresh(lab):
    """The lab's server and clients as new hosts: no Harbor, no docker configuration."""
    return labctl.recreate([host["name"] for host in lab["hosts"]])


def test_a_fresh_harbor_configured_and_its_clients_push_and_pull(fresh):
    run_pyinfra("-y", "inventories/lab.py", "deploys/server.py")
    run_pyinfra("-y", "inventories/lab.py", "deploys/configure.py")
    run_pyinfra(
        "-y",
        "inventories/lab.py",
        "deploys/client.py",
        "--data",
        "harbor_client_smoke_test=true",
        "--data",
        f"harbor_client_smoke_project={PROJECT}",
    )
    clients = sorted(host["name"] for host in fresh["hosts"] if host["group"] == "docker_clients")
    repository = f"{fresh['harbor_dns_name']}:8443/{PROJECT}/hd-smoke"
    for host in fresh["hosts"]:
        if host["group"] == "docker_clients":
            # Its own image, pushed, and the next client's, pulled (the smoke test's pairing).
            peer = clients[(clients.index(host["name"]) + 1) % len(clients)]
            assert set(images(host["container"], repository)) == {host["name"], peer}
    assert changed_count(run_pyinfra("-y", "--json", "inventories/lab.py", "deploys/server.py")) == 0
