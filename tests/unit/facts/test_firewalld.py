"""FirewalldState parses its D-Bus reader's output captured from the lab hosts.

Fixtures: client-2 with 8081/tcp open in both, 18097/udp permanent only and
18098/tcp runtime only; bare-1 with the packaged defaults and with firewalld
stopped; harbor-1 with the server deploy's `harbor` service; `not_installed` was
captured on the (firewalld-less) controller.
"""

from harbor_deploy.facts.firewalld import FirewalldState
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"
PACKAGED_ZONES = {"block", "dmz", "drop", "external", "home", "internal", "public", "trusted", "work"}


def process(fixture):
    return FirewalldState().process((FACT_OUTPUTS / fixture).read_text().splitlines())


def test_permanent_and_runtime_ports_are_told_apart():
    state = process("firewalld_state_client_ports_open.txt")
    assert state["running"] is True
    assert state["installed"] is True
    assert state["default_zone"] == "public"
    assert state["zones"]["public"] == {
        "permanent": ["18097/udp", "8081/tcp"],
        "runtime": ["18098/tcp", "8081/tcp"],
        "services": ["dhcpv6-client", "ssh"],
        "runtime_services": ["dhcpv6-client", "ssh"],
        "rich_rules": [],
        "runtime_rich_rules": [],
    }


def test_every_zone_is_listed_including_the_one_docker_adds():
    state = process("firewalld_state_client_ports_open.txt")
    assert set(state["zones"]) == PACKAGED_ZONES | {"docker"}
    assert state["zones"]["docker"]["runtime"] == []
    assert state["zones"]["dmz"]["services"] == ["ssh"]


def test_packaged_defaults_have_no_open_ports():
    state = process("firewalld_state_bare_defaults.txt")
    assert set(state["zones"]) == PACKAGED_ZONES | {"docker"}  # dockerd adds its zone
    assert all(zone["permanent"] == zone["runtime"] == [] for zone in state["zones"].values())


def test_stopped_firewalld_is_installed_but_not_running():
    assert process("firewalld_state_not_running.txt") == {
        "installed": True,
        "running": False,
        "default_zone": None,
        "zones": {},
        "local_services": {},
    }


def test_missing_firewalld_is_not_installed():
    assert process("firewalld_state_not_installed.txt") == {
        "installed": False,
        "running": False,
        "default_zone": None,
        "zones": {},
        "local_services": {},
    }


def test_command_asks_dbus_through_firewall_cmds_own_interpreter_in_one_round_trip():
    command = FirewalldState().command()
    assert "command -v firewall-cmd" in command
    assert "getZoneSettings2" in command and "getSettings2" in command
    assert "firewall-cmd --" not in command  # no firewall-cmd process per question


def test_locally_defined_services_are_listed_with_their_ports():
    state = process("firewalld_state_harbor_service.txt")
    assert state["local_services"] == {"harbor": ["8081/tcp", "8443/tcp"]}
    assert "harbor" in state["zones"]["public"]["services"]
    assert "harbor" in state["zones"]["public"]["runtime_services"]
    assert state["zones"]["public"]["permanent"] == []
