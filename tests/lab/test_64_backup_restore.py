"""Backup and restore with the lab's harbor-1:

- a backup, registry storage included, taken while Harbor serves: on the server, named
  by its clock, and copied to the controller (files 0600, checksums verify); status
  shows it;
- the server host destroyed (container and volume gone) and made anew under another
  inventory name: the server deploy installs Harbor, the restore (from the
  controller's folder of the backup, named by its path) brings back a project, its robot (the secret the controller
  keeps still logs in) and a pushed image, which a client pulls with the same digest
  without any change on its side; the server deploy then changes nothing;
- refused before any change: a restore without the hostname repeated, one aimed at
  two hosts, a backup from a newer release, a backup older than the live data
  (naming what is newer);
- a restore from a backup whose dump does not load leaves the live Harbor serving its
  projects and images, and a marker that stops the server deploy; a restore of the
  safety backup it took clears it.
"""

import datetime
import json
import re
import shutil
import subprocess
import uuid

import pytest

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api.client import HarborClient
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from lab import labctl
from lab.labctl import PREFIX
from tests.conftest import ROOT
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
    # Backups named an hour ahead of this server's clock, as a controller whose clock
    # was an hour ahead named them before backups took the server's time: older by
    # their time on the server, whatever their names say.
    ahead = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    skewed = f"/var/backups/harbor-deploy/harbor-{ahead}-v2.13.1"
    host_exec(SERVER, f"mkdir -p {skewed} && touch -d '-1 minute' {skewed}")
    run_pyinfra(
        "-y",
        "inventories/lab.py",
        "deploys/backup.py",
        *LIMIT,
        "--data",
        "harbor_backup_registry=true",
        "--data",
        f"harbor_backup_fetch_dir={content['fetch_dir']}",
        "--data",
        "harbor_backup_keep=1",
    )
    kept = host_exec(SERVER, "ls /var/backups/harbor-deploy").split()
    assert len(kept) == 1 and kept[0] != f"harbor-{ahead}-v2.13.1"  # the new one stays, the skewed one went
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


def restore(harbor_server, *data, inventory="inventories/lab.py", check=True):
    """deploys/restore.py on harbor-1, ``data`` as ``key=value``, confirmed unless ``data`` says."""
    confirmed = (
        []
        if any(d.startswith("harbor_restore_hostname=") for d in data)
        else [f"harbor_restore_hostname={harbor_server['hostname']}"]
    )
    args = [arg for item in (*data, *confirmed) for arg in ("--data", item)]
    return run_pyinfra("-y", inventory, "deploys/restore.py", *LIMIT, *args, check=check)


# The new server under another inventory name: no controller copy is filed under it.
REPLACEMENT_INVENTORY = f"""
import runpy

_lab = runpy.run_path({str(ROOT / "inventories" / "lab.py")!r})
harbor_servers = [("harbor-replacement", data) for _name, data in _lab["harbor_servers"]]
"""


def test_a_new_server_gets_everything_back_from_the_controllers_copy(lab, harbor_server, content, tmp_path):
    [copy] = list((content["fetch_dir"] / "harbor-1").iterdir())
    labctl.recreate(["harbor-1"])
    assert host_exec(SERVER, "ls /usr/local /data 2>/dev/null | grep -c harbor; true") == "0"
    replacement = tmp_path / "inventory.py"
    replacement.write_text(REPLACEMENT_INVENTORY)
    run_pyinfra("-y", str(replacement), "deploys/server.py")
    client, _ = admin(harbor_server)
    assert client.get_or_none(f"/projects/{content['project']}", "project") is None

    # By its path: a backup folder restores whatever host made it, onto a host of
    # another inventory name (its fetch dir, next to that inventory, holds no copy).
    assert not (tmp_path / "harbor-backups").exists()
    restored = run_pyinfra(
        "-y",
        str(replacement),
        "deploys/restore.py",
        "--data",
        f"harbor_restore_from={copy}",
        "--data",
        f"harbor_restore_hostname={harbor_server['hostname']}",
        "--data",
        "harbor_discard_newer_data=true",
    )
    assert "harbor-replacement" in restored.stdout + restored.stderr
    client, store = admin(harbor_server)
    assert client.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    robot = client.with_credentials(f"robot${content['robot']}", store.read(f"robots/{content['robot']}"))
    assert robot.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    assert pulled_digest(content["puller"], content["reference"]) == content["digest"]
    assert changed_count(run_pyinfra("-y", "--json", "inventories/lab.py", "deploys/server.py", *LIMIT)) == 0


def refused_untouched(result, *expected):
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Starting operation" not in output
    for text in expected:
        assert text in output


