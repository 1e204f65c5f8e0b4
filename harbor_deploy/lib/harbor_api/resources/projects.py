"""Projects (visibility, quota, scanning policy, proxy cache) and their members."""

from functools import partial

from harbor_deploy.lib.harbor_api.client import path_segment
from harbor_deploy.lib.harbor_api.resources.common import (
    Change,
    ResourceError,
    bool_string,
    entry_state,
    find_project,
    find_registry,
    parse_size,
)
from harbor_deploy.lib.harbor_api.resources.registries import PROXY_CACHE_TYPES
from harbor_deploy.lib.harbor_api.resources.retention import retention_spec

# Project roles as Harbor numbers them.
ROLES = {"project_admin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limited_guest": 5}

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
    }
    for key, meta in (("public", "public"), ("auto_scan", "auto_scan"), ("prevent_vulnerable", "prevent_vul")):
        if key in raw:
            spec["metadata"][meta] = bool_string(raw[key])
    if "severity" in raw:
        spec["metadata"]["severity"] = raw["severity"]
    if raw.get("storage_quota") is not None:
        spec["storage_limit"] = parse_size(raw["storage_quota"])
    for member in raw.get("members") or []:
        role = ROLES[member.get("role", "developer")]
        spec["members"].append({"user": member["user"], "role_id": role, "state": entry_state(member)})
    if raw.get("retention") is not None:
        spec["retention"] = retention_spec(raw["retention"])
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
    return {key: value for key, value in desired.items() if current.get(key) != value}


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
                changes.append(
                    Change(
                        "delete",
                        "project",
                        name,
                        apply=lambda c=current: client.delete(f"/projects/{c['project_id']}", f"project {c['name']}"),
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
        metadata = metadata_diff(spec["metadata"], current.get("metadata") or {})
        if metadata:
            changes.append(
                Change(
                    "update",
                    "project",
                    name,
                    tuple(sorted(metadata)),
                    lambda c=current, m=metadata: client.put(
                        f"/projects/{c['project_id']}", f"project {c['name']}", {"metadata": m}
                    ),
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
                        ("storage_quota",),
                        lambda q=quota, s=spec: client.put(
                            f"/quotas/{q['id']}",
                            f"quota of project {s['name']}",
                            {"hard": {"storage": s["storage_limit"]}},
                        ),
                    )
                )
    return changes


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


def plan_members(client, specs, _store=None):
    """Project membership of users, for projects that exist (or are being created)."""
    changes = []
    for spec in specs:
        if spec["state"] == "absent" or not spec["members"]:
            continue
        project = spec["name"]
        current = find_project(client, project)
        members = {}
        if current:
            for item in client.list(f"/projects/{current['project_id']}/members", f"members of project {project}"):
                if item.get("entity_type") == "u":
                    members[item["entity_name"]] = item
        base = f"/projects/{path_segment(project)}/members"
        for member in spec["members"]:
            user, existing = member["user"], members.get(member["user"])
            what, resource = f"{project}/{user}", f"member {user} of project {project}"
            if member["state"] == "absent":
                if existing:
                    delete = partial(client.delete, f"{base}/{existing['id']}", resource, headers=BY_NAME)
                    changes.append(Change("delete", "member", what, apply=delete))
            elif existing is None:
                body = {"role_id": member["role_id"], "member_user": {"username": user}}
                create = partial(client.request, "POST", base, resource, json=body, headers=BY_NAME)
                changes.append(Change("create", "member", what, apply=create))
            elif existing.get("role_id") != member["role_id"]:
                update = partial(
                    client.put, f"{base}/{existing['id']}", resource, {"role_id": member["role_id"]}, headers=BY_NAME
                )
                changes.append(Change("update", "member", what, ("role",), apply=update))
    return changes
