"""An upgrade detached from its SSH session: ``harbor_data.detached_command`` run by a local
shell with a stand-in ``systemd-run`` (it runs the command with its output appended to
the log, as the unit's StandardOutput/StandardError do), and ``UpgradeUnit`` waiting
for a stand-in ``systemctl``'s active unit. (Real cuts against a lab host:
tests/lab/test_66_upgrade.py.)"""

import logging
import os
import re
import stat
import subprocess
from types import SimpleNamespace
from unittest import mock

import pytest
from pyinfra.api import DeployError

from harbor_deploy.facts.harbor import UpgradeUnit
from harbor_deploy.operations.harbor_data import detached_command
from harbor_deploy.planning import server as server_planning

FAKE_SYSTEMD_RUN = """#!/bin/sh
echo "$@" > "$FAKE_DIR/systemd-run.args"
log=
while [ $# -gt 0 ]; do
  case "$1" in
    -p) case "$2" in StandardOutput=append:*) log=${2#StandardOutput=append:};; esac; shift 2;;
    --*) shift;;
    *) break;;
  esac
done
env -i PATH="$PATH" "$@" >> "$log" 2>&1
"""

# Active for the first ``$ACTIVE_CALLS`` calls, inactive after.
FAKE_SYSTEMCTL = """#!/bin/sh
n=$(cat "$FAKE_DIR/systemctl.calls" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_DIR/systemctl.calls"
[ "$n" -lt "$ACTIVE_CALLS" ]
"""


@pytest.fixture
def fakes(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemd-run", FAKE_SYSTEMD_RUN), ("systemctl", FAKE_SYSTEMCTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path)}


def run(command, env):
    return subprocess.run(["sh", "-c", str(command)], capture_output=True, text=True, check=False, env=env)


def test_a_failing_upgrade_fails_the_command_with_its_output_kept_in_a_private_log(tmp_path, fakes):
    logs = tmp_path / "logs"
    script = 'x=$((1 + 1)); echo "step $x" >&2; echo "upgrade v1 -> v2 failed: it broke" >&2; exit 7'
    result = run(detached_command(script, "upgrade-v1-to-v2", log_dir=str(logs)), fakes)
    assert result.returncode == 7
    assert result.stderr == "step 2\nupgrade v1 -> v2 failed: it broke\n"  # $ reached bash as written
    [log] = logs.glob("upgrade-v1-to-v2-*.log")
    assert re.fullmatch(r"upgrade-v1-to-v2-\d{8}T\d{6}Z\.log", log.name)  # one per run, by the server's time
    args = (tmp_path / "systemd-run.args").read_text()
    assert args.startswith("--unit=harbor-deploy-upgrade.service --collect --wait --quiet")
    assert f"StandardError=append:{log}" in args
    assert args.rstrip().endswith(f"/bin/bash {log.with_suffix('.sh')}")
    assert log.read_text() == result.stderr
    assert log.with_suffix(".sh").read_text() == script
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    for path in (log, log.with_suffix(".sh")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_successful_upgrade_succeeds_printing_its_output(tmp_path, fakes):
    result = run(detached_command("echo 'upgraded v1 -> v2' >&2", "upgrade-b", log_dir=str(tmp_path)), fakes)
    assert (result.returncode, result.stderr) == (0, "upgraded v1 -> v2\n")


def test_the_fact_waits_for_a_running_upgrade_then_names_its_last_log_line(tmp_path, fakes):
    for age, (name, text) in enumerate(
        (
            ("upgrade-harbor-20261129T0100Z-v2-to-v3.log", "backed up\nupgraded v2 -> v3 (1 projects)\n"),
            ("rollback-harbor-20261128T2200Z-v1-to-v1.log", "old\n"),
            ("upgrade-harbor-20261128T2200Z-v1-to-v2.log", "older\n"),
        )
    ):
        (tmp_path / name).write_text(text)
        os.utime(tmp_path / name, (1_764_000_000 - age * 60,) * 2)  # the newest first
    command = UpgradeUnit().command(log_dir=str(tmp_path), wait=60)
    result = run(command, {**fakes, "ACTIVE_CALLS": "1"})
    assert UpgradeUnit().process(result.stdout.splitlines()) == {
        "running": False,
        "waited": True,
        "log": f"{tmp_path}/upgrade-harbor-20261129T0100Z-v2-to-v3.log",
        "outcome": "upgraded v2 -> v3 (1 projects)",
    }


def test_the_wait_is_bounded_and_no_log_is_none(tmp_path, fakes):
    command = UpgradeUnit().command(log_dir=str(tmp_path / "none"), wait=0)
    result = run(command, {**fakes, "ACTIVE_CALLS": "100"})
    assert UpgradeUnit().process(result.stdout.splitlines()) == {
        "running": True,
        "waited": False,
        "log": None,
        "outcome": None,
    }
    assert UpgradeUnit().process([]) == UpgradeUnit.default()


def test_a_run_stops_while_the_upgrade_still_runs_and_says_how_a_waited_one_ended(caplog):
    log = "/var/log/harbor-deploy/upgrade-harbor-20261129T0100Z-v2-to-v3.log"
    with mock.patch.object(server_planning, "host", SimpleNamespace(name="harbor-1")):
        with pytest.raises(DeployError) as error:
            server_planning.after_an_earlier_upgrade({"running": True, "waited": False, "log": log, "outcome": "x"})
        with caplog.at_level(logging.WARNING):
            server_planning.after_an_earlier_upgrade(
                {"running": False, "waited": True, "log": log, "outcome": "upgraded v2 -> v3 (1 projects)"}
            )
            server_planning.after_an_earlier_upgrade(UpgradeUnit.default())  # nothing said
    assert str(error.value).startswith("harbor-1: still running after 1800s: an upgrade started by an earlier")
    assert "(harbor-deploy-upgrade.service, logging to /var/log/harbor-deploy)" in str(error.value)
    assert f"nothing was changed here: run again when it has ended (log {log})" in str(error.value)
    assert [record.getMessage() for record in caplog.records] == [
        "[harbor-1] waited for the upgrade or rollback an earlier run started (harbor-deploy-upgrade.service) to end: "
        f"upgraded v2 -> v3 (1 projects) (log {log})"
    ]
