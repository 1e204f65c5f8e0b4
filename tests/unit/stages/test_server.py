"""The server stages' files: harbor.service as each kind of Harbor gets it, and how its
start takes down the containers dockerd restarted by itself."""

import subprocess

from pyinfra.api.util import get_template

from harbor_deploy.lib import TEMPLATES
from harbor_deploy.lib.config.defaults import SHARED_VALUES, SHARED_VALUES_SCRIPT


def unit(shared_values):
    return get_template(str(TEMPLATES / "harbor.service.j2")).render(
        install_dir="/usr/local/harbor",
        project="harbor",
        log_port=1514,
        shared_values=shared_values,
        shared_values_script=SHARED_VALUES_SCRIPT,
    )


def test_a_node_of_several_writes_the_shared_values_before_every_start_a_single_node_keeps_its_unit():
    single, node = unit(None).splitlines(), unit(SHARED_VALUES).splitlines()
    assert "shared-values" not in "\n".join(single)
    write = f"ExecStartPre=/bin/sh {SHARED_VALUES_SCRIPT} {SHARED_VALUES} /usr/local/harbor/common/config"
    # After the other ExecStartPre lines, right before the containers start; nothing else differs.
    assert node[node.index(write) + 1].startswith("ExecStart=/usr/bin/docker compose")
    assert [line for line in node if line not in single and not line.startswith("#")] == [write]


FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$1" in
  ps) echo c1 ;;
  inspect) echo "$STARTED" ;;
  compose) [ "$(grep -c ' down$' "$CALLS")" -gt "$DOWN_FAILS" ] || { echo "cannot stop" >&2; exit 1; } ;;
esac
"""


def take_down_survivors(tmp_path, started, down_fails):
    """Runs harbor.service's first ExecStartPre as systemd would (``$$`` and ``%%``
    unescaped) with docker, systemctl and sleep stood in for; docker.service became
    active at 02:34:25. Returns its exit code and the docker and sleep calls."""
    line = next(line for line in unit(None).splitlines() if line.startswith("ExecStartPre=") and "since=" in line)
    command = line.removeprefix("ExecStartPre=").replace("$$", "$").replace("%%", "%")
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for name, script in {
        "docker": FAKE_DOCKER,
        "systemctl": '#!/bin/sh\necho "Tue 2026-12-08 02:34:25.063773 UTC"\n',
        "sleep": '#!/bin/sh\necho "sleep $*" >> "$CALLS"\n',
    }.items():
        (fakes / name).write_text(script)
        (fakes / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    env = {"PATH": f"{fakes}:/usr/bin:/bin", "CALLS": str(calls), "STARTED": started, "DOWN_FAILS": str(down_fails)}
    run = subprocess.run(command.replace("/usr/bin/docker", str(fakes / "docker")), shell=True, env=env, check=False)
    return run.returncode, calls.read_text().splitlines()


def test_containers_dockerd_restarted_itself_go_down_retried_while_dockerd_fails_to_stop_them(tmp_path):
    code, calls = take_down_survivors(tmp_path, "2026-12-08T02:34:22.1Z", down_fails=2)
    downs = [call for call in calls if call.endswith(" down")]
    assert code == 0
    assert downs == ["compose -f /usr/local/harbor/docker-compose.yml down"] * 3
    assert [call for call in calls if call.startswith("sleep")] == ["sleep 10"] * 2


def test_a_down_dockerd_never_manages_fails_the_start_after_six_tries(tmp_path):
    code, calls = take_down_survivors(tmp_path, "2026-12-08T02:34:22.1Z", down_fails=99)
    assert code == 1
    assert len([call for call in calls if call.endswith(" down")]) == 6


def test_containers_started_after_dockerd_became_active_stay_up(tmp_path):
    code, calls = take_down_survivors(tmp_path, "2026-12-08T02:34:26.5Z", down_fails=0)
    assert code == 0
    assert calls[0].startswith("ps -q --filter label=com.docker.compose.project=harbor")
    assert not [call for call in calls if call.endswith(" down")]
