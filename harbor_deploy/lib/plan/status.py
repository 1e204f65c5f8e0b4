"""What ``deploys/status.py`` reports as wrong: the reasons it exits non-zero, for cron
and monitoring."""

import datetime
import math
import re

from harbor_deploy.lib.render.tls import RENEW_WITHIN_DAYS

# Trivy's database is rebuilt every few hours upstream (trivy-db's NextUpdate): one a
# week old misses that week's vulnerabilities.
TRIVY_DB_STALE_DAYS = 7
# A container without a health check reports "none": running is all it can say.
GOOD_CONTAINER_STATES = {"running/healthy", "running/none"}


def backup_age_hours(created, now=None):
    """Hours since a backup's ``created`` (``20261128T221500Z``)."""
    when = datetime.datetime.strptime(created, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    return ((now or datetime.datetime.now(datetime.UTC)) - when).total_seconds() / 3600


def expiring_robots(robots, within_days, now=None):
    """Of Harbor's ``robots`` (as it lists them), the enabled ones that expire within
    ``within_days`` days or have expired, soonest first: ``{name, expires_at (ISO),
    days_left}``."""
    now = now or datetime.datetime.now(datetime.UTC)
    found = []
    for robot in robots:
        expires = robot.get("expires_at", -1)
        if expires in (None, -1) or robot.get("disable"):
            continue
        when = datetime.datetime.fromtimestamp(expires, datetime.UTC)
        left = (when - now).total_seconds() / 86400
        if left <= within_days:
            found.append({"name": robot["name"], "expires_at": when.isoformat(), "days_left": math.floor(left)})
    return sorted(found, key=lambda robot: robot["expires_at"])


def robot_problems(robots):
    """The ``robots`` part of a status report in words: each robot expiring or expired,
    or why they could not be read."""
    if robots is None:
        return []
    if robots["error"]:
        return [f"Harbor's robot accounts could not be read from the controller: {robots['error']}"]
    return [
        f"robot {robot['name']} expired on {robot['expires_at'][:10]}"
        if robot["days_left"] < 0
        else f"robot {robot['name']} expires in {robot['days_left']} days ({robot['expires_at'][:10]}): raise its "
        "duration, or make it anew, and roll its secret out"
        for robot in robots["expiring"]
    ]


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
    if status.get("shared_values_differ"):
        found.append(
            f"the values prepare draws on every run differ from the ones every node of this Harbor shares "
            f"({', '.join(status['shared_values_differ'])}): jobs another node queued and UI sessions moving "
            "between nodes fail here; run the server deploy"
        )
    return found + robot_problems(status.get("robots"))


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


def metadata_time(stamp):
    """A time of Trivy's metadata.json (RFC 3339, nanoseconds) as a UTC datetime."""
    return datetime.datetime.fromisoformat(re.sub(r"\.\d+", "", stamp)).astimezone(datetime.UTC)


def trivy_databases(databases, now=None):
    """``{folder: {updated_at, age_days}}`` of the Trivy databases in place (the
    ``TrivyDatabases`` fact), and a warning for each older than a week."""
    now = now or datetime.datetime.now(datetime.UTC)
    found, warnings = {}, []
    for folder, state in sorted(databases.items()):
        updated = (state.get("metadata") or {}).get("UpdatedAt")
        if not updated:
            warnings.append(f"Trivy's {folder} has no metadata.json: scans fail until a database is placed")
            continue
        age = (now - metadata_time(updated)).total_seconds() / 86400
        found[folder] = {"updated_at": updated, "age_days": round(age, 1)}
        if age > TRIVY_DB_STALE_DAYS:
            warnings.append(
                f"Trivy's {folder} was built {age:.0f} days ago ({updated}): bring a newer bundle "
                "(harbor_trivy_offline_db / harbor_trivy_offline_java_db) and run the server deploy"
            )
    return found, warnings
