"""`make bench` cannot rot: its harness runs here once at its smallest (N = 1, one run
per case) and what it counts is checked. Its times are not asserted (benchmarks
measure): the table, results.json and the plot are written. The two cases on newly
created bare hosts (``--bare 0`` leaves them out: a host boot, a Docker and a Harbor
install, the heaviest part of the run) are timed by ``make bench`` only; what they run
is proven by ``test_21_docker_repository`` and ``test_20_server``."""

import json
import subprocess
import sys

from tests.conftest import ROOT

CASES = {
    "server converged",
    "server config change until healthy",
    "installer upload (× scp)",
    "clients first rollout N=1",
    "clients converged N=1",
}


def test_bench_harness_runs_and_counts(lab, harbor_server, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lab.bench", "--clients", "1", "--runs", "1", "--bare", "0", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout)  # the table, in the test log
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {row["case"]: row for row in results["cases"]}
    assert set(rows) == CASES
    converged = rows["server converged"]
    # A converged server run changes nothing and sends nothing, in one round trip of facts.
    assert (converged["changes"], converged["uploaded_bytes"]) == (0, 0)
    assert converged["facts"] == 1 and converged["remote_commands"] >= 1
    # CPU seconds beside the times: the controller's (pyinfra's processes) and each host's.
    assert converged["controller_cpu_seconds"] > 0 and converged["floor_controller_cpu_seconds"] > 0
    assert converged["cpu_seconds_per_host"] > 0
    assert rows["clients converged N=1"]["changes"] == 0 and rows["clients converged N=1"]["uploaded_bytes"] == 0
    assert rows["clients first rollout N=1"]["changes"] > 0  # the reset made it a first run
    transfer = rows["installer upload (× scp)"]
    assert transfer["bytes_when_kept"] == 0
    assert transfer["bytes_when_missing"] >= transfer["bundle_bytes"]
    assert rows["server config change until healthy"]["changes"] > 0
    assert "outage_seconds" in rows["server config change until healthy"]
    assert set(results["targets"]) == {"server_converged", "fleet_converged", "rollout_scaling", "transfer_vs_scp"}
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "targets:" in result.stdout
