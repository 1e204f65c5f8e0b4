"""`make lab-up` reuses healthy hosts; down leaves nothing. (Recovery from a killed
engine is not tested here: that would kill processes this suite did not start.)"""

import os
import subprocess
import sys

from lab.labctl import mirror_answers
from tests.conftest import ROOT


def labctl(command, env=None):
    result = subprocess.run([sys.executable, "-m", "lab.labctl", command], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def container_ids(state):
    return {h["name"]: container_id(h["container"]) for h in state["hosts"]}


def container_id(container):
    return subprocess.run(["docker", "inspect", "-f", "{{.Id}}", container],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_lab_up_again_reuses_every_healthy_host(lab):
    before = container_ids(lab)
    output = labctl("up")
    assert container_ids(lab) == before
    for host in lab["hosts"]:
        assert f"{host['name']}: reused" in output


def test_lab_down_leaves_no_containers_networks_or_volumes(tmp_path):
    env = {"LAB_PREFIX": "hd-labtest", "LAB_CLIENTS": "1", "LAB_BARE": "0",
           "LAB_STATE_DIR": str(tmp_path / "state"), "LAB_MIRROR_PORT": "18489"}
    labctl("up", env)
    assert (tmp_path / "state" / "hosts.json").exists()
    assert mirror_answers("http://127.0.0.1:18489")
    labctl("down", env)
    assert not mirror_answers("http://127.0.0.1:18489")

    def listed(*args):
        return subprocess.run(["docker", *args, "--filter", "label=harbor-deploy-lab=hd-labtest",
                               "-q"], capture_output=True, text=True, check=True).stdout.split()

    assert listed("ps", "-a") == []
    assert listed("network", "ls") == []
    assert listed("volume", "ls") == []
    assert not (tmp_path / "state").exists()
