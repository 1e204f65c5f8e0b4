"""Last: the suite touched nothing outside its own lab. The canary container started
before the first lab test, and every container that was on the machine then (the lab
`make demo` left, the user's own), still run as they did, never restarted."""

from tests.lab.conftest import machine_containers


def test_every_container_outside_this_lab_is_untouched(bystanders):
    before, now = bystanders["containers"], machine_containers()
    assert any(name == f"/{bystanders['canary']}" for name, _, _ in before.values())
    for container_id, (name, state, started_at) in before.items():
        assert container_id in now, f"{name} was removed"
        assert now[container_id] == (name, state, started_at), f"{name} was stopped or restarted"
