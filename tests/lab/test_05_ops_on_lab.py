"""The custom firewalld and docker_daemon operations on a real lab host (client-2):
they change what they must, keep what is there, and a second run changes nothing."""

import json

import pytest

from lab.labctl import PREFIX
from tests.lab.conftest import host_exec, run_pyinfra

CONTAINER = f"{PREFIX}-client-2"
TEST_PORT = 18099
TEST_REGISTRY = "hd-ops-test.invalid:5000"
DEPLOY = (
    "-y",
    "--json",
    "inventories/lab.py",
    "tests/lab/deploys/ops_on_lab.py",
    "--limit",
    "client-2",
    "--data",
    f"test_port={TEST_PORT}",
    "--data",
    f"test_registry={TEST_REGISTRY}",
)
DAEMON_JSON = "/etc/docker/daemon.json"
SEED = {"log-driver": "json-file", "log-opts": {"max-size": "10m"}, "insecure-registries": ["other:5000"]}
SEED_TEXT = json.dumps(SEED)


def write_daemon_json(text):
    host_exec(CONTAINER, f"mkdir -p /etc/docker && printf '%s' '{text}' > {DAEMON_JSON} && chmod 644 {DAEMON_JSON}")


def read_file(path):
    return host_exec(CONTAINER, f"cat {path}")


def running_insecure_registries():
    return json.loads(host_exec(CONTAINER, "docker info --format '{{json .RegistryConfig.IndexConfigs}}'"))


def changed_operations(result):
    """Number of operations that changed the host, from pyinfra's --json output."""
    return json.loads(result.stdout)["results"]["totals"]["success"]


@pytest.fixture
def client2(lab):
    """Leaves client-2 as found: test port closed, daemon.json and dockerd's
    registry configuration restored (docker restarted only if the test changed it)."""
    original = (
        host_exec(CONTAINER, f"cat {DAEMON_JSON}", check=False)
        if host_exec(CONTAINER, f"test -e {DAEMON_JSON} && echo yes", check=False)
        else None
    )
    host_exec(CONTAINER, f"rm -f {DAEMON_JSON}.bak {DAEMON_JSON}.rejected")
    yield
    for scope in ("--permanent ", ""):
        host_exec(CONTAINER, f"firewall-cmd {scope}--remove-port={TEST_PORT}/tcp", check=False)
    if original is None:
        host_exec(CONTAINER, f"rm -f {DAEMON_JSON}")
    else:
        write_daemon_json(original)
    host_exec(CONTAINER, f"rm -f {DAEMON_JSON}.bak {DAEMON_JSON}.rejected")
    if TEST_REGISTRY in running_insecure_registries():
        # A reload keeps registries no longer in the file: only a restart drops them.
        host_exec(CONTAINER, "systemctl restart docker")
    assert TEST_REGISTRY not in running_insecure_registries()
    assert TEST_REGISTRY not in host_exec(CONTAINER, "firewall-cmd --list-ports; firewall-cmd --permanent --list-ports")


def test_port_opened_and_daemon_json_merged_then_second_run_is_a_noop(client2):
    write_daemon_json(SEED_TEXT)

    first = run_pyinfra(*DEPLOY)
    assert changed_operations(first) == 3  # port, daemon.json, reload

    assert f"{TEST_PORT}/tcp" in host_exec(CONTAINER, "firewall-cmd --list-ports").split()
    assert f"{TEST_PORT}/tcp" in host_exec(CONTAINER, "firewall-cmd --permanent --list-ports").split()

    merged = json.loads(read_file(DAEMON_JSON))
    assert merged == {**SEED, "insecure-registries": ["other:5000", TEST_REGISTRY]}
    assert read_file(f"{DAEMON_JSON}.bak") == SEED_TEXT
    assert host_exec(CONTAINER, f"stat -c '%a %U:%G' {DAEMON_JSON}") == "644 root:root"
    # Nothing staged is left beside them (certs.d is the client deploy's registry trust).
    assert host_exec(CONTAINER, "ls -A /etc/docker | grep -vx certs.d") == "daemon.json\ndaemon.json.bak"
    # Applied by a reload, not a restart: dockerd already trusts the registry.
    assert running_insecure_registries()[TEST_REGISTRY]["Secure"] is False

    second = run_pyinfra(*DEPLOY)
    assert changed_operations(second) == 0
    assert read_file(DAEMON_JSON) == json.dumps(merged, indent=2)


def test_invalid_daemon_json_is_refused_and_left_untouched(client2):
    invalid = '{"insecure-registries": ["other:5000"],}'
    write_daemon_json(invalid)

    result = run_pyinfra(*DEPLOY, check=False)

    assert result.returncode != 0
    assert f"{DAEMON_JSON} is not valid JSON" in result.stdout + result.stderr
    assert read_file(DAEMON_JSON) == invalid
    assert host_exec(CONTAINER, f"test -e {DAEMON_JSON}.bak || echo absent") == "absent"


def test_restart_that_fails_restores_the_previous_daemon_json(client2):
    write_daemon_json(SEED_TEXT)

    result = run_pyinfra(*DEPLOY, "--data", "test_log_driver=hd-no-such-driver", check=False)

    assert result.returncode != 0
    assert "docker did not come back" in result.stdout + result.stderr
    assert read_file(DAEMON_JSON) == SEED_TEXT
    assert json.loads(read_file(f"{DAEMON_JSON}.rejected"))["log-driver"] == "hd-no-such-driver"
    assert host_exec(CONTAINER, "systemctl is-active docker") == "active"
