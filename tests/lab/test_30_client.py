"""The client deploy on the lab's Docker clients (LAB_CLIENTS >= 3) against the
Harbor of the session fixture ``harbor_server`` (tests/lab/conftest.py):

- client-1 starts without daemon.json, client-2 with a daemon.json holding other
  settings, client-3 with a daemon.json that is not valid JSON;
- HTTPS: CA trusted through certs.d, root logged in, an image pushed from every
  client and pulled from another one, dockerd never restarted or reloaded; the
  invalid-JSON host fails alone, untouched; a second run changes nothing;
- HTTP: the exact registry merged into insecure-registries by a reload, other keys
  kept; a second run changes nothing.
"""

import base64
import hashlib
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from harbor_deploy.facts.docker_client import DockerLoginCheck, certs_d_ca, login_probe
from harbor_deploy.lib.render import tls
from tests.conftest import ROOT
from tests.lab.conftest import PYINFRA, client_data, host_exec, lab_check_report, run_pyinfra

DAEMON_JSON = "/etc/docker/daemon.json"
SEED = {"log-driver": "json-file", "log-opts": {"max-size": "10m"}, "insecure-registries": ["other:5000"]}
INVALID = '{"insecure-registries": ["other:5000"],}'


@pytest.fixture(scope="module")
def clients(lab):
    """(name, container) of the first three docker_clients of the lab."""
    found = [(h["name"], h["container"]) for h in lab["hosts"] if h["group"] == "docker_clients"]
    assert len(found) >= 3, f"tests/lab/test_30_client.py needs LAB_CLIENTS >= 3, the lab has {len(found)}"
    return found[:3]


def read(container, path):
    return host_exec(container, f"cat {path}", check=False) if exists(container, path) else None


def exists(container, path):
    return host_exec(container, f"test -e '{path}' && echo yes", check=False) == "yes"


def write(container, path, text, mode="644"):
    host_exec(
        container, f"mkdir -p \"$(dirname '{path}')\" && printf '%s' '{text}' > '{path}' && chmod {mode} '{path}'"
    )


def dockerd(container):
    """What a dockerd restart changes (a reload, SIGHUP, keeps both)."""
    return host_exec(container, "systemctl show docker -p MainPID -p ActiveEnterTimestamp")


def running_registries(container):
    return json.loads(host_exec(container, "docker info --format '{{json .RegistryConfig.IndexConfigs}}'"))


