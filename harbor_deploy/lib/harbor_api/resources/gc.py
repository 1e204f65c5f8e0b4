"""The garbage collection schedule."""

import json

from harbor_deploy.lib.harbor_api.resources.common import Change, cron_schedule

GC_DEFAULT_WORKERS = 1


def gc_spec(raw):
    """``{schedule, delete_untagged?, workers?}`` (shape checked by ``schema``); schedule
    "None" removes it."""
    if raw["schedule"] == "None":
        return {"type": "None", "cron": "", "parameters": {}}
    kind, cron = cron_schedule(raw["schedule"])
    workers = raw.get("workers", GC_DEFAULT_WORKERS)
    # Harbor keeps exactly these two parameters with a schedule.
    parameters = {"delete_untagged": bool(raw.get("delete_untagged", True)), "workers": workers}
    return {"type": kind, "cron": cron, "parameters": parameters}


def gc_payload(spec):
    """``Schedule`` of garbage collection: the type and its cron."""
    schedule = {"type": spec["type"]}
    if spec["type"] != "None":
        schedule["cron"] = spec["cron"]
    return {"schedule": schedule, "parameters": spec["parameters"]}


def gc_diff(spec, current):
    """Fields of the GC schedule to change; ``current`` is Harbor's GCHistory or None."""
    current_type = ((current or {}).get("schedule") or {}).get("type") or "None"
    if spec["type"] == "None":
        return ["schedule"] if current_type != "None" else []
    fields = []
    current_cron = (current["schedule"].get("cron") or "") if current else ""
    if current_type != spec["type"] or current_cron != spec["cron"]:
        fields.append("schedule")
    parameters = json.loads((current or {}).get("job_parameters") or "{}")
    fields += [key for key, value in spec["parameters"].items() if parameters.get(key) != value]
    return fields


def plan_gc(client, specs, _store=None):
    """The change of the one schedule ``specs`` holds (none: left as Harbor has it)."""
    if not specs:
        return []
    [spec] = specs
    current = client.get("/system/gc/schedule", "gc schedule")
    fields = gc_diff(spec, current)
    if not fields:
        return []
    exists = bool(((current or {}).get("schedule") or {}).get("type") not in (None, "None"))
    method = "PUT" if exists else "POST"
    action = "update" if exists else "create"
    if spec["type"] == "None":
        action = "delete"
    return [
        Change(
            action,
            "gc",
            "schedule",
            tuple(fields) if exists else (),
            lambda: client.request(method, "/system/gc/schedule", "gc schedule", json=gc_payload(spec)),
        )
    ]
