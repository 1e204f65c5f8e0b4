"""The example production inventory is complete: read the way pyinfra's CLI reads an
inventory file (group data, ``all``, host data), every server's data passes the server
and configure validation and every client's the client validation, with placeholder
hosts and the secrets a server deploy and configure leave on the controller."""

import shutil

import pytest
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory_from_files

from harbor_deploy.lib.config.defaults import with_controller_paths
from harbor_deploy.lib.config.validate import validated
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.plan.client import client_plan
from harbor_deploy.lib.render import tls
from tests.conftest import ROOT


@pytest.fixture
def inventory(tmp_path):
    """prod.py copied into a folder of its own, with the controller secrets it needs."""
    path = tmp_path / "prod.py"
    shutil.copy(ROOT / "inventories" / "prod.py", path)
    secrets = tmp_path / ".secrets" / "registry.example.com"
    secrets.mkdir(parents=True)
    _, ca = tls.generate_ca("registry.example.com")
    (secrets / "ca.crt").write_bytes(tls.cert_pem(ca))
    for robot in ("apps+ci", "apps+puller"):
        (secrets / "robots").mkdir(exist_ok=True)
        (secrets / "robots" / robot).write_text("R0bot-secret\n")
    with ctx_state.use(State()):  # what pyinfra's CLI has set up when it reads an inventory
        return make_inventory_from_files(str(path)), tmp_path


def data_of(host, folder):
    return with_controller_paths(host.data.dict(), folder)


def test_servers_pass_the_server_and_configure_validation(inventory):
    hosts, folder = inventory
    servers = list(hosts.get_group("harbor_servers"))
    assert [host.name for host in servers] == ["registry.example.com"]
    for host in servers:
        data = data_of(host, folder)
        config = validated(data)
        assert list(resources.problems(config)) == []
        assert config["harbor_secrets_dir"] == str(folder / ".secrets")
        assert (data["ssh_user"], data["_sudo"]) == ("deploy", True)


def test_clients_pass_the_client_validation_logging_in_as_robots(inventory):
    hosts, folder = inventory
    plans = {host.name: client_plan(data_of(host, folder), env={}) for host in hosts.get_group("docker_clients")}
    assert sorted(plans) == ["docker-01.example.com", "docker-02.example.com", "jenkins-agent-01.example.com"]
    assert {name: plan.username for name, plan in plans.items()} == {
        "docker-01.example.com": "robot$apps+puller",
        "docker-02.example.com": "robot$apps+puller",
        "jenkins-agent-01.example.com": "robot$apps+ci",
    }
    assert plans["jenkins-agent-01.example.com"].login_users == ("jenkins",)
    assert all(plan.registry == "registry.example.com:8443" for plan in plans.values())
