"""User groups (``harbor_groups``): LDAP, HTTP and OIDC groups, members of projects
beside users.

What this encodes of Harbor v2.13.1 (src/server/v2.0/handler/usergroup.go,
src/controller/usergroup/controller.go, src/pkg/usergroup/): a group has a name and a
type (1 LDAP, 2 HTTP, 3 OIDC); an LDAP group is known by its DN, which Harbor looks up
in the LDAP server when the group is created (400 when it is not there, or when the
auth mode is not LDAP) and keeps trimmed and lowercased; only the name can change
afterwards; deleting a group removes its project memberships; in LDAP mode the list
shows only LDAP groups, in HTTP mode only HTTP groups.
"""

from harbor_deploy.lib.harbor_api.resources.common import (
    Change,
    FieldChange,
    ResourceError,
    entry_state,
    presence_change,
)

GROUP_TYPES = {"ldap": 1, "http": 2, "oidc": 3}
TYPE_NAMES = {number: name for name, number in GROUP_TYPES.items()}


def group_spec(raw):
    """A group of ``harbor_groups`` (shape checked by ``schema``)."""
    kind = raw.get("type", "ldap" if raw.get("ldap_group_dn") else None)
    if kind is None:
        raise ValueError("type is required (ldap, http or oidc)")
    dn = raw.get("ldap_group_dn")
    if (kind == "ldap") != bool(dn):
        raise ValueError("ldap_group_dn is required for an LDAP group, and only for one")
    # Harbor keeps the DN trimmed and lowercased (utils.TrimLower).
    return {
        "name": raw["name"],
        "type": kind,
        "ldap_group_dn": dn.strip().lower() if dn else "",
        "state": entry_state(raw),
    }


def list_groups(client):
    return client.list("/usergroups", "user groups")


def find_group(groups, spec):
    """The group of ``spec`` among Harbor's: an LDAP group by its DN, others by name."""
    number = GROUP_TYPES[spec["type"]]
    for group in groups:
        if group.get("group_type") != number:
            continue
        if spec["type"] == "ldap":
            if (group.get("ldap_group_dn") or "") == spec["ldap_group_dn"]:
                return group
        elif group.get("group_name") == spec["name"]:
            return group
    return None


def group_id(client, name):
    """The id of the group named ``name`` (one of any type Harbor lists)."""
    matches = [group for group in list_groups(client) if group.get("group_name") == name]
    if len(matches) != 1:
        raise ResourceError(
            f"group {name}: {'no' if not matches else 'more than one'} group of that name in Harbor "
            "(declare it in harbor_groups)"
        )
    return matches[0]["id"]


def group_payload(spec):
    payload = {"group_name": spec["name"], "group_type": GROUP_TYPES[spec["type"]]}
    if spec["ldap_group_dn"]:
        payload["ldap_group_dn"] = spec["ldap_group_dn"]
    return payload


def plan_groups(client, specs, _store=None):
    changes = []
    groups = list_groups(client) if specs else []
    for spec in specs:
        current = find_group(groups, spec)
        presence = presence_change(
            client,
            "group",
            spec["name"],
            spec,
            current,
            lambda c: f"/usergroups/{c['id']}",
            lambda s=spec: client.post("/usergroups", f"group {s['name']}", group_payload(s)),
        )
        if presence is not None:
            changes += presence
        elif current.get("group_name") != spec["name"]:
            # Only an LDAP group (known by its DN) can be found under another name.
            changes.append(
                Change(
                    "update",
                    "group",
                    spec["name"],
                    (FieldChange("name", current.get("group_name"), spec["name"]),),
                    lambda c=current, s=spec: client.put(
                        f"/usergroups/{c['id']}", f"group {s['name']}", {"group_name": s["name"]}
                    ),
                )
            )
    return changes


def export_groups(client):
    found = []
    for group in list_groups(client):
        entry = {"name": group["group_name"], "type": TYPE_NAMES.get(group.get("group_type"), "ldap")}
        if group.get("ldap_group_dn"):
            entry["ldap_group_dn"] = group["ldap_group_dn"]
        found.append(entry)
    return found
