"""`make lab-up` reuses healthy hosts; down leaves nothing. (Recovery from a killed
engine is not tested here: that would kill processes this suite did not start.)"""

import os
import subprocess
import sys

from lab.labctl import mirror_answers
from tests.conftest import ROOT


def labctl(command, env=None):
    result = subprocess.run(
        [sys.executable, "-m", "lab.labctl", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def container_ids(state):
    return {h["name"]: container_id(h["container"]) for h in state["hosts"]}


def container_id(container):
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", container], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_lab_up_again_reuses_every_healthy_host(lab):
    before = container_ids(lab)
    size = {
        "LAB_CLIENTS": str(sum(h["group"] == "docker_clients" for h in lab["hosts"])),
        "LAB_BARE": str(sum(h["group"] == "bare_hosts" for h in lab["hosts"])),
    }
    output = labctl("up", size)
    assert container_ids(lab) == before
    for host in lab["hosts"]:
        assert f"{host['name']}: reused" in output


def test_lab_status_shows_each_host_how_to_reach_it_and_harbors_health(lab, harbor_server):
    output = labctl("status")
    for host in lab["hosts"]:
        line = next(line for line in output.splitlines() if line.strip().startswith(host["name"] + " "))
        assert "container running, systemd running" in line and host["address"] in line
        assert f"-p {host['ssh_port']} root@127.0.0.1" in output
    assert "Harbor: healthy" in output
    server = next(h for h in lab["hosts"] if h["group"] == "harbor_servers")
    assert f"'{server['address']} {lab['harbor_dns_name']}' to /etc/hosts" in output
    # The printed SSH command works as printed.
    ssh = next(line.strip() for line in output.splitlines() if f"-p {server['ssh_port']} root@" in line).split("   ")[0]
    ran = subprocess.run(
        [*ssh.split(), "-o", "BatchMode=yes", "hostname"], capture_output=True, text=True, timeout=30, check=False
    )
    assert ran.stdout.strip() == "harbor-1", ran.stderr


def test_lab_down_leaves_no_containers_networks_or_volumes(tmp_path):
    env = {
        "LAB_PREFIX": "hd-labtest",
        "LAB_CLIENTS": "1",
        "LAB_BARE": "0",
        "LAB_STATE_DIR": str(tmp_path / "state"),
        "LAB_MIRROR_PORT": "18489",
    }
    labctl("up", env)
    assert (tmp_path / "state" / "hosts.json").exists()
    assert mirror_answers("http://127.0.0.1:18489")
    labctl("down", env)
    assert not mirror_answers("http://127.0.0.1:18489")

    def listed(*args):
        return subprocess.run(
            ["docker", *args, "--filter", "label=harbor-deploy-lab=hd-labtest", "-q"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    assert listed("ps", "-a") == []
    assert listed("network", "ls") == []
    assert listed("volume", "ls") == []
    assert not (tmp_path / "state").exists()
