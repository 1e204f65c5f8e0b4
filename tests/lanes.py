"""``make test``: the unit tests and the lab tests, in lanes that run side by side.

    python -m tests.lanes                        # everything (make test)
    python -m tests.lanes --quick                # lint aside: unit tests + one lab smoke (make test-quick)
    python -m tests.lanes tests/lab/test_52_faults.py ...   # these files, each in its lane

The lab tests spend most of their time waiting on hosts (Harbor starting, health
checks, SSH round trips), so one lab shares this machine's cores badly. Each lane has
a lab of its own (its own ``LAB_PREFIX``: containers, network, state, release mirror)
and runs its test files in order in one pytest process; the lanes and the unit tests
run at the same time. A lane's tests may do anything to its own hosts (reinstall,
restart, recreate them) without touching another lane's.

Before the lanes start, this process builds what they share (the host images and the
stand-in releases, cached by recipe) and notes every container already on the
machine, plus a canary it starts; after they end, ``tests/lab/test_99_bystanders.py``
checks that all of them still run untouched: the suite's own lanes aside, nothing it
did not start was stopped, restarted or removed.

It prints each lane's result as it ends, the failures of a failed lane, and the
slowest tests of the whole run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT
from tests.lab.bystanders import BYSTANDERS_FILE_ENV, SUITE_PREFIX, canary_name, machine_containers

PYTHON = sys.executable
SLOWEST = 15


@dataclass(frozen=True)
class Lane:
    """Test files run in order on a lab of their own (``None`` sizes: no lab)."""

    name: str
    paths: tuple
    prefix: str | None = None
    mirror_port: int | None = None
    clients: int = 0
    bare: int = 0

    def env(self):
        if self.prefix is None:
            return {}
        return {
            "LAB_PREFIX": self.prefix,
            "LAB_MIRROR_PORT": str(self.mirror_port),
            "LAB_CLIENTS": str(self.clients),
            "LAB_BARE": str(self.bare),
        }


def lab_lane(name, index, clients, bare, *tests):
    return Lane(name, tests, f"{SUITE_PREFIX}-{name}", 18481 + index, clients, bare)


def lab(*names):
    return tuple(f"tests/lab/test_{name}.py" for name in names)


UNIT = Lane("unit", ("tests/unit", "lab/standin/tests/unit"))
LANES = (
    UNIT,
    # harbor-1 installed once and shared: configure, clients, secrets, sudo, the load test.
    lab_lane(
        "main",
        0,
        5,
        0,
        *lab(
            "00_lab_lifecycle",
            "01_lab_check",
            "05_ops_on_lab",
            "22_secrets",
            "26_sudo",
            "27_ports",
            "28_package",
            "30_client",
            "40_configure",
            "41_api_contract",
            "42_configure_team",
            "43_robot_refresh",
            "58_load",
            "60_status_logs",
        ),
    ),
    # harbor-1 installed, broken, cut, restarted and removed again and again; Docker
    # from the lab's package repository on bare-2, cut from the internet. Then, on the
    # new Harbor the purge left, sign-in through LDAP.
    lab_lane(
        "server",
        1,
        2,
        2,
        *lab("20_server", "21_docker_repository", "52_faults", "54_recovery", "62_uninstall", "63_ldap"),
    ),
    # Harbor's data: the stand-in's own conformance, then backups and restores; then the
    # benchmark's smoke pass, on that Harbor and a bare host it makes anew.
    lab_lane(
        "data",
        2,
        2,
        1,
        "lab/standin/tests/lab/test_install.py",
        "lab/standin/tests/lab/test_state.py",
        *lab("64_backup_restore", "95_bench"),
    ),
    # One Harbor upgraded, cut, rolled back and recovered release after release; then,
    # installed anew, configure cut again and again.
    lab_lane("upgrade", 4, 2, 0, *lab("66_upgrade", "56_configure_cut")),
    # Harbors on other hosts: a second one on bare-1 (with awkward values, which images
    # replicate to from harbor-1, adopted, on a company CA), one of several nodes.
    lab_lane("hosts", 3, 4, 3, *lab("24_values", "44_images", "25_adopt", "29_company_ca", "70_scale_out")),
)
# make test-quick: the unit tests and one lab smoke on fresh hosts.
QUICK = (UNIT, lab_lane("quick", 9, 2, 0, *lab("03_smoke")))
BYSTANDERS = "tests/lab/test_99_bystanders.py"


def lane_of(path):
    return next(lane for lane in LANES if path in lane.paths)


def prepare_shared(lanes):
    """Build once what every lane's lab reuses, and make room for all their hosts to
    boot at once (each lane counts only its own), before they start side by side."""
    from lab import labctl
    from lab.standin import build as standin

    labctl.ensure_dockerd()
    labctl.build_images()
    standin.build()
    labctl.ensure_inotify_instances(sum(len(labctl.planned_hosts(lane.clients, lane.bare)) for lane in lanes))


def start_canary():
    """A container of this run's own that nothing may touch (``test_99_bystanders``)."""
    from lab import labctl

    image = labctl.build_images()[False]
    name = canary_name()
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", "none", "--entrypoint", "sleep", image, "infinity"],
        capture_output=True,
        check=True,
    )
    return name


