"""CVE allowlists: the system-wide one (``harbor_cve_allowlist``) and a project's own
(``cve_allowlist`` of a ``harbor_projects`` entry), each a list of CVE ids with an
optional expiry.

What this encodes of Harbor v2.13.1: ``PUT /system/CVEAllowlist`` replaces the system
list (src/server/v2.0/handler/sys_cve_allowlist.go); a project's list is set by
``PUT /projects/{id}`` with ``cve_allowlist`` and is used only while the project's
``reuse_sys_cve_allowlist`` metadata is "false" (a project without it reuses the
system list: src/pkg/project/models/project.go); a new project starts with an empty
list, whatever its creation request says (src/controller/project/controller.go);
``expires_at`` is seconds since the epoch, absent when the list never expires; a CVE id
listed twice is refused (src/pkg/allowlist/validator.go).
"""

import datetime

from harbor_deploy.lib.harbor_api.resources.common import Change, field_changes

SYSTEM_PATH = "/system/CVEAllowlist"


def expiry_seconds(value):
    """Seconds since the epoch from an int, or an ISO date/time (UTC unless it says)."""
    if value is None or isinstance(value, int):
        return value
    try:
        stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expires_at {value!r} is not a date (2027-01-31), a time or seconds since the epoch"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return int(stamp.timestamp())


def expiry_text(seconds):
    """The inventory's form of an expiry: an ISO UTC time."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def allowlist_spec(raw):
    """``{items: [CVE ids], expires_at?}`` (shape checked by ``schema``)."""
    items = list(raw.get("items") or [])
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise ValueError(f"CVE ids listed twice: {', '.join(duplicates)} (Harbor refuses that)")
    return {"items": sorted(items), "expires_at": expiry_seconds(raw.get("expires_at"))}


def allowlist_payload(spec):
    """``CVEAllowlist``: the items and, when it expires, when."""
    payload = {"items": [{"cve_id": item} for item in spec["items"]]}
    if spec["expires_at"] is not None:
        payload["expires_at"] = spec["expires_at"]
    return payload


def allowlist_state(current):
    """Harbor's ``CVEAllowlist`` in the spec's form."""
    current = current or {}
    return {
        "items": sorted(item.get("cve_id") for item in current.get("items") or []),
        "expires_at": current.get("expires_at"),
    }


def allowlist_diff(spec, current):
    """``FieldChange``s (items, expires_at) of a list; ``current`` is Harbor's."""
    return field_changes(allowlist_state(current), {"items": spec["items"], "expires_at": spec["expires_at"]})


def plan_system_allowlist(client, specs, _store=None):
    if not specs:
        return []
    [spec] = specs
    fields = allowlist_diff(spec, client.get(SYSTEM_PATH, "system CVE allowlist"))
    if not fields:
        return []
    return [
        Change(
            "update",
            "cve allowlist",
            "system",
            fields,
            lambda: client.put(SYSTEM_PATH, "system CVE allowlist", allowlist_payload(spec)),
        )
    ]


def export_allowlist(current):
    """The inventory's form of Harbor's list; None when it is empty and never expires."""
    state = allowlist_state(current)
    if not state["items"] and state["expires_at"] is None:
        return None
    found = {"items": state["items"]}
    if state["expires_at"] is not None:
        found["expires_at"] = expiry_text(state["expires_at"])
    return found


def export_system_allowlist(client):
    return export_allowlist(client.get(SYSTEM_PATH, "system CVE allowlist"))