def deploy(hosts, data, env=None, entry="deploys/client.py"):
    """Run a client deploy entry with --json on ``hosts``; returns (returncode, parsed, stderr)."""
    args = [PYINFRA, "-y", "--json", "inventories/lab.py", entry]
    for name in hosts:
        args += ["--limit", name]
    for key, value in data.items():
        args += ["--data", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    try:
        parsed = json.loads(result.stdout) if entry == "deploys/client.py" else result.stdout
    except json.JSONDecodeError:
        raise AssertionError(f"pyinfra printed no JSON:\n{result.stdout}\n{result.stderr}") from None
    return result.returncode, parsed, result.stderr


class ClientSnapshot:
    """Everything the tests change on one client, restored afterwards (docker is
    restarted only when its running registry configuration must drop an entry)."""

    PATHS = (DAEMON_JSON, f"{DAEMON_JSON}.bak", f"{DAEMON_JSON}.rejected", "/root/.docker/config.json")

    def __init__(self, container, registries):
        self.container, self.registries = container, registries
        self.files = {path: read(container, path) for path in self.PATHS}
        self.ca_dirs = {r: exists(container, certs_d_ca(r)) and read(container, certs_d_ca(r)) for r in registries}
        running = running_registries(container)
        self.insecure = {r for r in registries if r in running and not running[r]["Secure"]}

    def restore(self):
        for path, text in self.files.items():
            if text is None:
                host_exec(self.container, f"rm -f {path}")
            else:
                write(self.container, path, text, mode="600" if path.startswith("/root/") else "644")
        for registry, ca in self.ca_dirs.items():
            if ca:
                write(self.container, certs_d_ca(registry), ca)
            else:
                host_exec(self.container, f"rm -rf '/etc/docker/certs.d/{registry}'")
        host_exec(
            self.container,
            "docker image ls --format '{{.Repository}}:{{.Tag}}' | grep /hd-smoke: "
            "| xargs -r docker image rm --force >/dev/null",
            check=False,
        )
        running = running_registries(self.container)
        if any(r in running and not running[r]["Secure"] and r not in self.insecure for r in self.registries):
            host_exec(self.container, "systemctl restart docker")


@pytest.fixture
def seeded(clients, harbor_server):
    """client-2 with other settings, client-3 with invalid JSON; all restored afterwards."""
    registries = [harbor_server["registry"], f"{harbor_server['hostname']}:{harbor_server['http_port']}"]
    snapshots = [ClientSnapshot(container, registries) for _, container in clients]
    (_, first), (_, second), (_, third) = clients
    host_exec(
        first,
        f"rm -f {DAEMON_JSON} {DAEMON_JSON}.bak /root/.docker/config.json "
        f"&& rm -rf '/etc/docker/certs.d/{harbor_server['registry']}'",
    )
    write(second, DAEMON_JSON, json.dumps(SEED))
    write(third, DAEMON_JSON, INVALID)
    for _, container in clients:
        host_exec(container, f"rm -f {DAEMON_JSON}.bak {DAEMON_JSON}.rejected")
    yield clients
    for snapshot in snapshots:
        snapshot.restore()


def test_https_trust_login_push_pull_without_docker_restart_and_the_invalid_host_alone(seeded, harbor_server):
    (name1, c1), (name2, c2), (name3, c3) = seeded
    registry = harbor_server["registry"]
    env = {"HARBOR_CLIENT_PASSWORD": harbor_server["admin_password"]().reveal()}
    before = {c: dockerd(c) for _, c in seeded}

    code, output, stderr = deploy(
        [name1, name2, name3], client_data(harbor_server, harbor_client_smoke_test=True), env=env
    )

    assert code == 1
    assert output["results"]["failed_hosts"] == [name3], stderr
    assert f"[{name3}] {DAEMON_JSON} is not valid JSON" in stderr
    assert env["HARBOR_CLIENT_PASSWORD"] not in json.dumps(output) + stderr
    # The invalid host is untouched: same file, no backup, no CA, no login.
    assert read(c3, DAEMON_JSON) == INVALID
    assert not exists(c3, f"{DAEMON_JSON}.bak")
    # Trust by certs.d (the server deploy's CA), daemon.json as it was, docker not restarted.
    ca = Path(harbor_server["secrets_dir"]) / harbor_server["hostname"] / "ca.crt"
    for container in (c1, c2):
        assert (
            host_exec(container, f"sha256sum '{certs_d_ca(registry)}' | cut -d' ' -f1")
            == hashlib.sha256(ca.read_bytes()).hexdigest()
        )
        assert host_exec(container, f"stat -c '%a %U:%G' '{certs_d_ca(registry)}'") == "644 root:root"
        assert "<redacted>" in host_exec(
            container, 'sed -E \'s/"auth": "[^"]+"/"auth": "<redacted>"/\' ' "/root/.docker/config.json"
        )
    assert not exists(c1, DAEMON_JSON)
    assert json.loads(read(c2, DAEMON_JSON)) == SEED
    assert {c: dockerd(c) for _, c in seeded} == before
    # Each client pushed its own image and pulled the other's from the registry.
    for puller, pushed_by in ((c1, name2), (c2, name1)):
        reference = f"{registry}/library/hd-smoke:{pushed_by}"
        digests = host_exec(puller, f"docker image inspect --format '{{{{json .RepoDigests}}}}' {reference}")
        assert json.loads(digests)[0].startswith(f"{registry}/library/hd-smoke@sha256:")

    code, again, stderr = deploy([name1, name2, name3], client_data(harbor_server), env=env)
    assert again["results"]["totals"]["success"] == 0, stderr
    assert again["results"]["failed_hosts"] == [name3]
    assert {c: dockerd(c) for _, c in seeded} == before

    _, status, _ = deploy([name1, name2], client_data(harbor_server), env=env, entry="deploys/client_status.py")
    states = {
        line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2])
        for line in status.splitlines()
        if line.startswith("client-state ")
    }
    for name in (name1, name2):
        assert states[name]["trust"] == "https"
        assert states[name]["logins"]["root"] == {"user_exists": True, "username": "admin", "works": True}


def test_http_mode_merges_the_exact_registry_by_reload_and_keeps_other_keys(seeded, harbor_server):
    (name1, c1), (name2, c2), _ = seeded
    registry = f"{harbor_server['hostname']}:{harbor_server['http_port']}"
    data = client_data(harbor_server, harbor_client_trust="http", harbor_client_login_users=[])
    before = {c: dockerd(c) for c in (c1, c2)}

    code, output, stderr = deploy([name1, name2], data)

    assert code == 0, stderr
    assert json.loads(read(c2, DAEMON_JSON)) == {**SEED, "insecure-registries": ["other:5000", registry]}
    assert read(c2, f"{DAEMON_JSON}.bak") == json.dumps(SEED)
    assert json.loads(read(c1, DAEMON_JSON)) == {"insecure-registries": [registry]}
    for container in (c1, c2):
        assert running_registries(container)[registry]["Secure"] is False  # applied by the reload
        assert not exists(container, f"/etc/docker/certs.d/{registry}")
    assert {c: dockerd(c) for c in (c1, c2)} == before

    code, again, stderr = deploy([name1, name2], data)
    assert code == 0, stderr
    assert again["results"]["totals"]["success"] == 0