def suite_labs():
    """The labels (prefixes) of the suite's labs that have running containers here."""
    labels = subprocess.run(
        ["docker", "ps", "--filter", "label=harbor-deploy-lab", "--format", '{{.Label "harbor-deploy-lab"}}'],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {label for label in labels if label == SUITE_PREFIX or label.startswith(f"{SUITE_PREFIX}-")}


def stop_lab(prefix):
    """Stop a lab of the suite's (its Harbors idle on the CPU the other lanes need); the
    next run starts its hosts again."""
    ids = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=harbor-deploy-lab={prefix}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "stop", "-t", "30", *ids], capture_output=True, check=False)


def run_lane(lane, out_dir, env=None):
    """The lane's pytest run: (lane, exit status, seconds), its output in ``<lane>.log``."""
    log, junit = out_dir / f"{lane.name}.log", out_dir / f"{lane.name}.xml"
    started = time.monotonic()
    with open(log, "w") as output:
        status = subprocess.run(
            [PYTHON, "-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider", f"--junitxml={junit}", *lane.paths],
            cwd=ROOT,
            env={**os.environ, **lane.env(), **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    seconds = time.monotonic() - started
    if lane.prefix:
        stop_lab(lane.prefix)
    summary = (log.read_text().strip().splitlines() or ["no output"])[-1]
    print(f"[{lane.name}] {summary} ({seconds:.0f}s)", flush=True)
    if status != 0:
        text = log.read_text()
        start = text.find("= FAILURES =")
        start = text.find("= ERRORS =") if start < 0 else start
        print(f"----- lane {lane.name} failed; its log: {log}", flush=True)
        print(text[text.rfind("\n", 0, start) + 1 :] if start >= 0 else text[-8000:], flush=True)
    return lane, status, seconds


def slowest(out_dir, count=SLOWEST):
    """The slowest tests of every lane (setup and teardown included), from their JUnit reports."""
    found = []
    for report in out_dir.glob("*.xml"):
        for case in ET.parse(report).getroot().iter("testcase"):
            found.append((float(case.get("time", 0)), f"{report.stem}: {case.get('classname')}::{case.get('name')}"))
    return sorted(found, reverse=True)[:count]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.lanes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="unit tests and one lab smoke on fresh hosts")
    parser.add_argument("paths", nargs="*", help="test files, each run in its lane (default: all)")
    options = parser.parse_args(argv)
    if options.paths:
        chosen = {}
        for path in options.paths:
            lane = lane_of(path)
            chosen.setdefault(lane, []).append(path)
        lanes = [
            Lane(lane.name, tuple(paths), lane.prefix, lane.mirror_port, lane.clients, lane.bare)
            for lane, paths in chosen.items()
        ]
    else:
        lanes = list(QUICK if options.quick else LANES)
    out_dir = Path(tempfile.mkdtemp(prefix="harbor-deploy-tests-"))
    started = time.monotonic()
    labs = [lane for lane in lanes if lane.prefix]
    canary = None
    if labs:
        for idle in suite_labs() - {lane.prefix for lane in labs}:
            stop_lab(idle)  # a lab of lanes this run does not take
        prepare_shared(labs)
        canary = start_canary()
        before = out_dir / "bystanders.json"
        before.write_text(json.dumps({"canary": canary, "containers": machine_containers()}))
    print(f"lanes: {', '.join(lane.name for lane in lanes)}; logs and reports in {out_dir}", flush=True)
    try:
        with ThreadPoolExecutor(len(lanes)) as pool:
            results = list(pool.map(lambda lane: run_lane(lane, out_dir), lanes))
        if labs:
            watch = Lane("bystanders", (BYSTANDERS,))
            results.append(run_lane(watch, out_dir, {BYSTANDERS_FILE_ENV: str(before)}))
    finally:
        if canary:
            subprocess.run(["docker", "rm", "-f", canary], capture_output=True, check=False)
    print(f"\n{SLOWEST} slowest tests:")
    for seconds, name in slowest(out_dir):
        print(f"  {seconds:7.1f}s  {name}")
    failed = [lane.name for lane, status, _ in results if status != 0]
    total = time.monotonic() - started
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all lanes passed'} in {total:.0f}s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
