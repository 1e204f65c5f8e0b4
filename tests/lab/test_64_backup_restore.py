"""Backup and restore with the lab's harbor-1:

- a backup, registry storage included, taken while Harbor serves: on the server and
  copied to the controller (files 0600, checksums verify); status shows it;
- the server host destroyed (container and volume gone) and made anew: the server
  deploy installs Harbor, the restore brings back a project, its robot (the secret
  the controller keeps still logs in) and a pushed image, which a client pulls with
  the same digest without any change on its side; the server deploy then changes
  nothing;
- a backup from a newer release than the installed one is refused before any change.
"""

import json
import shutil
import subprocess
import uuid

import pytest

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api.client import HarborClient
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from lab import labctl
from lab.labctl import PREFIX
from tests.lab.conftest import changed_count, harbor_content, host_exec, pulled_digest, run_pyinfra

SERVER = f"{PREFIX}-harbor-1"
LIMIT = ("--limit", "harbor-1")


def admin(harbor_server):
    """An admin client at harbor-1's address as the lab state has it now (a new host may have another)."""
    address = next(h["address"] for h in labctl.load_state()["hosts"] if h["name"] == "harbor-1")
    store = SecretStore(harbor_server["secrets_dir"] / harbor_server["hostname"])
    api = HarborClient(f"https://{address}:{harbor_server['https_port']}", verify=str(store.path("ca.crt")))
    return AdminAccess(api, store).client(), store


@pytest.fixture(scope="module")
def content(lab, harbor_server, tmp_path_factory):
    return {
        **harbor_content(lab, harbor_server, f"bk-{uuid.uuid4().hex[:6]}"),
        "fetch_dir": tmp_path_factory.mktemp("backups"),
    }


def test_backup_while_harbor_serves_on_the_server_and_the_controller(content):
    run_pyinfra(
        "-y",
        "inventories/lab.py",
        "deploys/backup.py",
        *LIMIT,
        "--data",
        "harbor_backup_registry=true",
        "--data",
        f"harbor_backup_fetch_dir={content['fetch_dir']}",
    )
    [copy] = list((content["fetch_dir"] / "harbor-1").iterdir())
    assert copy.name.startswith("harbor-") and copy.name.endswith("-v2.13.1")
    assert oct(copy.stat().st_mode & 0o777) == "0o700"
    names = {path.name for path in copy.iterdir()}
    assert names == {
        "registry.pgdump",
        "secret.tgz",
        "config.tgz",
        "tls.tgz",
        "registry.tar",
        "manifest.json",
        "SHA256SUMS",
    }
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for path in copy.iterdir())
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=copy, check=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["database"] == "pg_dump" and manifest["registry"] is True
    assert (
        host_exec(SERVER, f"cd /var/backups/harbor-deploy/{copy.name} && sha256sum -c --quiet SHA256SUMS && echo ok")
        == "ok"
    )
    status = run_pyinfra("-y", "inventories/lab.py", "deploys/status.py", *LIMIT)
    line = next(x for x in (status.stdout + status.stderr).splitlines() if "harbor-status harbor-1 " in x)
    assert json.loads(line.split("harbor-status harbor-1 ", 1)[1])["backups"]["last"] == copy.name


def test_a_new_server_gets_everything_back_from_the_controllers_copy(lab, harbor_server, content):
    counts = {group: sum(h["group"] == group for h in lab["hosts"]) for group in ("docker_clients", "bare_hosts")}
    labctl.recreate(["harbor-1"], clients=counts["docker_clients"], bare=counts["bare_hosts"])
    assert host_exec(SERVER, "ls /usr/local /data 2>/dev/null | grep -c harbor; true") == "0"
    run_pyinfra("-y", "inventories/lab.py", "deploys/server.py", *LIMIT)
    client, _ = admin(harbor_server)
    assert client.get_or_none(f"/projects/{content['project']}", "project") is None

    run_pyinfra(
        "-y",
        "inventories/lab.py",
        "deploys/restore.py",
        *LIMIT,
        "--data",
        f"harbor_backup_fetch_dir={content['fetch_dir']}",
    )
    client, store = admin(harbor_server)
    assert client.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    robot = client.with_credentials(f"robot${content['robot']}", store.read(f"robots/{content['robot']}"))
    assert robot.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    assert pulled_digest(content["puller"], content["reference"]) == content["digest"]
    assert changed_count(run_pyinfra("-y", "--json", "inventories/lab.py", "deploys/server.py", *LIMIT)) == 0


def test_a_backup_from_a_newer_release_is_refused(content, tmp_path):
    [copy] = list((content["fetch_dir"] / "harbor-1").iterdir())
    newer_name = copy.name.replace("-v2.13.1", "-v2.14.0")
    newer = tmp_path / "harbor-1" / newer_name
    shutil.copytree(copy, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "name": newer_name, "version": "v2.14.0"}))
    result = run_pyinfra(
        "-y",
        "inventories/lab.py",
        "deploys/restore.py",
        *LIMIT,
        "--data",
        f"harbor_backup_fetch_dir={tmp_path}",
        "--data",
        f"harbor_restore_from={newer_name}",
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{newer_name} comes from Harbor v2.14.0, newer than v2.13.1 here" in output
    assert "Starting operation" not in output
