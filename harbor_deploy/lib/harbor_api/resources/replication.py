"""Replication policies (``harbor_replication_policies``): what Harbor copies to, or
from, another registry (an endpoint of ``harbor_registries``), which artifacts, when.

Known by name; policies Harbor has that the list leaves out are left alone, ``state:
absent`` deletes one. With ``run_after_change``, a policy created or changed (and
enabled) is run once right after. What this encodes of Harbor v2.13.1 (goharbor/harbor
at that tag):

- src/controller/replication/model/model.go ``Validate``: exactly one of source and
  destination is a remote registry (the other is this Harbor, "Local", id 0); filters
  of type name, tag, label or resource (``image`` or ``artifact``), decorations
  (``matches``/``excludes``) on tag and label filters only; a destination namespace
  that is a repository name; a trigger ``manual``, ``event_based`` or ``scheduled``
  with a 6-field cron whose seconds are 0 and whose minutes are not ``*``.
- src/server/v2.0/handler/replication.go: create and update read the deprecated
  ``deletion`` (not ``replicate_deletion``, which only answers carry too): both are
  sent; a speed below 0 is stored as 0, which is no limit (KB/s per task); without
  ``dest_namespace_replace_count`` Harbor takes -1 (the destination namespace replaces
  every path component but the image name).
- src/controller/replication/flow/stage.go ``replaceNamespace``: with a replace count
  n, the first n path components are replaced by the destination namespace.
- src/controller/replication/execution.go ``Start``: a disabled policy can't be run
  (412); an execution runs in the background (``POST /replication/executions``).
- Names are unique (``unique_policy_name``, make/migrations/postgresql/0002_1.7.0);
  an endpoint a policy uses can't be deleted (src/controller/registry/controller.go).
"""

from functools import partial

from harbor_deploy.lib.harbor_api.client import query_params
from harbor_deploy.lib.harbor_api.resources.common import (
    NAMED_SCHEDULES,
    Change,
    FieldChange,
    ResourceError,
    cron_schedule,
    entry_state,
    find_registry,
)

POLICIES = "/replication/policies"
EXECUTIONS = "/replication/executions"
TRIGGERS = ("manual", "event_based")
RESOURCES = ("image", "artifact")
# flatten: how many leading path components the destination namespace replaces;
# "all" is Harbor's -1 (namespace/<image name>), its default.
FLATTEN_ALL = -1
FLATTEN_LEVELS = ("all", 0, 1, 2, 3)
# The inventory's filter keys: (Harbor's filter type, its decoration).
FILTER_KEYS = {
    "repositories": ("name", ""),
    "tags": ("tag", "matches"),
    "exclude_tags": ("tag", "excludes"),
    "labels": ("label", "matches"),
    "exclude_labels": ("label", "excludes"),
    "resource": ("resource", ""),
}
# A policy's fields as the inventory names them: Harbor's name of each, and its value
# when an answer leaves it out (Harbor omits false, "" and 0).
HARBOR_FIELDS = {
    "description": ("description", ""),
    "enabled": ("enabled", False),
    "override": ("override", False),
    "replicate_deletion": ("replicate_deletion", False),
    "dest_namespace": ("dest_namespace", ""),
    "flatten": ("dest_namespace_replace_count", FLATTEN_ALL),
    "bandwidth_kb_per_second": ("speed", 0),
    "copy_by_chunk": ("copy_by_chunk", False),
}


def trigger_of(value):
    """``manual``, ``event_based`` or a schedule (Hourly, Daily, Weekly, a 6-field cron)
    -> Harbor's ``ReplicationTrigger``."""
    if value in TRIGGERS:
        return {"type": value}
    cron = cron_schedule(value)[1]
    if cron.split(" ")[1] == "*":
        raise ValueError(f"trigger {value!r}: Harbor refuses * in the minutes field of a replication schedule")
    return {"type": "scheduled", "trigger_settings": {"cron": cron}}


def filters_of(raw):
    """Harbor's ``ReplicationFilter``s of an entry's filter keys."""
    filters = []
    for key, (kind, decoration) in FILTER_KEYS.items():
        if key not in raw:
            continue
        if any(other in raw for other, (same, _) in FILTER_KEYS.items() if same == kind and other != key):
            raise ValueError(f"{key} and the other {kind} filter can't both be given: Harbor takes one of each")
        item = {"type": kind, "value": raw[key]}
        if decoration:
            item["decoration"] = decoration
        filters.append(item)
    return filters


def policy_spec(raw):
    """An entry of ``harbor_replication_policies`` (shape checked by ``schema``), normalized."""
    spec = {"name": raw["name"], "state": entry_state(raw)}
    if spec["state"] == "absent":
        return spec
    directions = [key for key in ("push_to", "pull_from") if key in raw]
    if len(directions) != 1:
        raise ValueError("needs push_to or pull_from (the registry endpoint's name), one of them")
    flatten = raw.get("flatten", "all")
    return {
        **spec,
        "direction": directions[0],
        "registry": raw[directions[0]],
        "filters": filters_of(raw),
        "trigger": trigger_of(raw.get("trigger", "manual")),
        "run_after_change": bool(raw.get("run_after_change", False)),
        "fields": {
            "description": raw.get("description", ""),
            "enabled": bool(raw.get("enabled", True)),
            "override": bool(raw.get("override", True)),
            "replicate_deletion": bool(raw.get("replicate_deletion", False)),
            "dest_namespace": raw.get("dest_namespace", ""),
            "flatten": FLATTEN_ALL if flatten == "all" else flatten,
            "bandwidth_kb_per_second": raw.get("bandwidth_kb_per_second", 0),
            "copy_by_chunk": bool(raw.get("copy_by_chunk", False)),
        },
    }


