"""Harbor's scheduled system jobs: garbage collection (``harbor_gc_schedule``) and the
audit-log purge (``harbor_audit_log_purge``), one schedule each.

Both are served alike (src/server/v2.0/handler/gc.go and purge.go): POST creates,
PUT replaces, type "None" removes the schedule; every scheduled type needs a valid
6-field cron; GET answers the schedule with its parameters as JSON text
(``job_parameters``), or 200 without a body when there is none.
"""

import json

from harbor_deploy.lib.harbor_api.resources.common import NAMED_SCHEDULES, Change, FieldChange, cron_schedule

GC_DEFAULT_WORKERS = 1
GC_PATH = "/system/gc/schedule"
PURGE_PATH = "/system/purgeaudit/schedule"
# purge.go: at most this many hours of audit log kept (common.MaxAuditRetentionHour).
MAX_AUDIT_RETENTION_HOURS = 240000


def schedule_spec(schedule, parameters):
    """A named schedule, a 6-field cron or "None" (removes it), with the job's parameters
    (sent with "None" too: purge.go refuses any request without them)."""
    if schedule == "None":
        return {"type": "None", "cron": "", "parameters": parameters}
    kind, cron = cron_schedule(schedule)
    return {"type": kind, "cron": cron, "parameters": parameters}


def gc_spec(raw):
    """``{schedule, delete_untagged?, workers?}`` (shape checked by ``schema``)."""
    # Harbor keeps exactly these two parameters with a schedule.
    parameters = {
        "delete_untagged": bool(raw.get("delete_untagged", True)),
        "workers": raw.get("workers", GC_DEFAULT_WORKERS),
    }
    return schedule_spec(raw["schedule"], parameters)


def purge_spec(raw):
    """``{schedule, retention_hours, event_types, dry_run?}`` (shape checked by ``schema``):
    Harbor requires both the retention and the event types (purge.go)."""
    if raw["retention_hours"] > MAX_AUDIT_RETENTION_HOURS:
        raise ValueError(f"retention_hours must be at most {MAX_AUDIT_RETENTION_HOURS} (Harbor's limit)")
    parameters = {
        "audit_retention_hour": raw["retention_hours"],
        "include_event_types": ",".join(raw["event_types"]),
        "dry_run": bool(raw.get("dry_run", False)),
    }
    return schedule_spec(raw["schedule"], parameters)


def schedule_payload(spec):
    """``Schedule``: the type, its cron, the parameters."""
    schedule = {"type": spec["type"]}
    if spec["type"] != "None":
        schedule["cron"] = spec["cron"]
    return {"schedule": schedule, "parameters": spec["parameters"]}


def current_schedule(current):
    """(type, cron, parameters) of Harbor's answer (None: no schedule)."""
    schedule = (current or {}).get("schedule") or {}
    kind = schedule.get("type") or "None"
    return kind, schedule.get("cron") or "", json.loads((current or {}).get("job_parameters") or "{}")


def schedule_diff(spec, current):
    """``FieldChange``s of a schedule; ``current`` is Harbor's answer or None."""
    kind, cron, parameters = current_schedule(current)
    if spec["type"] == "None":
        return [FieldChange("schedule", kind, "None")] if kind != "None" else []
    fields = []
    if (kind, cron) != (spec["type"], spec["cron"]):
        fields.append(FieldChange("schedule", f"{kind} {cron}".strip(), f"{spec['type']} {spec['cron']}"))
    fields += [
        FieldChange(key, parameters.get(key), value)
        for key, value in spec["parameters"].items()
        if parameters.get(key) != value
    ]
    return fields


def plan_schedule(client, path, kind, specs):
    """The change of the one schedule ``specs`` holds (none: left as Harbor has it)."""
    if not specs:
        return []
    [spec] = specs
    current = client.get(path, f"{kind} schedule")
    fields = schedule_diff(spec, current)
    if not fields:
        return []
    exists = current_schedule(current)[0] != "None"
    method = "PUT" if exists else "POST"
    action = "delete" if spec["type"] == "None" else "update" if exists else "create"
    return [
        Change(
            action,
            kind,
            "schedule",
            tuple(fields) if action == "update" else (),
            lambda: client.request(method, path, f"{kind} schedule", json=schedule_payload(spec)),
        )
    ]


def plan_gc(client, specs, _store=None):
    return plan_schedule(client, GC_PATH, "gc", specs)


def plan_purge(client, specs, _store=None):
    return plan_schedule(client, PURGE_PATH, "audit log purge", specs)


def schedule_name(kind, cron):
    """The inventory's form of a schedule: a name Harbor's UI uses, else the cron."""
    if kind in NAMED_SCHEDULES and NAMED_SCHEDULES[kind] == cron:
        return kind
    return cron


def export_gc(client):
    kind, cron, parameters = current_schedule(client.get(GC_PATH, "gc schedule"))
    if kind == "None":
        return None
    found = {"schedule": schedule_name(kind, cron), "delete_untagged": bool(parameters.get("delete_untagged"))}
    if parameters.get("workers", GC_DEFAULT_WORKERS) != GC_DEFAULT_WORKERS:
        found["workers"] = parameters["workers"]
    return found


def export_purge(client):
    kind, cron, parameters = current_schedule(client.get(PURGE_PATH, "audit log purge schedule"))
    if kind == "None":
        return None
    found = {
        "schedule": schedule_name(kind, cron),
        "retention_hours": parameters.get("audit_retention_hour", 0),
        "event_types": [item for item in str(parameters.get("include_event_types") or "").split(",") if item],
    }
    if parameters.get("dry_run"):
        found["dry_run"] = True
    return found
