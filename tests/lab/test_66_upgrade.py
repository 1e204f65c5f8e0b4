"""Upgrades of the lab's harbor-1 by the server deploy (``harbor_version`` changed):

- from v2.11.2, a jump to v2.14.0 is refused naming the steps, and nothing changes;
- v2.11.2 -> v2.13.1 with a project, its robot and a pushed image, the SSH connection
  cut during its backup: the upgrade goes on on the host (a unit of its own), the
  next run waits for it and changes nothing; all still there, the robot's stored
  secret logs in, a client pulls the same digest with no change on its side; the
  previous release stays beside the new one; a re-run changes nothing;
- a downgrade back to v2.11.2 is refused, nothing changes;
- v2.13.1 -> v2.14.0 with the stand-in's migration failing half-way (its lab switch):
  v2.13.1 comes back healthy with its data, the run fails naming the migration step;
- then v2.13.1 -> v2.14.0 for real, the connection cut as install.sh starts: the next
  run waits and converges likewise; and ``deploys/rollback.py`` back to v2.13.1 with
  its data; the server deploy with v2.13.1 then changes nothing.

The connection is cut as tests/lab/test_52_faults.py does: by killing, inside the lab
host, the SSH session holding the deploy lock.

harbor-1 is reinstalled with v2.13.1 afterwards, as the other tests expect.
"""

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
# What a refused upgrade must leave as it was: the releases, the containers and their start times.
TOUCHED = "ls -l /usr/local; docker ps -q | xargs -r docker inspect --format '{{.Name}} {{.State.StartedAt}}'"


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
    return host_exec(SERVER, f"cat /var/log/harbor-deploy/upgrade-*-to-{version}.log")


def running_version():
    return host_exec(SERVER, "docker inspect --format '{{.Config.Image}}' harbor-core").rsplit(":", 1)[1]


def data_is_there(harbor_server, content):
    store = SecretStore(harbor_server["secrets_dir"] / harbor_server["hostname"])
    api = HarborClient(
        f"https://{harbor_server['address']}:{harbor_server['https_port']}", verify=str(store.path("ca.crt"))
    )
    admin = AdminAccess(api, store).client()
    assert admin.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    robot = admin.with_credentials(f"robot${content['robot']}", store.read(f"robots/{content['robot']}"))
    assert robot.get(f"/projects/{content['project']}", "project")["name"] == content["project"]
    assert pulled_digest(content["puller"], content["reference"]) == content["digest"]


@pytest.fixture(scope="module")
def old_harbor(lab, harbor_server):
    """harbor-1 reinstalled with v2.11.2 and some content; v2.13.1 again afterwards."""
    reset_harbor_server(SERVER)
    deploy("v2.11.2")
    yield harbor_content(lab, harbor_server, f"up-{uuid.uuid4().hex[:6]}")
    reset_harbor_server(SERVER)
    run_pyinfra("-y", *DEPLOY)


def test_a_jump_of_more_than_two_minor_versions_is_refused_naming_the_steps(old_harbor):
    before = host_exec(SERVER, TOUCHED)
    result = deploy("v2.14.0", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "v2.11.2 -> v2.14.0 skips more than 2 minor versions: upgrade in steps, v2.11 -> v2.13 -> v2.14.0" in output
    assert "Starting operation" not in output
    assert host_exec(SERVER, TOUCHED) == before


def test_an_upgrade_cut_during_its_backup_ends_on_the_host_and_keeps_the_data(harbor_server, old_harbor):
    cut = upgrade_cut("v2.13.1", "ls -d /var/backups/harbor-deploy/*.partial >/dev/null 2>&1")
    assert "Upgrade Harbor v2.11.2 -> v2.13.1" in cut
    result = deploy("v2.13.1")  # waits for the unit, then finds v2.13.1 running
    output = result.stdout + result.stderr
    assert f"{WAITED}upgraded v2.11.2 -> v2.13.1 (" in output
    assert "Upgrade Harbor v2.1" not in output  # no upgrade planned again
    assert "upgraded v2.11.2 -> v2.13.1 (" in upgrade_log("v2.13.1")
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
    data_is_there(harbor_server, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_a_downgrade_is_refused(old_harbor):
    result = deploy("v2.11.2", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "v2.11.2 is older than the running Harbor v2.13.1: downgrades are refused" in output
    assert "Starting operation" not in output
    assert running_version() == "v2.13.1"


def test_a_failed_migration_brings_the_previous_release_back_with_its_data(harbor_server, old_harbor):
    host_exec(SERVER, f"mkdir -p $(dirname {FAIL_SWITCH}) && echo 170 > {FAIL_SWITCH}")
    try:
        result = deploy("v2.14.0", "--data", "harbor_health_timeout=60", check=False)
    finally:
        host_exec(SERVER, f"rm -f {FAIL_SWITCH}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "upgrade v2.13.1 -> v2.14.0 failed: Harbor v2.14.0 not healthy; rolling back to v2.13.1" in output
    assert "failed to migrate the database" in output  # core's log tail names the migration
    assert "Harbor v2.13.1 is back, healthy, with the data of harbor-" in output
    assert running_version() == "v2.13.1"
    assert host_exec(SERVER, "readlink /usr/local/harbor") == "/usr/local/harbor-v2.13.1"
    data_is_there(harbor_server, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_then_the_upgrade_to_v2_14_cut_at_install_sh_ends_on_the_host(harbor_server, old_harbor):
    # install.sh's prepare has written the release's compose file (one from the failed
    # attempt above is older than this run's lock).
    upgrade_cut("v2.14.0", f"[ /usr/local/harbor-v2.14.0/docker-compose.yml -nt {LOCK}/session ]")
    result = deploy("v2.14.0")  # waits for the unit, then finds v2.14.0 running
    output = result.stdout + result.stderr
    assert f"{WAITED}upgraded v2.13.1 -> v2.14.0 (" in output
    assert "Upgrade Harbor v2.1" not in output  # no upgrade planned again
    assert "upgraded v2.13.1 -> v2.14.0 (" in upgrade_log("v2.14.0")
    assert running_version() == "v2.14.0"
    assert host_exec(SERVER, "ls -d /usr/local/harbor-v*").split() == [
        "/usr/local/harbor-v2.13.1",
        "/usr/local/harbor-v2.14.0",
    ]
    data_is_there(harbor_server, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY, "--data", "harbor_version=v2.14.0")) == 0


def test_a_rollback_brings_the_previous_release_back_with_its_data(harbor_server, old_harbor):
    result = run_pyinfra("-y", "inventories/lab.py", "deploys/rollback.py", "--limit", "harbor-1")
    output = result.stdout + result.stderr
    assert "Roll back Harbor v2.14.0 -> v2.13.1 with the data of harbor-" in output
    assert "set harbor_version to v2.13.1 in the inventory" in output
    assert running_version() == "v2.13.1"
    assert host_exec(SERVER, "readlink /usr/local/harbor") == "/usr/local/harbor-v2.13.1"
    data_is_there(harbor_server, old_harbor)
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0
