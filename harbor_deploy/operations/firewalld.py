"""
Open or close ports and services in firewalld, permanently and at runtime.
"""

import re

from pyinfra import host
from pyinfra.api import OperationError, OperationValueError, QuoteString, StringCommand, operation

from harbor_deploy.facts.firewalld import FirewalldState
from harbor_deploy.operations.deploy_lock import guarded

PROTOCOLS = ("tcp", "udp", "sctp", "dccp")
# A rich rule of ``source_ports``: one source, one port, accepted.
_SOURCE_PORT_RULE = re.compile(
    r'^rule family="ipv[46]" source address="[^"]+" port port="(?P<port>\d+)" protocol="(?P<protocol>\w+)" accept$'
)


def _converge(kind, value, zone, present, permanent, runtime):
    """Yield the firewall-cmd commands that bring ``value`` to ``present`` in the
    permanent configuration and in the runtime, each only where it differs."""
    state = host.get_fact(FirewalldState)
    if not state["running"]:
        why = "not installed" if not state["installed"] else "not running"
        host.noop(f"firewalld is {why}: {kind} {value} left as is")
        return

    zone = zone or state["default_zone"]
    if zone not in state["zones"]:
        raise OperationError(f"firewalld has no zone {zone!r} (zones: {', '.join(state['zones'])})")
    zone_state = state["zones"][zone]

    action = "add" if present else "remove"
    scopes = ((["--permanent"], zone_state[permanent]), ([], zone_state[runtime]))
    changes = [flags for flags, listed in scopes if (value in listed) != present]
    if not changes:
        host.noop(f"{kind} {value} is already {'open' if present else 'closed'} in zone {zone}")
    for flags in changes:
        yield StringCommand(
            "firewall-cmd",
            *flags,
            QuoteString(f"--zone={zone}"),
            QuoteString(f"--{action}-{kind}={value}"),
        )


@operation()
def port(port, protocol="tcp", zone=None, present=True):
    """
    Open or close a port in a firewalld zone, in the permanent configuration and at
    runtime (no reload, so other runtime-only rules survive).

    + port: port number or range (``8080`` or ``"8000-8010"``)
    + protocol: ``tcp``, ``udp``, ``sctp`` or ``dccp``
    + zone: firewalld zone, default: the host's default zone
    + present: whether the port should be open

    Nothing to do, and nothing done, when firewalld is not installed or not running.

    **Example:**

    .. code:: python

        from harbor_deploy.operations import firewalld
        firewalld.port(
            name="Open the Harbor HTTPS port",
            port=443,
            protocol="tcp",
        )
    """

    if protocol not in PROTOCOLS:
        raise OperationValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    yield from _converge("port", f"{port}/{protocol}", zone, present, "permanent", "runtime")


@operation()
def service(service, zone=None, present=True):
    """
    Enable or disable a firewalld service (``http``, ``https``, ...) in a zone, in
    the permanent configuration and at runtime.

    + service: firewalld service name
    + zone: firewalld zone, default: the host's default zone
    + present: whether the service should be allowed

    **Example:**

    .. code:: python

        from harbor_deploy.operations import firewalld
        firewalld.service(
            name="Allow HTTPS",
            service="https",
        )
    """

    yield from _converge("service", service, zone, present, "services", "runtime_services")


@operation()
def service_ports(service, ports, zone=None, description="", firewall=None, lock_holder=None):
    """
    Open ``ports`` through a firewalld service of their own, enabled in a zone
    (permanently and at runtime): a port left out of ``ports`` later is closed with
    it, and ports of the list also opened directly in the zone are folded into it.

    + service: name of the local service definition (``/etc/firewalld/services/<service>.xml``)
    + ports: ``["8443/tcp", ...]``
    + zone: firewalld zone, default: the host's default zone
    + description: the service's description, set when it is created
    + firewall: the ``FirewalldState`` fact, when the caller read it already; read here otherwise
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder before
      changing anything

    firewalld changes a service definition in its permanent configuration only: when
    it changes, a ``firewall-cmd --reload`` applies it (runtime-only rules of others
    are lost then, as with any reload); when nothing changed, nothing runs.

    **Example:**

    .. code:: python

        from harbor_deploy.operations import firewalld
        firewalld.service_ports(
            name="Harbor's ports",
            service="harbor",
            ports=["8443/tcp", "8081/tcp"],
        )
    """
    state = firewall if firewall is not None else host.get_fact(FirewalldState)
    if not state["running"]:
        why = "not installed" if not state["installed"] else "not running"
        host.noop(f"firewalld is {why}: service {service} left as is")
        return
    zone = zone or state["default_zone"]
    if zone not in state["zones"]:
        raise OperationError(f"firewalld has no zone {zone!r} (zones: {', '.join(state['zones'])})")
    zone_state = state["zones"][zone]
    current = state["local_services"].get(service)
    definition = QuoteString(f"--service={service}")
    permanent = []
    if current is None:
        permanent.append(StringCommand("firewall-cmd", "--permanent", QuoteString(f"--new-service={service}")))
        permanent.append(
            StringCommand(
                "firewall-cmd", "--permanent", definition, QuoteString(f"--set-description={description or service}")
            )
        )
        current = []
    permanent += [
        StringCommand("firewall-cmd", "--permanent", definition, QuoteString(f"--add-port={port}"))
        for port in ports
        if port not in current
    ]
    permanent += [
        StringCommand("firewall-cmd", "--permanent", definition, QuoteString(f"--remove-port={port}"))
        for port in current
        if port not in ports
    ]
    if service not in zone_state["services"]:
        permanent.append(
            StringCommand(
                "firewall-cmd", "--permanent", QuoteString(f"--zone={zone}"), QuoteString(f"--add-service={service}")
            )
        )
    permanent += [
        StringCommand(
            "firewall-cmd", "--permanent", QuoteString(f"--zone={zone}"), QuoteString(f"--remove-port={port}")
        )
        for port in ports
        if port in zone_state["permanent"]
    ]
    if permanent:
        commands = [*permanent, StringCommand("firewall-cmd", "--reload")]
    elif service not in zone_state["runtime_services"]:
        commands = [
            StringCommand("firewall-cmd", QuoteString(f"--zone={zone}"), QuoteString(f"--add-service={service}"))
        ]
    else:
        commands = [
            StringCommand("firewall-cmd", QuoteString(f"--zone={zone}"), QuoteString(f"--remove-port={port}"))
            for port in ports
            if port in zone_state["runtime"]
        ]
    if not commands:
        host.noop(f"service {service} ({' '.join(ports)}) is enabled in zone {zone}")
        return
    if lock_holder:
        yield guarded(lock_holder, "true")
    yield from commands


