"""deploys/uninstall.py on the lab's harbor-1:

- without purge, run as the sudo user ``ops``: containers, unit, firewalld service,
  releases, images, TLS files and installer cache gone, the data volume kept byte for byte; a second run changes
  nothing; the server deploy brings the same Harbor back (a project made before is
  there) and a run after that changes nothing;
- a purge needs the flag and the hostname repeated: with the flag alone it is refused
  before any change, naming the key; with both the data volume and the logs go, and
  the server deploy installs a new Harbor.
"""

import uuid

import pytest

from lab.labctl import PREFIX
from tests.lab.conftest import changed_count, host_exec, run_pyinfra

SERVER = f"{PREFIX}-harbor-1"
LIMIT = ("--limit", "harbor-1")
UNINSTALL = ("inventories/lab.py", "deploys/uninstall.py", *LIMIT)
INSTALL = ("inventories/lab.py", "deploys/server.py", *LIMIT)
# What of the data volume must come through byte for byte: the registry's storage and
# the secrets Harbor keeps there, and which top-level folders exist. The database and
# Redis write on every stop; the project made through the API proves the database.
DATA_SNAPSHOT = "cd /data && ls; find registry secret -type f -exec sha256sum {} + | sort"


def leftovers():
    """What of Harbor is still on the server, besides its data."""
    return host_exec(
        SERVER,
        "docker ps -aq --filter label=com.docker.compose.project=harbor | wc -l; "
        "docker images -q 'goharbor/*' | wc -l; "
        "ls -d /usr/local/harbor /usr/local/harbor-v* /etc/harbor/tls /var/cache/harbor-deploy "
        "/etc/systemd/system/harbor.service 2>/dev/null; "
        "firewall-cmd --get-services | tr ' ' '\\n' | grep -x harbor; true",
    ).split()


@pytest.fixture(scope="module")
def project(harbor_server):
    """A project of this test's own, made through the API before the uninstall."""
    name = f"kept-{uuid.uuid4().hex[:6]}"
    admin = harbor_server["admin"]()
    admin.post("/projects", f"project {name}", {"project_name": name, "metadata": {"public": "false"}})
    return name


def test_uninstall_keeps_the_data_and_the_server_deploy_brings_harbor_back(harbor_server, project):
    before = host_exec(SERVER, DATA_SNAPSHOT)
    # As a normal user with sudo (ops), as real servers are reached.
    first = run_pyinfra("-y", "--json", "--sudo", *UNINSTALL, "--data", "ssh_user=ops")
    assert changed_count(first) >= 5
    assert leftovers() == ["0", "0"]
    assert host_exec(SERVER, DATA_SNAPSHOT) == before
    assert changed_count(run_pyinfra("-y", "--json", *UNINSTALL)) == 0

    run_pyinfra("-y", *INSTALL)
    assert harbor_server["admin"]().get_or_none(f"/projects/{project}", f"project {project}") is not None
    assert changed_count(run_pyinfra("-y", "--json", *INSTALL)) == 0


def test_a_purge_needs_the_hostname_repeated(harbor_server):
    before = host_exec(SERVER, DATA_SNAPSHOT)
    refused = run_pyinfra("-y", *UNINSTALL, "--data", "harbor_uninstall_purge=true", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"harbor_uninstall_purge_hostname: must repeat harbor_hostname ({harbor_server['hostname']})" in output
    assert "Starting operation" not in output
    assert host_exec(SERVER, DATA_SNAPSHOT) == before
    assert "harbor-core" in host_exec(SERVER, "docker ps --format '{{.Names}}'")


def test_a_purge_with_both_keys_deletes_the_data_and_a_new_harbor_follows(harbor_server, project):
    run_pyinfra(
        "-y",
        *UNINSTALL,
        "--data",
        "harbor_uninstall_purge=true",
        "--data",
        f"harbor_uninstall_purge_hostname={harbor_server['hostname']}",
    )
    assert leftovers() == ["0", "0"]
    assert host_exec(SERVER, "ls -d /data /var/log/harbor 2>/dev/null; true") == ""
    run_pyinfra("-y", *INSTALL)
    assert harbor_server["admin"]().get_or_none(f"/projects/{project}", f"project {project}") is None
    assert changed_count(run_pyinfra("-y", "--json", *INSTALL)) == 0