@pytest.fixture
def without_compose(clients, harbor_server):
    """client-1 as Debian 12's docker.io leaves a host: dockerd and the CLI, no compose
    v2 (its plugin moved aside); put back afterwards, with what the deploy changed."""
    name, container = clients[0]
    snapshot = ClientSnapshot(container, [harbor_server["registry"]])
    plugin = host_exec(container, "docker info --format '{{range .ClientInfo.Plugins}}{{.Path}} {{end}}'").split()
    [compose] = [path for path in plugin if path.endswith("/docker-compose")]
    host_exec(container, f"mv {compose} /root/docker-compose.aside")
    yield name, container
    host_exec(container, f"mv /root/docker-compose.aside {compose}")
    snapshot.restore()


def test_a_client_without_compose_v2_is_kept_as_it_is_and_pushes(without_compose, harbor_server):
    """The client deploy needs dockerd and the CLI only: no package installed, no
    restart, the smoke test pushes and pulls."""
    name, container = without_compose
    assert host_exec(container, "docker compose version >/dev/null 2>&1 && echo has || echo none") == "none"
    before = dockerd(container)
    env = {"HARBOR_CLIENT_PASSWORD": harbor_server["admin_password"]().reveal()}
    code, output, stderr = deploy([name], client_data(harbor_server, harbor_client_smoke_test=True), env=env)
    assert code == 0, stderr
    engine = [op for op in output["results"]["operations"] if "Docker engine (dockerd and the CLI)" in op["name"]]
    assert engine and not any(op["success"] for op in engine), engine  # nothing installed, nothing started
    assert host_exec(container, "docker compose version >/dev/null 2>&1 && echo has || echo none") == "none"
    assert dockerd(container) == before
    assert (
        host_exec(container, f"docker image inspect {harbor_server['registry']}/library/hd-smoke:{name} -f ok") == "ok"
    )


@pytest.fixture
def robot_client(clients, harbor_server):
    """client-1 logged in as a robot of its own project (configure made it), converged;
    its engine, dpkg database and files put back afterwards."""
    name, container = clients[0]
    project = "fleetprobe"
    data = {"harbor_projects": [{"name": project}], "harbor_robots": [{"name": "puller", "project": project}]}
    args = [a for key, value in data.items() for a in ("--data", f"{key}={json.dumps(value)}")]
    run_pyinfra("-y", "inventories/lab.py", "deploys/configure.py", "--limit", "harbor-1", *args)
    snapshot = ClientSnapshot(container, [harbor_server["registry"]])
    host_exec(container, "cp -p /var/lib/dpkg/status /root/dpkg-status.aside")
    robot = f"robot${project}+puller"
    yield name, container, client_data(harbor_server, harbor_client_username=robot), robot
    host_exec(container, "systemctl enable --now docker >/dev/null 2>&1")
    host_exec(container, "mv /root/dpkg-status.aside /var/lib/dpkg/status && rm -rf /tmp/hd-nodocker")
    snapshot.restore()


def login_without_docker(container, registry):
    """The client fact's login check run on the host with no docker program in reach:
    what it reports comes from the stored credentials and Harbor's answer alone."""
    tools = "sh curl getent cut tr sed base64 grep printf"
    host_exec(
        container,
        f"mkdir -p /tmp/hd-nodocker && for t in {tools}; do "
        'p=$(command -v $t) && case "$p" in /*) ln -sf "$p" /tmp/hd-nodocker/$t;; esac; done',
    )
    probe = shlex.quote(login_probe(registry, "root"))
    return DockerLoginCheck().process(host_exec(container, f"PATH=/tmp/hd-nodocker sh -c {probe}").splitlines())


def changed_operations(output):
    return sorted(op["name"] for op in output["results"]["operations"] if op["success"])


