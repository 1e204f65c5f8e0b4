"""Last: the suite touched nothing outside its own labs. The canary container
``tests/lanes.py`` started before the first lab test, and every container that was on
the machine then (the lab `make demo` left, the user's own), still run as they did,
never restarted."""

import json
import os
from pathlib import Path

from tests.lab.bystanders import BYSTANDERS_FILE_ENV, machine_containers


def test_every_container_outside_the_suites_labs_is_untouched():
    noted = json.loads(Path(os.environ[BYSTANDERS_FILE_ENV]).read_text())
    before, now = noted["containers"], machine_containers(noted["canary"])
    assert any(name == f"/{noted['canary']}" for name, _, _ in before.values())
    for container_id, (name, state, started_at) in before.items():
        assert container_id in now, f"{name} was removed"
        assert now[container_id] == [name, state, started_at], f"{name} was stopped or restarted"
