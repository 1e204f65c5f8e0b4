"""`make lab-up` reuses healthy hosts, survives a killed dockerd; down leaves nothing."""

import os
import subprocess
import sys

from lab.labctl import CONTAINERD_PIDFILE, DOCKERD_PIDFILE, load_state, mirror_answers, state_dir
from tests.conftest import ROOT
from tests.lab.conftest import host_exec


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


def test_lab_up_recovers_after_every_docker_process_was_killed(lab):
    # What CI may meet: every process on the machine was ended, dockerd, its
    # containerd and shims, and the lab hosts' own processes.
    hosts_init = [subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", h["container"]],
                                 capture_output=True, text=True, check=True).stdout.strip()
                  for h in lab["hosts"]]
    engine = [path.read_text().strip() for path in
              (DOCKERD_PIDFILE, CONTAINERD_PIDFILE, state_dir() / "mirror.pid")]
    subprocess.run(["kill", "-9", *hosts_init, *engine], check=True)
    subprocess.run(["pkill", "-9", "-f", "containerd-shim-runc-v2 -namespace moby"], check=False)
    assert subprocess.run(["docker", "info"], capture_output=True).returncode != 0
    labctl("up")
    # Restarted containers may get new addresses: later tests read the new state.
    lab.update(load_state())
    for host in lab["hosts"]:
        assert host_exec(host["container"], "systemctl is-system-running") == "running"
    assert mirror_answers(lab["mirror_url"])


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
