"""Upgrades of the lab's harbor-1 by the server deploy (``harbor_version`` changed), one
chain on one Harbor whose data volume is a filesystem of its own (a tmpfs: it can be
filled):

- from v2.11.2, a jump to v2.14.0 is refused naming the steps, and nothing changes;
- v2.11.2 -> v2.13.1 with a project, its robot and a pushed image, while a client
  pushes in a loop, the SSH connection cut during its backup: the upgrade goes on on
  the host (a unit of its own), the next run waits for it and changes nothing; all
  still there, the robot's stored secret logs in, a client pulls the same digest with
  no change on its side, and every push Harbor acknowledged is there; the previous
  release stays beside the new one; a re-run changes nothing;
- a downgrade back to v2.11.2 is refused, nothing changes;
- v2.13.1 -> v2.14.0 with the stand-in's migration failing half-way (its lab switch):
  v2.13.1 comes back healthy with its data, the run fails naming the migration step;
- then, Harbor stopped, v2.13.1 -> v2.14.0 for real, with its backup, the connection
  cut as install.sh starts: the next run waits and converges likewise;
- ``deploys/rollback.py`` as the sudo user ``opspw``: refused without the hostname
  repeated, then back to v2.13.1 with its data; the server deploy with v2.13.1 then
  changes nothing;
- upgraded again, then a rollback whose restore finds the data volume full: it fails,
  v2.14.0 serves on, a marker stays and the next server run refuses naming it; a
  restore of the safety backup clears it.

The connection is cut as tests/lab/test_52_faults.py does: by killing, inside the lab
host, the SSH session holding the deploy lock.
"""

import hashlib
import json
import re
import subprocess
import uuid

import pytest

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api.client import HarborClient
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from lab.labctl import PREFIX
from tests.conftest import ROOT
from tests.lab.conftest import (
    PYINFRA,
    changed_count,
    harbor_content,
    host_exec,
    pulled_digest,
    reset_harbor_server,
    run_pyinfra,
)
from tests.lab.test_52_faults import LOCK, lock_taken_by, wait_for

SERVER = f"{PREFIX}-harbor-1"
DEPLOY = ("inventories/lab.py", "deploys/server.py", "--limit", "harbor-1")
FAIL_SWITCH = "/data/standin-test/fail-migration"
MARKER = "/var/lib/harbor-deploy/unfinished"
# What a refused upgrade must leave as it was: the releases, the containers and their start times.
TOUCHED = "ls -l /usr/local; docker ps -q | xargs -r docker inspect --format '{{.Name}} {{.State.StartedAt}}'"
# opspw (sudo with a password) as the SSH user, its password in data.
SUDO_INVENTORY = """
import runpy
from pathlib import Path

_lab = runpy.run_path(LAB_INVENTORY)
_password = Path(_lab["_state"]["sudo_password_file"]).read_text().strip()
harbor_servers = [
    (name, {**data, "ssh_user": "opspw", "_sudo": True, "_sudo_password": _password})
    for name, data in _lab["harbor_servers"]
]
"""
# Pushes a new tag over and over until told to stop; each push Harbor acknowledged is
# written down with the digest it acknowledged.
PUSH_LOOP = r"""
dir=/tmp/upgrade-loop; mkdir -p $dir; rm -f $dir/stop $dir/acked; i=0
while [ ! -e $dir/stop ]; do
  i=$((i + 1)); ref="$REFERENCE:$i"
  head -c 100000 /dev/urandom > $dir/layer
  tar -C $dir -cf - layer | docker import - "$ref" >/dev/null
  if out=$(docker push "$ref" 2>&1); then
    echo "$i $(printf '%s
' "$out" | grep -o 'sha256:[0-9a-f]\{64\}' | tail -n 1)" >> $dir/acked
  fi
  docker rmi -f "$ref" >/dev/null 2>&1; sleep 0.3
done
echo done > $dir/ended
"""


def deploy(version, *extra, check=True):
    return run_pyinfra("-y", *DEPLOY, "--data", f"harbor_version={version}", *extra, check=check)


UNIT = "harbor-deploy-upgrade.service"
WAITED = f"waited for the upgrade or rollback an earlier run started ({UNIT}) to end: "