def test_a_restore_unconfirmed_or_aimed_at_two_hosts_is_refused(harbor_server, content, tmp_path):
    [copy] = list((content["fetch_dir"] / "harbor-1").iterdir())
    refused_untouched(
        restore(harbor_server, f"harbor_restore_from={copy}", "harbor_restore_hostname=harbor", check=False),
        f"harbor_restore_hostname: must repeat harbor_hostname ({harbor_server['hostname']})",
    )
    two = tmp_path / "two.py"
    two.write_text(
        "import runpy\n"
        f"_lab = runpy.run_path({str(ROOT / 'inventories' / 'lab.py')!r})\n"
        "_name, _data = _lab['harbor_servers'][0]\n"
        "_other, _reach = _lab['docker_clients'][0]\n"
        "_ssh = {k: v for k, v in _reach.items() if k.startswith('ssh_')}\n"
        "harbor_servers = [(_name, _data), (_other, {**_data, **_ssh})]\n"
    )
    result = run_pyinfra(
        "-y",
        str(two),
        "deploys/restore.py",
        "--data",
        f"harbor_restore_from={copy}",
        "--data",
        f"harbor_restore_hostname={harbor_server['hostname']}",
        check=False,
    )
    refused_untouched(result, "a restore acts on one named host, and this run reaches harbor-1, client-1")


def test_a_backup_from_a_newer_release_is_refused(harbor_server, content, tmp_path):
    [copy] = list((content["fetch_dir"] / "harbor-1").iterdir())
    newer_name = copy.name.replace("-v2.13.1", "-v2.14.0")
    newer = tmp_path / "harbor-1" / newer_name
    shutil.copytree(copy, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "name": newer_name, "version": "v2.14.0"}))
    refused_untouched(
        restore(harbor_server, f"harbor_restore_from={newer}", check=False),
        f"{newer_name} comes from Harbor v2.14.0, newer than v2.13.1 here",
    )


@pytest.fixture(scope="module")
def newer_push(harbor_server, content):
    """An image pushed after the backup: data a restore of it would drop."""
    reference = content["reference"].rsplit(":", 1)[0] + ":2"
    output = host_exec(
        content["pusher"],
        f"head -c 1000000 /dev/urandom > /tmp/newer.bin && tar -C /tmp -cf - newer.bin | docker import - {reference} "
        f">/dev/null && docker push {reference}",
    )
    return {"reference": reference, "digest": next(w for w in output.split() if w.startswith("sha256:"))}


def test_a_backup_older_than_the_live_data_is_refused_naming_what_is_newer(harbor_server, content, newer_push):
    [copy] = list((content["fetch_dir"] / "harbor-1").iterdir())
    before = host_exec(SERVER, "docker ps -q | xargs docker inspect --format '{{.Name}} {{.State.StartedAt}}'")
    refused_untouched(
        restore(harbor_server, f"harbor_restore_from={copy}", check=False),
        f"the live data is newer than {copy.name}: 1 tags made since",
        "set harbor_discard_newer_data: true",
    )
    assert host_exec(SERVER, "docker ps -q | xargs docker inspect --format '{{.Name}} {{.State.StartedAt}}'") == before


def test_a_dump_that_does_not_load_leaves_harbor_serving_and_a_marker_a_restore_clears(
    harbor_server, content, newer_push, tmp_path
):
    [copy] = list((content["fetch_dir"] / "harbor-1").iterdir())
    # A backup of its own (the server holds the good one under the copy's name), whose
    # dump was cut short when it was taken.
    name = copy.name.replace("Z-v", "Z-broken-v")
    broken = tmp_path / name
    shutil.copytree(copy, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "name": name}))
    dump = broken / "registry.pgdump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    (broken / "SHA256SUMS").write_text(
        subprocess.run(
            ["sha256sum", *sorted(p.name for p in broken.iterdir() if p.name != "SHA256SUMS")],
            cwd=broken,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    failed = restore(harbor_server, f"harbor_restore_from={broken}", "harbor_discard_newer_data=true", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0 and "does not load: the live data is as it was" in output
    # Harbor served all along, with everything it had: the image pushed after the backup too.
    assert pulled_digest(content["puller"], newer_push["reference"]) == newer_push["digest"]
    assert pulled_digest(content["puller"], content["reference"]) == content["digest"]
    marker = host_exec(SERVER, "cat /var/lib/harbor-deploy/unfinished")
    safety = re.search(r"from before it is in \S+/(harbor-\S+)[:]", marker).group(1)
    refused_untouched(
        run_pyinfra("-y", "inventories/lab.py", "deploys/server.py", *LIMIT, check=False),
        "an operation on Harbor's data did not finish here (/var/lib/harbor-deploy/unfinished: the restore of",
    )
    restore(harbor_server, f"harbor_restore_from={safety}")
    assert host_exec(SERVER, "cat /var/lib/harbor-deploy/unfinished 2>/dev/null || echo none") == "none"
    assert pulled_digest(content["puller"], newer_push["reference"]) == newer_push["digest"]
    assert changed_count(run_pyinfra("-y", "--json", "inventories/lab.py", "deploys/server.py", *LIMIT)) == 0
