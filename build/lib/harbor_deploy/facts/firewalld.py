import re

from pyinfra.api import FactBase

from harbor_deploy.facts.output import key_values

_ZONE_HEADER = re.compile(r"^(\S+)(?: \(.*\))?$")
_ZONE_LIST = re.compile(r"^  (ports|services): ?(.*)$")


def _parse_zones(lines):
    """``{zone: {"ports": [...], "services": [...]}}`` from ``firewall-cmd --list-all-zones``."""
    zones = {}
    zone = None
    for line in lines:
        header = _ZONE_HEADER.match(line)
        if header:
            zone = zones.setdefault(header.group(1), {"ports": [], "services": []})
            continue
        listed = _ZONE_LIST.match(line)
        if listed and zone is not None:
            zone[listed.group(1)] = listed.group(2).split()
    return zones


class FirewalldState(FactBase[dict]):
    """
    Returns the firewalld state in one round trip: whether it is installed and
    running, the default zone and, for every zone, the open ports of the permanent
    configuration and of the runtime, and the services (permanent and runtime); and
    the ports of each locally defined service (``/etc/firewalld/services``).
    When firewalld is absent or stopped, ``running`` is ``False`` and ``zones`` empty.

    .. code:: python

        {
            "installed": True,
            "running": True,
            "default_zone": "public",
            "zones": {
                "public": {
                    "permanent": ["8081/tcp"],
                    "runtime": ["8081/tcp"],
                    "services": ["ssh", "dhcpv6-client"],
                    "runtime_services": ["ssh", "dhcpv6-client"],
                },
            },
            "local_services": {"harbor": ["8443/tcp", "8081/tcp"]},
        }
    """

    def command(self):
        return (
            "if ! command -v firewall-cmd >/dev/null 2>&1; then echo 'state=not installed'; exit 0; fi; "
            "if ! firewall-cmd --state >/dev/null 2>&1; then echo 'state=not running'; exit 0; fi; "
            "echo state=running; "
            'echo "default_zone=$(firewall-cmd --get-default-zone)"; '
            "echo '--- runtime'; firewall-cmd --list-all-zones; "
            "echo '--- permanent'; firewall-cmd --permanent --list-all-zones; "
            "echo '--- services'; for file in /etc/firewalld/services/*.xml; do "
            '[ -f "$file" ] && firewall-cmd --permanent --info-service="$(basename "$file" .xml)"; done; true'
        )

    def process(self, output):
        sections = {"head": [], "runtime": [], "permanent": [], "services": []}
        section = sections["head"]
        for line in output:
            if line in ("--- runtime", "--- permanent", "--- services"):
                section = sections[line[4:]]
            else:
                section.append(line)

        head = key_values(sections["head"])
        state = head.get("state")
        running = state == "running"
        runtime = _parse_zones(sections["runtime"])
        permanent = _parse_zones(sections["permanent"])
        empty = {"ports": [], "services": []}
        zones = {
            name: {
                "permanent": permanent.get(name, empty)["ports"],
                "runtime": runtime.get(name, empty)["ports"],
                "services": permanent.get(name, empty)["services"],
                "runtime_services": runtime.get(name, empty)["services"],
            }
            for name in [*permanent, *(zone for zone in runtime if zone not in permanent)]
        }
        return {
            "installed": state != "not installed",
            "running": running,
            "default_zone": head.get("default_zone") or None,
            "zones": zones,
            "local_services": {name: listed["ports"] for name, listed in _parse_zones(sections["services"]).items()},
        }
