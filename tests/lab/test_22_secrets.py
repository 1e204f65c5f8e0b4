"""Secrets continuity on a real server: a controller that lost its secrets folder, run
from another working directory, takes back what the installed Harbor depends on
(harbor.yml's passwords, the TLS files clients trust) and changes nothing on the
server; a database password other than the installed one is refused; ``--dry``
writes nothing anywhere. The inventory here is the lab's with a relative
``harbor_secrets_dir``, which is taken from the inventory file's folder."""

import hashlib
import json

import pytest

from tests.conftest import ROOT
from tests.lab.conftest import changed_count, host_exec, run_pyinfra

SERVER_TLS = ("/etc/harbor/tls/server.crt", "/etc/harbor/tls/server.key", "/etc/harbor/tls/ca.crt")
INVENTORY = f"""
import runpy

_lab = runpy.run_path({str(ROOT / "inventories" / "lab.py")!r})


def _relative(group):
    return [(name, {{**data, "harbor_secrets_dir": "secrets"}}) for name, data in group]


harbor_servers = _relative(_lab["harbor_servers"])
docker_clients = _relative(_lab["docker_clients"])
"""


@pytest.fixture
def elsewhere(tmp_path):
    """An inventory whose secrets dir ("secrets", relative) is empty, and another cwd."""
    (tmp_path / "inventory").mkdir()
    inventory = tmp_path / "inventory" / "lab_elsewhere.py"
    inventory.write_text(INVENTORY)
    (tmp_path / "cwd").mkdir()
    return {"inventory": inventory, "cwd": tmp_path / "cwd", "secrets": tmp_path / "inventory" / "secrets"}


def pyinfra_elsewhere(place, *args, env=None, check=True):
    return run_pyinfra(*args, env=env, check=check, cwd=place["cwd"])


def server_state(container):
    """What a no-op run must leave as it was: harbor.yml, the TLS files, container starts."""
    files = host_exec(container, "sha256sum /usr/local/harbor/harbor.yml " + " ".join(SERVER_TLS))
    starts = host_exec(
        container,
        "docker inspect --format '{{.Name}} {{.State.StartedAt}}' "
        "$(docker ps -q --filter label=com.docker.compose.project=harbor)",
    )
    return files, sorted(starts.splitlines())


def changed_operations(run):
    return [op["name"] for op in json.loads(run.stdout)["results"]["operations"] if op["success"]]


def test_dry_run_without_secrets_writes_nothing_anywhere(harbor_server, elsewhere):
    before = server_state(harbor_server["container"])
    pyinfra_elsewhere(
        elsewhere, "--dry", str(elsewhere["inventory"]), str(ROOT / "deploys" / "server.py"), "--limit", "harbor-1"
    )
    assert not elsewhere["secrets"].exists()
    assert list(elsewhere["cwd"].iterdir()) == []
    assert server_state(harbor_server["container"]) == before


def test_lost_secrets_come_back_from_the_server_and_nothing_changes_there(harbor_server, elsewhere):
    container, hostname = harbor_server["container"], harbor_server["hostname"]
    lab_secrets = harbor_server["secrets_dir"] / hostname
    before = server_state(container)

    run = pyinfra_elsewhere(
        elsewhere,
        "-y",
        "--json",
        str(elsewhere["inventory"]),
        str(ROOT / "deploys" / "server.py"),
        "--limit",
        "harbor-1",
    )

    assert changed_operations(run) == [
        "Harbor server | Controller secrets | Keep Harbor's secrets in the controller secrets dir"
    ]
    assert server_state(container) == before
    recovered = elsewhere["secrets"] / hostname
    assert sorted(path.name for path in recovered.iterdir()) == [
        "admin_password",
        "ca.crt",
        "db_password",
        "server.crt",
        "server.key",
    ]
    for name in ("admin_password", "db_password", "ca.crt", "server.crt", "server.key"):
        assert (recovered / name).read_bytes().strip() == (lab_secrets / name).read_bytes().strip(), name
        assert oct((recovered / name).stat().st_mode & 0o777) == "0o600"
    assert oct(recovered.stat().st_mode & 0o777) == "0o700"
    assert "recovered from the server" in run.stderr
    for name in ("admin_password", "db_password"):
        assert (recovered / name).read_text() not in run.stdout + run.stderr

    again = pyinfra_elsewhere(
        elsewhere,
        "-y",
        "--json",
        str(elsewhere["inventory"]),
        str(ROOT / "deploys" / "server.py"),
        "--limit",
        "harbor-1",
    )
    assert changed_count(again) == 0, again.stderr
    assert server_state(container) == before


def test_clients_keep_trusting_the_same_ca(harbor_server, elsewhere, lab):
    client = next(h for h in lab["hosts"] if h["group"] == "docker_clients")
    no_login = ("--data", "harbor_client_login_users=[]", "--limit", client["name"])
    run_pyinfra("-y", "inventories/lab.py", "deploys/client.py", *no_login)
    ca = host_exec(client["container"], f"sha256sum /etc/docker/certs.d/{harbor_server['registry']}/ca.crt")
    pyinfra_elsewhere(
        elsewhere, "-y", str(elsewhere["inventory"]), str(ROOT / "deploys" / "server.py"), "--limit", "harbor-1"
    )

    run = pyinfra_elsewhere(
        elsewhere, "-y", "--json", str(elsewhere["inventory"]), str(ROOT / "deploys" / "client.py"), *no_login
    )

    assert changed_count(run) == 0, run.stderr
    assert host_exec(client["container"], f"sha256sum /etc/docker/certs.d/{harbor_server['registry']}/ca.crt") == ca


def test_another_database_password_is_refused_and_nothing_changes(harbor_server, elsewhere):
    before = server_state(harbor_server["container"])
    run = pyinfra_elsewhere(
        elsewhere,
        "-y",
        str(elsewhere["inventory"]),
        str(ROOT / "deploys" / "server.py"),
        "--limit",
        "harbor-1",
        env={"HARBOR_DB_PASSWORD": "An0ther-Password"},
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "db_password: env HARBOR_DB_PASSWORD differs from the password the installed Harbor" in output
    assert "An0ther-Password" not in output
    current = hashlib.sha256(host_exec(harbor_server["container"], "cat /usr/local/harbor/harbor.yml").encode())
    assert current and server_state(harbor_server["container"]) == before
    assert not elsewhere["secrets"].exists()