@operation()
def service_removed(service, firewall=None, lock_holder=None):
    """
    Remove a local firewalld service definition: disabled in every zone that enables
    it (permanently and at runtime), then deleted; its ports close with it.

    + service: name of the local service definition (``/etc/firewalld/services/<service>.xml``)
    + firewall: the ``FirewalldState`` fact, when the caller read it already; read here otherwise
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder before
      changing anything

    **Example:**

    .. code:: python

        from harbor_deploy.operations import firewalld
        firewalld.service_removed(
            name="Close Harbor's ports",
            service="harbor",
        )
    """
    state = firewall if firewall is not None else host.get_fact(FirewalldState)
    if not state["running"]:
        host.noop(f"firewalld is not running: service {service} left as is")
        return
    zones = sorted(name for name, zone in state["zones"].items() if service in zone["services"])
    if service not in state["local_services"] and not zones:
        host.noop(f"firewalld has no service {service}")
        return
    if lock_holder:
        yield guarded(lock_holder, "true")
    for zone in zones:
        yield StringCommand(
            "firewall-cmd", "--permanent", QuoteString(f"--zone={zone}"), QuoteString(f"--remove-service={service}")
        )
    if service in state["local_services"]:
        yield StringCommand("firewall-cmd", "--permanent", QuoteString(f"--delete-service={service}"))
    yield StringCommand("firewall-cmd", "--reload")


def source_rule(source, port):
    """The rich rule accepting ``port`` (``"5432/tcp"``) from ``source`` (a CIDR), as
    firewalld writes it back when listing."""
    number, _, protocol = port.partition("/")
    family = "ipv6" if ":" in source else "ipv4"
    return f'rule family="{family}" source address="{source}" port port="{number}" protocol="{protocol}" accept'


def _accepted_port(rule):
    """``"5432/tcp"`` for a rich rule accepting one port from one source, else None."""
    match = _SOURCE_PORT_RULE.match(rule)
    return f"{match.group('port')}/{match.group('protocol')}" if match else None


@operation()
def source_ports(ports, sources, zone=None, firewall=None, lock_holder=None):
    """
    Open ``ports`` in a zone to ``sources`` only: one rich rule per source and port,
    permanently and at runtime (no reload). A rule accepting one of ``ports`` from a
    source no longer listed is removed, in both; other rules are left alone.

    + ports: ``["5432/tcp", ...]``
    + sources: CIDRs (``["10.0.0.0/24", "fd00::/64"]``), normalised as firewalld lists them
    + zone: firewalld zone, default: the host's default zone
    + firewall: the ``FirewalldState`` fact, when the caller read it already; read here otherwise
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder before
      changing anything

    **Example:**

    .. code:: python

        from harbor_deploy.operations import firewalld
        firewalld.source_ports(
            name="PostgreSQL from the Harbor nodes only",
            ports=["5432/tcp"],
            sources=["10.0.0.0/24"],
        )
    """
    state = firewall if firewall is not None else host.get_fact(FirewalldState)
    if not state["running"]:
        why = "not installed" if not state["installed"] else "not running"
        host.noop(f"firewalld is {why}: {', '.join(ports)} left as is")
        return
    zone = zone or state["default_zone"]
    if zone not in state["zones"]:
        raise OperationError(f"firewalld has no zone {zone!r} (zones: {', '.join(state['zones'])})")
    wanted = [source_rule(source, port) for port in ports for source in sources]
    commands = []
    for flags, listed in ((["--permanent"], "rich_rules"), ([], "runtime_rich_rules")):
        found = state["zones"][zone][listed]
        changes = [("add", rule) for rule in wanted if rule not in found]
        changes += [("remove", rule) for rule in found if _accepted_port(rule) in ports and rule not in wanted]
        commands += [
            StringCommand(
                "firewall-cmd", *flags, QuoteString(f"--zone={zone}"), QuoteString(f"--{action}-rich-rule={rule}")
            )
            for action, rule in changes
        ]
    if not commands:
        host.noop(f"{', '.join(ports)} open to {', '.join(sources)} only in zone {zone}")
        return
    if lock_holder:
        yield guarded(lock_holder, "true")
    yield from commands
