"""Projects (visibility, quota, scanning policy, proxy cache, CVE allowlist) and their
members: users and groups.

Harbor refuses to delete a project that still holds repositories (412, "the project
contains repositories, can not be deleted": src/server/v2.0/handler/project.go
``deletable``, from its ``repo_count``): such a deletion is refused while planning,
naming the count, unless the entry says ``purge: true``; then each repository is
deleted first (``DELETE /projects/{name}/repositories/{repository}``, the name
without the project and encoded twice, src/server/v2.0/handler/repository.go)."""

from functools import partial

from harbor_deploy.lib.harbor_api.client import path_segment
from harbor_deploy.lib.harbor_api.resources.common import (
    Change,
    FieldChange,
    ResourceError,
    bool_string,
    entry_state,
    find_project,
    find_registry,
    parse_size,
)
from harbor_deploy.lib.harbor_api.resources.cve_allowlists import (
    allowlist_diff,
    allowlist_payload,
    allowlist_spec,
    export_allowlist,
)
from harbor_deploy.lib.harbor_api.resources.groups import group_id
from harbor_deploy.lib.harbor_api.resources.immutable import export_immutable_rules, immutable_spec
from harbor_deploy.lib.harbor_api.resources.registries import PROXY_CACHE_TYPES
from harbor_deploy.lib.harbor_api.resources.retention import export_retention, retention_spec
from harbor_deploy.lib.harbor_api.resources.webhooks import export_webhooks, webhooks_of

# Project roles as Harbor numbers them.
ROLES = {"project_admin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limited_guest": 5}
ROLE_NAMES = {number: name for name, number in ROLES.items()}
# A member is a user ("u") or a group ("g"), by name (ProjectMemberEntity).
MEMBER_TYPES = {"user": "u", "group": "g"}
# The metadata choosing a project's own CVE allowlist over the system's; a project
# without it reuses the system's (src/pkg/project/models/project.go).
REUSE_SYSTEM_ALLOWLIST = "reuse_sys_cve_allowlist"
METADATA_DEFAULTS = {REUSE_SYSTEM_ALLOWLIST: "true"}

SEVERITIES = ("none", "low", "medium", "high", "critical")


# Paths under /projects/{name} take the name, not the id, with this header.
BY_NAME = {"X-Is-Resource-Name": "true"}


def project_spec(raw):
    """A project entry of ``harbor_projects`` (shape checked by ``schema``), normalized."""
    spec = {
        "name": raw["name"],
        "state": entry_state(raw),
        "metadata": {},
        "storage_limit": None,
        "proxy_cache": raw.get("proxy_cache"),
        "members": [],
        "retention": None,
        "cve_allowlist": None,
        "purge": bool(raw.get("purge", False)),
        "immutable_tags": immutable_spec(raw["immutable_tags"]) if raw.get("immutable_tags") is not None else None,
        "webhooks": webhooks_of(raw),
    }
    if spec["purge"] and spec["state"] != "absent":
        raise ValueError("purge is for a project with state: absent (it deletes its repositories first)")
    for key, meta in (("public", "public"), ("auto_scan", "auto_scan"), ("prevent_vulnerable", "prevent_vul")):
        if key in raw:
            spec["metadata"][meta] = bool_string(raw[key])
    if "severity" in raw:
        spec["metadata"]["severity"] = raw["severity"]
    if raw.get("storage_quota") is not None:
        spec["storage_limit"] = parse_size(raw["storage_quota"])
    for member in raw.get("members") or []:
        role = ROLES[member.get("role", "developer")]
        [kind] = [key for key in MEMBER_TYPES if key in member]  # the schema allows exactly one
        spec["members"].append({"type": kind, "name": member[kind], "role_id": role, "state": entry_state(member)})
    if raw.get("retention") is not None:
        spec["retention"] = retention_spec(raw["retention"])
    allowlist = raw.get("cve_allowlist")
    if allowlist == "system":
        spec["metadata"][REUSE_SYSTEM_ALLOWLIST] = "true"
    elif allowlist is not None:
        spec["metadata"][REUSE_SYSTEM_ALLOWLIST] = "false"
        spec["cve_allowlist"] = allowlist_spec(allowlist)
    return spec


def project_payload(spec, registry_id=None):
    """``ProjectReq`` creating the project; Harbor's default is private."""
    payload = {"project_name": spec["name"], "metadata": {"public": "false", **spec["metadata"]}}
    if spec["storage_limit"] is not None:
        payload["storage_limit"] = spec["storage_limit"]
    if registry_id is not None:
        payload["registry_id"] = registry_id
    return payload


