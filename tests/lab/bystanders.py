"""What runs on this machine besides the suite's own labs: ``tests/lanes.py`` notes it
before the lanes start, ``test_99_bystanders`` checks it is untouched after."""

import os
import subprocess

# Every lane's lab prefix starts with this (``hd-test``, ``hd-test-server``...): those
# containers are the suite's own. The demo's lab (``hd-lab``) and anything else are not.
SUITE_PREFIX = "hd-test"
CANARY_PREFIX = "hd-canary-"
# The file ``tests/lanes.py`` writes the noted containers to, for test_99.
BYSTANDERS_FILE_ENV = "LAB_BYSTANDERS_FILE"


def canary_name(pid=None):
    return f"{CANARY_PREFIX}{pid or os.getpid()}"


def machine_containers(own_canary=None):
    """Every container on this machine outside the suite's labs: id -> [name, state,
    start time]. Other sessions' canaries (a checkout beside this one) are theirs."""
    ids = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return {}
    lines = subprocess.run(
        [
            "docker",
            "inspect",
            "--format",
            "{{.Id}} {{.Name}} {{.State.Status}} {{.State.StartedAt}} " '{{index .Config.Labels "harbor-deploy-lab"}}',
            *ids,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    own_canary = own_canary or canary_name()
    found = {}
    for parts in (line.split() for line in lines):
        name, lab = parts[1], parts[4] if len(parts) > 4 else ""
        if lab == SUITE_PREFIX or lab.startswith(f"{SUITE_PREFIX}-"):
            continue
        if name.startswith(f"/{CANARY_PREFIX}") and name != f"/{own_canary}":
            continue
        found[parts[0]] = parts[1:4]
    return found