def test_the_converged_run_still_catches_an_engine_change_a_refused_secret_and_another_ca(robot_client, harbor_server):
    """The converged client reads files and asks Harbor for one token per login; a
    changed engine (its package, its service), a stored secret Harbor refuses (revoked
    or rotated elsewhere) and a CA that is not the server's are each caught, and put
    right, by a run that otherwise changes nothing."""
    name, container, data, robot = robot_client
    registry = harbor_server["registry"]
    code, _, stderr = deploy([name], data)
    assert code == 0, stderr
    code, output, stderr = deploy([name], data)
    assert (code, output["results"]["totals"]["success"]) == (0, 0), stderr
    assert login_without_docker(container, registry) == {"user_exists": True, "username": robot, "works": True}

    # The engine's package changed: what the fact reports follows dpkg's database.
    host_exec(
        container, "sed -i '/^Package: docker.io$/,/^$/s/^Version: .*/Version: 99.0.1+dfsg1-1/' /var/lib/dpkg/status"
    )
    checked = run_pyinfra("-y", "inventories/lab.py", "deploys/lab_check.py", "--limit", name)
    assert lab_check_report(checked.stdout + checked.stderr)[name]["docker_version"] == "99.0.1+dfsg1"
    # The engine stopped and disabled: started and enabled again, nothing else.
    host_exec(container, "systemctl disable --now docker.service >/dev/null 2>&1")
    code, output, stderr = deploy([name], data)
    assert code == 0, stderr
    changed = changed_operations(output)
    assert changed and all("Docker engine" in op for op in changed), changed
    assert host_exec(container, "systemctl is-active docker; systemctl is-enabled docker") == "active\nenabled"

    # A secret Harbor refuses, stored for the same robot: logged in again with the right one.
    wrong = base64.b64encode(f"{robot}:not-the-secret".encode()).decode()
    host_exec(container, f'sed -i \'s/"auth": "[^"]*"/"auth": "{wrong}"/\' /root/.docker/config.json')
    assert login_without_docker(container, registry)["works"] is False  # Harbor's 401
    code, output, stderr = deploy([name], data)
    assert code == 0, stderr
    changed = changed_operations(output)
    assert len(changed) == 1 and f"docker login {registry} as {robot} for root" in changed[0], changed
    assert wrong not in host_exec(container, "cat /root/.docker/config.json")

    # Another CA in certs.d: the server's put back, and the login checked against it.
    _, other_ca = tls.generate_ca("someone-else.example")
    write(container, certs_d_ca(registry), tls.cert_pem(other_ca).decode())
    assert login_without_docker(container, registry)["works"] is False  # Harbor not verified
    code, output, stderr = deploy([name], data)
    assert code == 0, stderr
    assert any(f"Registry CA for {registry}" in op for op in changed_operations(output))
    ca = Path(harbor_server["secrets_dir"]) / harbor_server["hostname"] / "ca.crt"
    assert (
        host_exec(container, f"sha256sum '{certs_d_ca(registry)}' | cut -d' ' -f1")
        == hashlib.sha256(ca.read_bytes()).hexdigest()
    )

    code, output, stderr = deploy([name], data)
    assert (code, output["results"]["totals"]["success"]) == (0, 0), stderr


@pytest.fixture
def builder(clients, harbor_server):
    """client-1 with an OS user ``builder`` outside the docker group (it cannot reach the
    daemon, so ``docker login`` cannot log it in), removed afterwards."""
    name, container = clients[0]
    host_exec(container, "userdel -r builder >/dev/null 2>&1; useradd -m -s /bin/sh builder")
    snapshot = ClientSnapshot(container, [harbor_server["registry"]])
    yield name, container
    host_exec(container, "userdel -r builder >/dev/null 2>&1; true")
    snapshot.restore()


def test_a_user_with_no_docker_config_gets_the_login_docker_would_write_without_docker(builder, harbor_server):
    """The first login of a user whose ~/.docker/config.json holds nothing is checked
    with Harbor and written by the host (docker could not have: the user cannot reach
    the daemon); the daemon accepts what was written; a second run changes nothing."""
    name, container = builder
    registry = harbor_server["registry"]
    data = client_data(harbor_server, harbor_client_login_users=["builder"])
    assert "permission denied" in host_exec(container, "runuser -u builder -- docker info 2>&1; true").lower()
    code, output, stderr = deploy([name], data)
    assert code == 0, stderr
    assert any(f"docker login {registry} as admin for builder" in op for op in changed_operations(output))
    assert host_exec(container, "stat -c '%U %a' /home/builder/.docker /home/builder/.docker/config.json") == (
        "builder 700\nbuilder 600"
    )
    stored = json.loads(host_exec(container, "cat /home/builder/.docker/config.json"))
    assert list(stored) == ["auths"] and list(stored["auths"]) == [registry]
    assert base64.b64decode(stored["auths"][registry]["auth"]).decode().split(":")[0] == "admin"
    code, output, stderr = deploy([name], data)
    assert (code, output["results"]["totals"]["success"]) == (0, 0), stderr
    # Once the user may reach the daemon, docker logs in with what was stored (docker
    # login with no input reads the stored credentials, or fails at once).
    host_exec(container, "usermod -aG docker builder")
    login = host_exec(container, f"runuser -u builder -- docker login {registry} </dev/null 2>&1; echo rc=$?")
    assert login.endswith("rc=0"), login