def metadata_diff(desired, current):
    """Metadata keys whose desired value differs from the current one."""
    return {key: value for key, value in desired.items() if current.get(key, METADATA_DEFAULTS.get(key)) != value}


def project_quota(client, project):
    quotas = client.get(
        "/quotas",
        f"quota of project {project['name']}",
        params={"reference": "project", "reference_id": str(project["project_id"])},
    )
    return quotas[0] if quotas else None


def plan_projects(client, specs, _store=None):
    changes = []
    for spec in specs:
        name = spec["name"]
        current = find_project(client, name)
        if spec["state"] == "absent":
            if current:
                why = undeletable(spec, current)
                if why:
                    raise ResourceError(why)
                repositories = current.get("repo_count", 0)
                changes.append(
                    Change(
                        "delete",
                        "project",
                        name,
                        (f"purge: {repositories} repositories first",) if repositories else (),
                        partial(_delete_project, client, current),
                    )
                )
            continue
        if current is None:
            if spec["proxy_cache"] is not None:
                proxy_cache_registry(client, spec, required=False)  # refused before any write
            changes.append(Change("create", "project", name, apply=lambda s=spec: _create_project(client, s)))
            continue
        if spec["proxy_cache"] is not None:
            registry = find_registry(client, spec["proxy_cache"])
            if not registry or registry["id"] != current.get("registry_id"):
                raise ResourceError(
                    f"project {name}: a project's proxy cache registry is set at "
                    "creation only; delete and recreate it to change it"
                )
        have = current.get("metadata") or {}
        metadata = metadata_diff(spec["metadata"], have)
        fields = [FieldChange(key, have.get(key), value) for key, value in sorted(metadata.items())]
        body = {"metadata": metadata} if metadata else {}
        if spec["cve_allowlist"] is not None:
            allowlist = allowlist_diff(spec["cve_allowlist"], current.get("cve_allowlist"))
            if allowlist:
                fields += [FieldChange(f"cve_allowlist.{item.name}", item.have, item.want) for item in allowlist]
                body["cve_allowlist"] = allowlist_payload(spec["cve_allowlist"])
        if body:
            changes.append(
                Change(
                    "update",
                    "project",
                    name,
                    tuple(fields),
                    lambda c=current, b=body: client.put(f"/projects/{c['project_id']}", f"project {c['name']}", b),
                )
            )
        if spec["storage_limit"] is not None:
            quota = project_quota(client, current)
            if quota and (quota.get("hard") or {}).get("storage") != spec["storage_limit"]:
                changes.append(
                    Change(
                        "update",
                        "project",
                        name,
                        (
                            FieldChange(
                                "storage_quota", (quota.get("hard") or {}).get("storage"), spec["storage_limit"]
                            ),
                        ),
                        lambda q=quota, s=spec: client.put(
                            f"/quotas/{q['id']}",
                            f"quota of project {s['name']}",
                            {"hard": {"storage": s["storage_limit"]}},
                        ),
                    )
                )
    return changes


def undeletable(spec, current):
    """Why Harbor would refuse to delete the project ``current`` (its repositories,
    without ``purge``), or None."""
    repositories = current.get("repo_count", 0)
    if not repositories or spec["purge"]:
        return None
    return (
        f"project {spec['name']} holds {repositories} repositor{'y' if repositories == 1 else 'ies'}: Harbor "
        "refuses to delete a project with repositories; set purge: true to delete them (and their artifacts) "
        "first, or keep the project; nothing was changed"
    )


def _delete_project(client, project):
    """Each repository of the project (none unless ``purge``), then the project."""
    name = project["name"]
    for repository in client.list(f"/projects/{path_segment(name)}/repositories", f"repositories of project {name}"):
        within = repository["name"].split("/", 1)[1]
        client.delete(
            f"/projects/{path_segment(name)}/repositories/{path_segment(path_segment(within))}",
            f"repository {repository['name']}",
        )
    client.delete(f"/projects/{project['project_id']}", f"project {name}")


def proxy_cache_registry(client, spec, required=True):
    """The registry endpoint of a proxy cache project, of a type Harbor permits; None
    when it does not exist (yet) and is not ``required``."""
    registry = find_registry(client, spec["proxy_cache"])
    if registry is None:
        if required:
            raise ResourceError(f"project {spec['name']}: no registry endpoint {spec['proxy_cache']}")
        return None
    if registry.get("type") not in PROXY_CACHE_TYPES:
        raise ResourceError(
            f"project {spec['name']}: registry {spec['proxy_cache']} is of type {registry.get('type')}, "
            f"Harbor makes proxy caches of {', '.join(PROXY_CACHE_TYPES)} only"
        )
    return registry


