"""The example production inventories are complete: read the way pyinfra's CLI reads an
inventory file (group data, ``all``, host data), every server's data passes the server
and configure validation and every client's the client validation, with placeholder
hosts and the secrets a server deploy and configure leave on the controller. The
scaled-out example (``prod_scaled.py``) has a host in every group, each reached over
SSH apart from the public name; its nodes are one Harbor, its load balancer fronts
them and its backing host serves what they use."""

import shutil

import pytest
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory_from_files

from harbor_deploy.lib.config.defaults import merged, with_controller_paths
from harbor_deploy.lib.config.secrets import load_secrets
from harbor_deploy.lib.config.validate import validated
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.client import public_url
from harbor_deploy.lib.plan import cluster
from harbor_deploy.lib.plan.client import client_plan
from harbor_deploy.lib.render import backing, tls
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
    assert [host.name for host in servers] == ["harbor-1"]
    assert servers[0].data.ssh_hostname != servers[0].data.harbor_hostname  # SSH apart from the public name
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


# --- the scaled-out example --------------------------------------------------------

SCALED_GROUPS = ("harbor_servers", "harbor_lb", "harbor_backing", "docker_clients")


@pytest.fixture
def scaled(tmp_path):
    """prod_scaled.py copied into a folder of its own, with the secrets its hosts need:
    the backing services' passwords, the robots' secrets, the CA clients trust."""
    path = tmp_path / "prod_scaled.py"
    shutil.copy(ROOT / "inventories" / "prod_scaled.py", path)
    secrets = tmp_path / ".secrets" / "registry.example.com"
    (secrets / "robots").mkdir(parents=True)
    for name in ("external_db_password", "external_redis_password", "object_store_key"):
        (secrets / name).write_text(f"{name.title().replace('_', '')}9\n")
    for robot in ("apps+ci", "apps+puller"):
        (secrets / "robots" / robot).write_text("R0bot-secret\n")
    (secrets / "ca.crt").write_bytes(tls.cert_pem(tls.generate_ca("registry.example.com")[1]))
    with ctx_state.use(State()):
        return make_inventory_from_files(str(path)), tmp_path


def test_the_scaled_example_has_every_group_populated_and_reached_apart_from_the_public_name(scaled):
    hosts, folder = scaled
    for group in SCALED_GROUPS:
        assert list(hosts.get_group(group)), f"{group} has no host"
    assert sorted(host.name for host in hosts) == sorted(
        host.name for group in SCALED_GROUPS for host in hosts.get_group(group)
    )
    for host in hosts:
        data = data_of(host, folder)
        assert data["ssh_hostname"] and data["ssh_hostname"] != data["harbor_hostname"], host.name


def test_the_scaled_example_is_one_harbor_its_backing_host_serves(scaled):
    hosts, folder = scaled
    configs = {host.name: merged(data_of(host, folder)) for host in hosts.get_group("harbor_servers")}
    url = public_url(next(iter(configs.values())))
    assert cluster.members(url, configs) == ("harbor-node-1", "harbor-node-2")
    for name, config in configs.items():
        data = data_of(inventory_host(hosts, name), folder)
        secrets = load_secrets(validated(data))
        validated(data, secrets)
        assert list(resources.problems(config)) == []
        peers = {other: configs[other] for other in configs if other != name}
        assert list(cluster.shared_state_problems(config, list(peers))) == []
        assert list(cluster.difference_problems(config, peers)) == []
    [lb] = hosts.get_group("harbor_lb")
    lb_config = merged(data_of(lb, folder))
    assert public_url(lb_config) == url and list(cluster.lb_problems(lb_config, list(configs))) == []
    [backing_host] = hosts.get_group("harbor_backing")
    backing_data = data_of(backing_host, folder)
    served = backing.settings(validated(backing_data), load_secrets(validated(backing_data)))
    assert (served.address, served.db_port, served.redis_port, served.swift_port) == ("10.0.0.30", 5432, 6379, 8080)


def test_the_scaled_examples_clients_log_in_as_robots_through_the_public_name(scaled):
    hosts, folder = scaled
    plans = {host.name: client_plan(data_of(host, folder), env={}) for host in hosts.get_group("docker_clients")}
    assert {name: plan.username for name, plan in plans.items()} == {
        "docker-01": "robot$apps+puller",
        "docker-02": "robot$apps+puller",
        "jenkins-agent-01": "robot$apps+ci",
    }
    assert all(plan.registry == "registry.example.com:8443" for plan in plans.values())


def inventory_host(hosts, name):
    return next(host for host in hosts if host.name == name)
