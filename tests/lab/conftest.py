"""Lab tests run on the real hosts of `make lab-up`; without a lab they fail."""

import json
import os
import subprocess
import sys

import pytest

from lab import labctl
from tests.conftest import ROOT

PYINFRA = os.path.join(os.path.dirname(sys.executable), "pyinfra")


@pytest.fixture(scope="session")
def lab():
    """The running lab's state; brings it up (reusing healthy hosts) if needed."""
    labctl.up()
    return labctl.load_state()


def host_exec(container, command, check=True):
    """Ground truth read straight from a lab container, bypassing pyinfra."""
    result = subprocess.run(["docker", "exec", container, "sh", "-c", command],
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{container}: {command} failed: {result.stderr}")
    return result.stdout.strip()


def run_pyinfra(*args, check=True):
    result = subprocess.run([PYINFRA, *args], cwd=ROOT, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"pyinfra {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def lab_check_report(output):
    """Parse the `lab-check <host> <json>` lines of deploys/lab_check.py."""
    lines = [line.strip() for line in output.splitlines()]
    return {line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2])
            for line in lines if line.startswith("lab-check ")}


def changed_count(result):
    """Operations that changed something, from a `pyinfra --json -y` run's stdout."""
    return json.loads(result.stdout)["results"]["totals"]["success"]