def upgrade_cut(version, reached):
    """An upgrade to ``version`` whose SSH connection is cut as soon as ``reached`` (a
    shell test on the host) holds: the run fails, the upgrade's unit goes on. Its
    output. The host itself polls ``reached`` and kills the session holding the lock,
    so the cut lands within a few hundredths of a second."""
    run = subprocess.Popen(
        [PYINFRA, "-y", *DEPLOY, "--data", f"harbor_version={version}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: lock_taken_by(run), "the run's lock", 600)
        host_exec(
            SERVER,
            f"i=0; until {reached}; do i=$((i + 1)); [ $i -lt 12000 ] || exit 1; sleep 0.05; done; "
            f"session=$(cat {LOCK}/session); "
            'case "$(cat /proc/$session/comm)" in sshd*) kill -9 "$session";; *) exit 1;; esac',
        )
        assert host_exec(SERVER, f"systemctl is-active {UNIT}", check=False) == "active"
        output = run.communicate(timeout=300)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode != 0, f"the run went on after its connection was cut:\n{output[-2000:]}"
    return output


def upgrade_log(version):
    return host_exec(SERVER, f"cat /var/log/harbor-deploy/upgrade-*-to-{version}-*.log")


def running_version():
    return host_exec(SERVER, "docker inspect --format '{{.Config.Image}}' harbor-core").rsplit(":", 1)[1]


def data_is_there(lab_harbor, content):
    store = SecretStore(lab_harbor["secrets_dir"] / lab_harbor["hostname"])
    api = HarborClient(f"https://{lab_harbor['address']}:{lab_harbor['https_port']}", verify=str(store.path("ca.crt")))
    admin = AdminAccess(api, store).client()
    assert admin.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    robot = admin.with_credentials(f"robot${content['robot']}", store.read(f"robots/{content['robot']}"))
    assert robot.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    assert pulled_digest(content["puller"], content["reference"]) == content["digest"]


@pytest.fixture(scope="module")
def old_harbor(lab, lab_harbor):
    """harbor-1 reinstalled with v2.11.2 on a data volume of its own, and some content;
    removed afterwards."""
    reset_harbor_server(SERVER)
    host_exec(SERVER, "mkdir -p /data && mount -t tmpfs -o size=768m tmpfs /data")
    deploy("v2.11.2")
    yield harbor_content(lab, lab_harbor, f"up-{uuid.uuid4().hex[:6]}")
    reset_harbor_server(SERVER)
    host_exec(SERVER, "umount /data", check=False)


def test_a_jump_of_more_than_two_minor_versions_is_refused_naming_the_steps(old_harbor):
    before = host_exec(SERVER, TOUCHED)
    result = deploy("v2.14.0", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "v2.11.2 -> v2.14.0 skips more than 2 minor versions: upgrade in steps, v2.11 -> v2.13 -> v2.14.0" in output
    assert "Starting operation" not in output
    assert host_exec(SERVER, TOUCHED) == before


def acknowledged_pushes_are_there(lab_harbor, content, acked):
    """Every ``(tag, digest)`` Harbor acknowledged is in the project with that digest."""
    admin = lab_harbor["admin"]()
    artifacts = admin.get(
        f"/projects/{content['project']}/repositories/loop/artifacts",
        "artifacts of loop",
        params={"with_tag": "true", "page_size": 100},
    )
    found = {tag["name"]: artifact["digest"] for artifact in artifacts for tag in artifact.get("tags") or []}
    missing = [(tag, digest) for tag, digest in acked if found.get(tag) != digest]
    assert missing == [], f"pushes acknowledged, then missing after the upgrade: {missing}"


def acked_pushes(pusher):
    return [line.split() for line in host_exec(pusher, "cat /tmp/upgrade-loop/acked 2>/dev/null || true").splitlines()]


def test_an_upgrade_cut_during_its_backup_ends_on_the_host_and_loses_no_write(lab_harbor, old_harbor):
    pusher = old_harbor["pusher"]
    reference = f"{lab_harbor['registry']}/{old_harbor['project']}/loop"
    loop = subprocess.Popen(
        ["docker", "exec", "-e", f"REFERENCE={reference}", pusher, "sh", "-c", PUSH_LOOP],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(acked_pushes(pusher)) >= 2, "pushes before the upgrade", 120)
        cut = upgrade_cut("v2.13.1", "ls -d /var/backups/harbor-deploy/*.partial >/dev/null 2>&1")
        assert "Upgrade Harbor v2.11.2 -> v2.13.1" in cut
        result = deploy("v2.13.1")  # waits for the unit, then finds v2.13.1 running
        before = len(acked_pushes(pusher))
        wait_for(lambda: len(acked_pushes(pusher)) > before, "a push to the upgraded Harbor", 120)
    finally:
        host_exec(pusher, "touch /tmp/upgrade-loop/stop")
        loop.wait(timeout=120)
    acked = acked_pushes(pusher)
    assert len(acked) >= 3 and all(len(entry) == 2 for entry in acked)
    acknowledged_pushes_are_there(lab_harbor, old_harbor, acked)
    output = result.stdout + result.stderr
    assert f"{WAITED}upgraded v2.11.2 -> v2.13.1 (" in output
    assert "Upgrade Harbor v2.1" not in output  # no upgrade planned again
    log = upgrade_log("v2.13.1")
    assert "upgraded v2.11.2 -> v2.13.1 (" in log
    # Harbor stopped before the backup began: no write landed after it.
    assert log.index("backed up to ") > 0
    assert host_exec(SERVER, "stat -c %a /var/log/harbor-deploy /var/log/harbor-deploy/upgrade-*.log").split() == [
        "700",
        "600",
    ]
    assert running_version() == "v2.13.1"
    assert host_exec(SERVER, "readlink /usr/local/harbor") == "/usr/local/harbor-v2.13.1"
    assert host_exec(SERVER, "ls -d /usr/local/harbor-v*").split() == [
        "/usr/local/harbor-v2.11.2",
        "/usr/local/harbor-v2.13.1",
    ]
    assert "_version: 2.13.0" in host_exec(SERVER, "cat /usr/local/harbor-v2.13.1/harbor.yml.migrated")
    assert host_exec(SERVER, "ls /var/backups/harbor-deploy").endswith("-v2.11.2")
    data_is_there(lab_harbor, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_a_downgrade_is_refused(old_harbor):
    result = deploy("v2.11.2", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "v2.11.2 is older than the running Harbor v2.13.1: downgrades are refused" in output
    assert "Starting operation" not in output
    assert running_version() == "v2.13.1"


def test_a_failed_migration_brings_the_previous_release_back_with_its_data(lab_harbor, old_harbor):
    host_exec(SERVER, f"mkdir -p $(dirname {FAIL_SWITCH}) && echo 170 > {FAIL_SWITCH}")
    try:
        result = deploy("v2.14.0", "--data", "harbor_health_timeout=60", check=False)
    finally:
        host_exec(SERVER, f"rm -f {FAIL_SWITCH}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "upgrade v2.13.1 -> v2.14.0 failed: Harbor v2.14.0 not healthy; putting v2.13.1 back" in output
    assert "failed to migrate the database" in output  # core's log tail names the migration
    assert "Harbor v2.13.1 is back, healthy, with the data of harbor-" in output
    assert running_version() == "v2.13.1"
    assert host_exec(SERVER, "readlink /usr/local/harbor") == "/usr/local/harbor-v2.13.1"
    assert host_exec(SERVER, f"cat {MARKER} 2>/dev/null || echo none") == "none"
    data_is_there(lab_harbor, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_a_stopped_harbor_is_upgraded_with_a_backup_and_a_cut_at_install_sh_ends_on_the_host(lab_harbor, old_harbor):
    host_exec(SERVER, "systemctl stop harbor.service")
    # install.sh's prepare has written the release's compose file (one from the failed
    # attempt above is older than this run's lock).
    cut = upgrade_cut("v2.14.0", f"[ /usr/local/harbor-v2.14.0/docker-compose.yml -nt {LOCK}/session ]")
    assert "Upgrade Harbor v2.13.1 -> v2.14.0" in cut  # the release on disk, not a running container, says v2.13.1
    result = deploy("v2.14.0")  # waits for the unit, then finds v2.14.0 running
    output = result.stdout + result.stderr
    assert f"{WAITED}upgraded v2.13.1 -> v2.14.0 (" in output
    assert "Upgrade Harbor v2.1" not in output  # no upgrade planned again
    log = upgrade_log("v2.14.0")
    assert "upgraded v2.13.1 -> v2.14.0 (" in log
    backup = re.search(r"backed up to (\S+)", log).group(1)
    manifest = json.loads(host_exec(SERVER, f"cat {backup}/manifest.json"))
    assert (manifest["version"], manifest["reason"]) == ("v2.13.1", "before the upgrade to v2.14.0")
    assert manifest["database"] == "pg_dump"
    assert running_version() == "v2.14.0"
    assert host_exec(SERVER, "ls -d /usr/local/harbor-v*").split() == [
        "/usr/local/harbor-v2.13.1",
        "/usr/local/harbor-v2.14.0",
    ]
    data_is_there(lab_harbor, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY, "--data", "harbor_version=v2.14.0")) == 0


@pytest.fixture(scope="module")
def as_opspw(tmp_path_factory):
    path = tmp_path_factory.mktemp("opspw") / "inventory.py"
    path.write_text(SUDO_INVENTORY.replace("LAB_INVENTORY", repr(str(ROOT / "inventories" / "lab.py"))))
    return path


def rollback(inventory, *extra, check=True):
    return run_pyinfra("-y", str(inventory), "deploys/rollback.py", "--limit", "harbor-1", *extra, check=check)


def test_a_rollback_as_a_sudo_user_needs_the_hostname_then_brings_the_release_back_with_its_data(
    lab_harbor, old_harbor, as_opspw
):
    refused = rollback(as_opspw, check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Starting operation" not in output
    assert f"harbor_rollback_hostname: must repeat harbor_hostname ({lab_harbor['hostname']})" in output
    assert running_version() == "v2.14.0"
    result = rollback(as_opspw, "--data", f"harbor_rollback_hostname={lab_harbor['hostname']}")
    output = result.stdout + result.stderr
    assert "Roll back Harbor v2.14.0 -> v2.13.1 with the data of harbor-" in output
    assert "set harbor_version to v2.13.1 in the inventory" in output
    log = host_exec(SERVER, "cat $(ls -t /var/log/harbor-deploy/rollback-*.log | head -n 1)")
    assert "Harbor v2.13.1 is back, healthy, with the data of" in log
    assert running_version() == "v2.13.1"
    assert host_exec(SERVER, "readlink /usr/local/harbor") == "/usr/local/harbor-v2.13.1"
    data_is_there(lab_harbor, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_a_rollback_that_fails_leaves_a_marker_every_run_stops_on_until_a_restore(lab_harbor, old_harbor, tmp_path):
    deploy("v2.14.0", "--data", f"harbor_backup_fetch_dir={tmp_path}")
    # The backup the upgrade took is on the controller too, whole, as the server named it.
    [copy] = list((tmp_path / "harbor-1").iterdir())
    manifest = json.loads((copy / "manifest.json").read_text())
    assert (manifest["name"], manifest["reason"]) == (copy.name, "before the upgrade to v2.14.0")
    assert copy.name.endswith("-v2.13.1") and host_exec(
        SERVER, f"test -d /var/backups/harbor-deploy/{copy.name} && echo y"
    )
    for line in (copy / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((copy / name.lstrip("*")).read_bytes()).hexdigest() == digest, name
    hostname = lab_harbor["hostname"]
    free_kib = int(host_exec(SERVER, "df -k --output=avail /data | tail -n 1"))
    host_exec(SERVER, f"head -c {max(free_kib - 512, 0)}k /dev/zero > /data/filler; true")
    try:
        failed = run_pyinfra(
            "-y",
            "inventories/lab.py",
            "deploys/rollback.py",
            "--limit",
            "harbor-1",
            "--data",
            f"harbor_rollback_hostname={hostname}",
            check=False,
        )
    finally:
        host_exec(SERVER, "rm -f /data/filler")
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    marker = host_exec(SERVER, f"cat {MARKER}")
    assert "the rollback v2.14.0 -> v2.13.1 failed" in marker and "run deploys/restore.py" in marker
    safety = re.search(r"the data of v2\.14\.0 from before it is in \S+/(harbor-\S+-v2\.14\.0)", marker).group(1)
    assert "does not load: the live data is as it was" in output
    assert running_version() == "v2.14.0"  # the release that was running serves on

    refused = deploy("v2.14.0", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and f"did not finish here ({MARKER}: the rollback v2.14.0 -> v2.13.1" in output
    assert "Starting operation" not in output

    restored = run_pyinfra(
        "-y",
        "inventories/lab.py",
        "deploys/restore.py",
        "--limit",
        "harbor-1",
        "--data",
        f"harbor_restore_from={safety}",
        "--data",
        f"harbor_restore_hostname={hostname}",
    )
    assert restored.returncode == 0
    log = host_exec(SERVER, "cat $(ls -t /var/log/harbor-deploy/restore-*.log | head -n 1)")
    assert f"restored /var/backups/harbor-deploy/{safety} into Harbor v2.14.0" in log
    assert host_exec(SERVER, f"cat {MARKER} 2>/dev/null || echo none") == "none"
    data_is_there(lab_harbor, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY, "--data", "harbor_version=v2.14.0")) == 0