def policy_payload(spec, registry_id):
    """``ReplicationPolicy`` of a spec, the remote endpoint being ``registry_id``."""
    fields = spec["fields"]
    side = "dest_registry" if spec["direction"] == "push_to" else "src_registry"
    return {
        "name": spec["name"],
        "description": fields["description"],
        side: {"id": registry_id},
        "dest_namespace": fields["dest_namespace"],
        "dest_namespace_replace_count": fields["flatten"],
        "trigger": spec["trigger"],
        "filters": spec["filters"],
        # handler/replication.go reads "deletion"; answers carry both.
        "deletion": fields["replicate_deletion"],
        "replicate_deletion": fields["replicate_deletion"],
        "override": fields["override"],
        "enabled": fields["enabled"],
        "speed": fields["bandwidth_kb_per_second"],
        "copy_by_chunk": fields["copy_by_chunk"],
    }


def _comparable_trigger(trigger):
    trigger = trigger or {}
    return f"{trigger.get('type') or 'manual'} {(trigger.get('trigger_settings') or {}).get('cron') or ''}".strip()


def _comparable_filters(filters):
    return sorted((item.get("type"), repr(item.get("value")), item.get("decoration") or "") for item in filters or ())


def current_fields(policy):
    """The inventory's fields of a policy Harbor has."""
    return {key: policy.get(name, default) for key, (name, default) in HARBOR_FIELDS.items()}


def policy_diff(spec, current, registry_id):
    """``FieldChange``s of a policy Harbor has (``current``) against the spec."""
    have = current_fields(current)
    fields = [FieldChange(key, have[key], value) for key, value in spec["fields"].items() if have[key] != value]
    remote = current.get("dest_registry") if spec["direction"] == "push_to" else current.get("src_registry")
    if not remote or remote.get("id") != registry_id:
        fields.append(FieldChange(spec["direction"], None, spec["registry"]))
    if _comparable_trigger(current.get("trigger")) != _comparable_trigger(spec["trigger"]):
        fields.append(
            FieldChange("trigger", _comparable_trigger(current.get("trigger")), _comparable_trigger(spec["trigger"]))
        )
    if _comparable_filters(current.get("filters")) != _comparable_filters(spec["filters"]):
        fields.append(FieldChange("filters"))
    return fields


def find_policy(client, name):
    matches = [
        item
        for item in client.list(POLICIES, f"replication policy {name}", query_params("name", name))
        if item["name"] == name
    ]
    return matches[0] if matches else None


def _registry_id(client, spec, required):
    registry = find_registry(client, spec["registry"])
    if registry is None and required:
        raise ResourceError(f"replication policy {spec['name']}: no registry endpoint {spec['registry']}")
    return registry["id"] if registry else None


def plan_policies(client, specs, _store=None):
    changes = []
    for spec in specs:
        name = spec["name"]
        current = find_policy(client, name)
        resource = f"replication policy {name}"
        if spec["state"] == "absent":
            if current:
                delete = partial(client.delete, f"{POLICIES}/{current['id']}", resource)
                changes.append(Change("delete", "replication policy", name, apply=delete))
            continue
        # An endpoint this run creates is looked up when the policy is written.
        registry_id = _registry_id(client, spec, required=False)
        if current is None:
            changes.append(Change("create", "replication policy", name, apply=partial(_write, client, spec, None)))
        else:
            fields = policy_diff(spec, current, registry_id)
            if not fields:
                continue
            changes.append(
                Change("update", "replication policy", name, tuple(fields), partial(_write, client, spec, current))
            )
        if spec["run_after_change"] and spec["fields"]["enabled"]:
            changes.append(Change("run", "replication policy", name, apply=partial(_run, client, name)))
    return changes


def _write(client, spec, current):
    payload = policy_payload(spec, _registry_id(client, spec, required=True))
    resource = f"replication policy {spec['name']}"
    if current is None:
        client.post(POLICIES, resource, payload)
    else:
        client.put(f"{POLICIES}/{current['id']}", resource, payload)


def _run(client, name):
    """Start one execution of the policy (Harbor runs it in the background)."""
    policy = find_policy(client, name)
    client.post(EXECUTIONS, f"a run of replication policy {name}", {"policy_id": policy["id"]})


def export_policies(client):
    """``harbor_replication_policies`` as Harbor has them."""
    found = []
    for policy in client.list(POLICIES, "replication policies"):
        remote_side = "pull_from" if (policy.get("src_registry") or {}).get("id") else "push_to"
        registry = policy.get("src_registry" if remote_side == "pull_from" else "dest_registry") or {}
        entry = {"name": policy["name"], remote_side: registry.get("name")}
        for item in policy.get("filters") or []:
            key = next(
                (
                    key
                    for key, (kind, decoration) in FILTER_KEYS.items()
                    if kind == item.get("type") and decoration == (item.get("decoration") or decoration)
                ),
                None,
            )
            if key is not None:
                entry[key] = item.get("value")
        trigger = policy.get("trigger") or {}
        cron = (trigger.get("trigger_settings") or {}).get("cron") or ""
        if trigger.get("type") == "scheduled":
            entry["trigger"] = next((named for named, value in NAMED_SCHEDULES.items() if value == cron), cron)
        elif trigger.get("type") == "event_based":
            entry["trigger"] = "event_based"
        defaults = policy_spec({"name": policy["name"], "push_to": "-"})["fields"]
        for key, value in current_fields(policy).items():
            if value != defaults[key]:
                entry[key] = "all" if key == "flatten" and value == FLATTEN_ALL else value
        found.append(entry)
    return found