def _create_project(client, spec):
    registry_id = None
    if spec["proxy_cache"] is not None:
        registry_id = proxy_cache_registry(client, spec)["id"]
    client.post("/projects", f"project {spec['name']}", project_payload(spec, registry_id))
    if spec["cve_allowlist"] is not None:
        # Harbor starts every project with an empty list, whatever the request says.
        project = find_project(client, spec["name"])
        client.put(
            f"/projects/{project['project_id']}",
            f"project {spec['name']}",
            {"cve_allowlist": allowlist_payload(spec["cve_allowlist"])},
        )


def plan_members(client, specs, _store=None):
    """Project membership of users and groups, for projects that exist (or are being created)."""
    changes = []
    for spec in specs:
        if spec["state"] == "absent" or not spec["members"]:
            continue
        project = spec["name"]
        current = find_project(client, project)
        members = {}
        if current:
            for item in client.list(f"/projects/{current['project_id']}/members", f"members of project {project}"):
                members[(item.get("entity_type"), item.get("entity_name"))] = item
        base = f"/projects/{path_segment(project)}/members"
        for member in spec["members"]:
            name, kind = member["name"], member["type"]
            existing = members.get((MEMBER_TYPES[kind], name))
            label = f"{project}/{name}" if kind == "user" else f"{project}/group {name}"
            resource = f"member {kind} {name} of project {project}"
            if member["state"] == "absent":
                if existing:
                    delete = partial(client.delete, f"{base}/{existing['id']}", resource, headers=BY_NAME)
                    changes.append(Change("delete", "member", label, apply=delete))
            elif existing is None:
                create = partial(_add_member, client, base, resource, member)
                changes.append(Change("create", "member", label, apply=create))
            elif existing.get("role_id") != member["role_id"]:
                update = partial(
                    client.put, f"{base}/{existing['id']}", resource, {"role_id": member["role_id"]}, headers=BY_NAME
                )
                role = FieldChange("role", ROLE_NAMES.get(existing.get("role_id")), ROLE_NAMES[member["role_id"]])
                changes.append(Change("update", "member", label, (role,), apply=update))
    return changes


def _add_member(client, base, resource, member):
    """``ProjectMember``: a user by name, a group by its id (Harbor looks a group name
    up only together with its type)."""
    if member["type"] == "user":
        entity = {"member_user": {"username": member["name"]}}
    else:
        entity = {"member_group": {"id": group_id(client, member["name"])}}
    client.request("POST", base, resource, json={"role_id": member["role_id"], **entity}, headers=BY_NAME)


# --- export ----------------------------------------------------------------------


def list_projects(client):
    return client.list("/projects", "projects")


def export_projects(client):
    """``harbor_projects``: visibility, scanning policy, quota, proxy cache, members,
    retention and the CVE allowlist of every project."""
    registries = {item["id"]: item["name"] for item in client.list("/registries", "registries")}
    found = []
    for project in list_projects(client):
        metadata = project.get("metadata") or {}
        entry = {"name": project["name"], "public": metadata.get("public") == "true"}
        for key, meta in (("auto_scan", "auto_scan"), ("prevent_vulnerable", "prevent_vul")):
            if meta in metadata:
                entry[key] = metadata[meta] == "true"
        if "severity" in metadata:
            entry["severity"] = metadata["severity"]
        quota = project_quota(client, project)
        if quota:
            entry["storage_quota"] = (quota.get("hard") or {}).get("storage", -1)
        if project.get("registry_id") in registries:
            entry["proxy_cache"] = registries[project["registry_id"]]
        entry["members"] = [
            {
                "user" if item.get("entity_type") == "u" else "group": item["entity_name"],
                "role": ROLE_NAMES.get(item.get("role_id"), "developer"),
            }
            for item in client.list(
                f"/projects/{project['project_id']}/members", f"members of project {project['name']}"
            )
        ]
        if metadata.get("retention_id"):
            policy = client.get(
                f"/retentions/{metadata['retention_id']}", f"retention policy of project {project['name']}"
            )
            retention = export_retention(policy, project["name"])
            if retention is not None:
                entry["retention"] = retention
        if metadata.get(REUSE_SYSTEM_ALLOWLIST) == "false":
            entry["cve_allowlist"] = export_allowlist(project.get("cve_allowlist")) or {"items": []}
        for key, value in (
            ("immutable_tags", export_immutable_rules(client, project["project_id"], project["name"])),
            ("webhooks", export_webhooks(client, project["project_id"], project["name"])),
        ):
            if value is not None:
                entry[key] = value
        found.append(entry)
    return found
