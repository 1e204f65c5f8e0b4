"""FirewalldState parses `firewall-cmd` output captured from the lab hosts.

Fixtures: client-2 with 8081/tcp open in both, 18097/udp permanent only and
18098/tcp runtime only; bare-1 with the packaged defaults and with firewalld
stopped; `not_installed` was captured on the (firewalld-less) controller.
"""

from pathlib import Path

from harbor_deploy.facts.firewalld import FirewalldState

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facts"
PACKAGED_ZONES = {"block", "dmz", "drop", "external", "home", "internal", "public", "trusted", "work"}


def process(fixture):
    return FirewalldState().process((FIXTURES / fixture).read_text().splitlines())


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
    }


def test_every_zone_is_listed_including_the_one_docker_adds():
    state = process("firewalld_state_client_ports_open.txt")
    assert set(state["zones"]) == PACKAGED_ZONES | {"docker"}
    assert state["zones"]["docker"]["runtime"] == []
    assert state["zones"]["dmz"]["services"] == ["ssh"]


def test_packaged_defaults_have_no_open_ports():
    state = process("firewalld_state_bare_defaults.txt")
    assert set(state["zones"]) == PACKAGED_ZONES
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


def test_command_reads_runtime_and_permanent_in_one_round_trip():
    command = FirewalldState().command()
    assert "firewall-cmd --list-all-zones" in command
    assert "firewall-cmd --permanent --list-all-zones" in command


def test_locally_defined_services_are_listed_with_their_ports():
    lines = (FIXTURES / "firewalld_state_client_ports_open.txt").read_text().splitlines() + [
        "--- services",
        "harbor",
        "  ports: 9443/tcp 9081/tcp",
        "  protocols: ",
        "  source-ports: ",
        "  modules: ",
        "  destination: ",
        "  includes: ",
        "  helpers: ",
    ]
    state = FirewalldState().process(lines)
    assert state["local_services"] == {"harbor": ["9443/tcp", "9081/tcp"]}
    assert state["zones"]["public"]["permanent"] == ["18097/udp", "8081/tcp"]
