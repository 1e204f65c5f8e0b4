"""What ``deploys/status.py`` reports as wrong: the reasons it exits non-zero, for cron
and monitoring."""

import datetime

from harbor_deploy.lib.render.tls import RENEW_WITHIN_DAYS

# A container without a health check reports "none": running is all it can say.
GOOD_CONTAINER_STATES = {"running/healthy", "running/none"}


def backup_age_hours(created, now=None):
    """Hours since a backup's ``created`` (``20261128T221500Z``)."""
    when = datetime.datetime.strptime(created, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    return ((now or datetime.datetime.now(datetime.UTC)) - when).total_seconds() / 3600


def problems(status, now=None):
    """Each thing wrong in a ``harbor_status`` report, in words; empty when all is well."""
    now = now or datetime.datetime.now(datetime.UTC)
    if status["running_version"] is None:
        return [f"no Harbor release is installed (harbor.service {status['service']})"]
    found = []
    if status["service"] != "enabled/active":
        found.append(f"harbor.service is {status['service']}, not enabled/active")
    if status["health"] != "healthy":
        unhealthy = ", ".join(f"{name} {state}" for name, state in sorted(status["components"].items()))
        found.append(f"Harbor's health answer is {status['health']}" + (f" ({unhealthy})" if unhealthy else ""))
    found += [
        f"container {name} is {state}"
        for name, state in sorted(status["containers"].items())
        if state not in GOOD_CONTAINER_STATES
    ]
    if not status["containers"]:
        found.append("no Harbor container exists")
    if status["certificate_not_after"]:
        left = datetime.datetime.fromisoformat(status["certificate_not_after"]) - now
        if left < datetime.timedelta(days=RENEW_WITHIN_DAYS):
            found.append(f"the served certificate expires in {left.days} days ({status['certificate_not_after']})")
    firewall = status["firewalld"]
    if firewall is not None and not firewall["enabled"]:
        found.append("firewalld runs without Harbor's service enabled in its zone")
    return found


def load_balancer_problems(servers):
    """What is wrong in a load balancer's view of its nodes (``HaproxyServers``)."""
    if servers is None:
        return ["HAProxy does not answer on its admin socket"]
    if not servers:
        return ["HAProxy balances no Harbor node"]
    return [
        f"node {node} is {state['status']} in {backend}"
        for backend, nodes in sorted(servers.items())
        for node, state in sorted(nodes.items())
        if state["status"] != "UP"
    ]


def backing_problems(health):
    """The backing services that do not answer (``BackingHealth``)."""
    return [f"{service} does not answer" for service, answers in sorted(health.items()) if not answers]
