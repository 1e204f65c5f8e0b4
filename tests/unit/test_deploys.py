"""Packaged deploys whose order across hosts matters: ``harbor_robot_refresh`` replaces
robots' secrets on the server first, and every client's login comes after that, in
the one run (pyinfra orders each host's operations, and shares one operation between
the hosts that reach it from the same place)."""

from types import SimpleNamespace
from unittest import mock

from pyinfra.api import Config, Inventory, State
from pyinfra.api.deploy import add_deploy

from harbor_deploy.deploys import harbor_robot_refresh
from harbor_deploy.lib.config.secrets import Secret
from harbor_deploy.lib.harbor_api.client import ApiError
from harbor_deploy.lib.plan.client import ClientPlan
from harbor_deploy.stages import client, configure

LOGIN = ClientPlan(
    registry="registry.example.com:8443",
    trust="https",
    ca_pem=None,
    ca_fetch_url=None,
    ca_sha256=None,
    os_trust_store=False,
    login_users=("root",),
    username="robot$apps+ci",
    password=Secret("R0bot-secret", "file robots/apps+ci"),
    daemon_settings={},
    restart_batch=1,
    smoke_test=False,
    smoke_project="library",
    state={"registry": {"logins": {"root": {"user_exists": True, "username": "robot$apps+ci", "works": False}}}},
)


def unreachable():
    raise ApiError("GET", "robots", None, "not called in this test")


def test_every_client_logs_in_after_the_server_replaced_the_secrets():
    shared = {"harbor_hostname": "registry.example.com", "harbor_robot_refresh": ["apps+ci"]}
    inventory = Inventory(
        (["harbor-1", "docker-01"], shared),
        harbor_servers=(["harbor-1"], {}),
        docker_clients=(["docker-01"], {}),
    )
    state = State(inventory, Config())
    for host in inventory:
        state.activate_host(host)
    refresh = SimpleNamespace(
        config={"harbor_robots": [{"name": "ci", "project": "apps"}], "harbor_robot_refresh": ["apps+ci"]},
        access=SimpleNamespace(client=unreachable),
        store=None,
        lock_holder=None,
    )
    with (
        mock.patch.object(configure, "configures_here", lambda group, data: True),
        mock.patch.object(configure, "refresh_plan", lambda data: refresh),
        mock.patch.object(client, "plan", lambda data: LOGIN),
    ):
        add_deploy(state, harbor_robot_refresh)
    order = state.get_op_order()
    names = {op_hash: next(iter(state.op_meta[op_hash].names)) for op_hash in order}
    [secrets] = [op_hash for op_hash, name in names.items() if "Replace the secrets" in name]
    [login] = [op_hash for op_hash, name in names.items() if "docker login" in name]
    server, docker = inventory.get_host("harbor-1"), inventory.get_host("docker-01")
    assert secrets in server.op_hash_order and secrets in docker.op_hash_order  # one operation for both
    assert login in docker.op_hash_order and login not in server.op_hash_order
    assert order.index(secrets) < order.index(login)
