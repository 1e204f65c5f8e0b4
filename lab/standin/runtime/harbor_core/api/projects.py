"""Projects with their CVE allowlists, their members (users and user groups) and their
storage quotas (members and quotas with ids of their own, as Harbor's project_member
and quota tables)."""

from urllib.parse import unquote

from harbor_core.api.allowlists import allowlist_view, set_allowlist
from harbor_core.api.artifacts import repositories
from harbor_core.auth import (
    ROLE_DEVELOPER,
    ROLE_GUEST,
    ROLE_MAINTAINER,
    ROLE_PROJECT_ADMIN,
    require_admin,
    require_login,
    robot_actions,
)
from harbor_core.errors import bad_request, conflict, forbidden, not_found, precondition
from harbor_core.http import API, Response, Route, filtered, first, listing, query_keywords
from harbor_core.rules import NAME_PATTERN, checked_storage_limit

# PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE of core's env (make/photon/prepare/templates/core/env.jinja).
PROXY_CACHE_TYPES = (
    "docker-hub",
    "harbor",
    "azure-acr",
    "ali-acr",
    "aws-ecr",
    "google-gcr",
    "quay",
    "docker-registry",
    "github-ghcr",
    "jfrog-artifactory",
)
ROLE_NAMES = {
    ROLE_PROJECT_ADMIN: "projectAdmin",
    ROLE_DEVELOPER: "developer",
    ROLE_GUEST: "guest",
    ROLE_MAINTAINER: "maintainer",
    5: "limitedGuest",
}


def visible(project, principal):
    return (
        project["metadata"].get("public") == "true"
        or principal.is_admin
        or principal.role(project) is not None
        or bool(principal.robot and robot_actions(principal.robot, project))
    )


def require_project_admin(principal, project):
    require_login(principal)
    if not (principal.is_admin or principal.role(project) == ROLE_PROJECT_ADMIN):
        raise forbidden()


def project_view(app, project, principal):
    role = principal.role(project)
    owner = app.store.user(user_id=project["owner_id"])
    return {
        "project_id": project["project_id"],
        "owner_id": project["owner_id"],
        "name": project["name"],
        "registry_id": project.get("registry_id") or 0,
        "creation_time": project["creation_time"],
        "update_time": project["update_time"],
        "owner_name": owner["username"] if owner else "",
        "current_user_role_id": role or 0,
        # An array (never left out): null when the caller holds no role, like real.
        "current_user_role_ids": [role] if role else None,
        "repo_count": len(repositories(app.settings.storage_root, project["name"])),
        "metadata": dict(project["metadata"]),
        "cve_allowlist": allowlist_view(app.store.allowlist(project["project_id"])),
    }


def requested_project(app, request):
    """The project of the path's first parameter, if the caller may see it."""
    return app.find_project(unquote(request.params[0]), request.by_name, request.principal)


def list_projects(app, request):
    query, principal = request.query, request.principal
    projects = [project for project in app.store.projects() if visible(project, principal)]
    # Like real (handler/project.go ListProjects): q, with name also a fuzzy parameter.
    projects = filtered(projects, query_keywords(query, fuzzy_params=("name",)), {"name": "name"})
    public = first(query, "public")
    if public in ("true", "false"):
        projects = [project for project in projects if project["metadata"].get("public") == public]
    return listing([project_view(app, project, principal) for project in projects], query)


def project_exists(app, request):
    name = first(request.query, "project_name")
    if not name:
        raise bad_request("project_name is required")
    return Response(200 if app.store.project(name, by_name=True) else 404)


def create_project(app, request):
    principal, body = request.principal, request.body()
    require_login(principal)
    if not principal.user:
        raise forbidden("robot accounts can not create projects")
    name = body.get("project_name") or ""
    if not NAME_PATTERN.match(name) or len(name) > 255:
        raise bad_request(f"project name {name!r} is invalid")
    metadata = {key: str(value).lower() for key, value in (body.get("metadata") or {}).items()}
    registry_id = body.get("registry_id") or 0
    if registry_id:
        registry = app.store.registry(registry_id)
        if not registry:
            raise bad_request(f"registry {registry_id} not found")
        if registry["type"] not in PROXY_CACHE_TYPES:
            raise bad_request(f"unsupported registry type {registry['type']}")
    public = metadata.get("public") or ("true" if body.get("public") else "false")
    metadata["public"] = "true" if public == "true" else "false"
    # Like real: no limit, 0, or a caller who is not a system admin get the default
    # storage_per_project (-1, unlimited); any other value must be > 0.
    storage_limit = body.get("storage_limit")
    if storage_limit in (None, 0) or not principal.is_admin:
        storage_limit = app.configuration("storage_per_project")
    checked_storage_limit(storage_limit)
    project_id = app.store.create_project(name, principal.user["user_id"], metadata, storage_limit, registry_id)
    if registry_id:
        app.store.create_retention(app.store.project(project_id), proxy_cache_retention(project_id))
    return Response(201, headers={"Location": f"{API}/projects/{project_id}"})


def proxy_cache_retention(project_id):
    """Like real (handler/project.go: policy.WithNDaysSinceLastPull(projectID, 7), bound
    by the project's retention_id): a new proxy cache project keeps, daily, the
    artifacts pulled in the last 7 days."""
    return {
        "algorithm": "or",
        "rules": [
            {
                "id": 1,
                "priority": 1,
                "action": "retain",
                "template": "nDaysSinceLastPull",
                "params": {"nDaysSinceLastPull": 7},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
                "scope_selectors": {
                    "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
                },
            }
        ],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
        "scope": {"level": "project", "ref": project_id},
    }


def get_project(app, request):
    return Response(200, project_view(app, requested_project(app, request), request.principal))


def update_project(app, request):
    """Like real (handler/project.go, controller/project): metadata merged; a
    ``cve_allowlist`` replaces the project's own list (its project_id, when given, must
    be the project's)."""
    project = requested_project(app, request)
    body = request.body()
    require_project_admin(request.principal, project)
    allowlist = body.get("cve_allowlist")
    if allowlist is not None and allowlist.get("project_id") not in (None, 0, project["project_id"]):
        raise bad_request(
            f"project_id in cve_allowlist must be {project['project_id']} but it's {allowlist['project_id']}"
        )
    metadata = {key: str(value).lower() for key, value in (body.get("metadata") or {}).items()}
    if body.get("public") is not None and "public" not in metadata:
        metadata["public"] = "true" if body["public"] else "false"
    app.store.update_metadata(project["project_id"], metadata)
    if allowlist is not None:
        set_allowlist(app, project["project_id"], allowlist)
    return Response(200)


def delete_project(app, request):
    project = requested_project(app, request)
    require_project_admin(request.principal, project)
    # handler/project.go deletable: from the project's repo_count, Harbor's words.
    if repositories(app.settings.storage_root, project["name"]):
        raise precondition("the project contains repositories, can not be deleted")
    app.store.delete_project(project["project_id"])
    return Response(200)


# --- members (users and user groups; the member id is the membership's own) -------


def member_view(member):
    return {
        "id": member["id"],
        "project_id": member["project_id"],
        "entity_name": member["entity_name"],
        "role_name": ROLE_NAMES.get(member["role"], ""),
        "role_id": member["role"],
        "entity_id": member["entity_id"],
        "entity_type": member["entity_type"],
    }


def members(app, request, project):
    require_login(request.principal)
    if not (request.principal.is_admin or request.principal.role(project) is not None):
        raise forbidden()
    return [member_view(member) for member in app.store.members(project["project_id"])]


def list_members(app, request):
    found = members(app, request, requested_project(app, request))
    wanted = first(request.query, "entityname")
    return listing([member for member in found if wanted in member["entity_name"]] if wanted else found, request.query)


def get_member(app, request):
    member_id = int(request.params[1])
    found = [member for member in members(app, request, requested_project(app, request)) if member["id"] == member_id]
    if not found:
        raise not_found(f"member {member_id} not found")
    return Response(200, found[0])


def member_entity(app, body):
    """controller/member ``Create``: the user (by id or name) or the group (by id, by
    LDAP DN, or by name and type) the request names; only entities Harbor has."""
    wanted_user, wanted_group = body.get("member_user") or {}, body.get("member_group") or {}
    if wanted_user.get("user_id") or wanted_user.get("username"):
        user = app.store.user(user_id=wanted_user.get("user_id"), username=wanted_user.get("username"))
        if not user:
            raise not_found("user not found")
        return user["user_id"], "u"
    groups = app.store.groups()
    if wanted_group.get("id"):
        matches = [group for group in groups if group["id"] == wanted_group["id"]]
        if not matches:
            raise bad_request(f"Group {wanted_group['id']} not found")
    elif wanted_group.get("ldap_group_dn"):
        matches = [
            group
            for group in groups
            if group["group_type"] == 1 and group["ldap_group_dn"] == wanted_group["ldap_group_dn"]
        ]
    else:
        matches = [
            group
            for group in groups
            if group["group_name"] == wanted_group.get("group_name")
            and group["group_type"] == wanted_group.get("group_type")
        ]
    if not matches:
        raise not_found(f"{wanted_group.get('ldap_group_dn') or wanted_group.get('group_name')} not found")
    return matches[0]["id"], "g"


def add_member(app, request):
    project = requested_project(app, request)
    body = request.body()
    require_project_admin(request.principal, project)
    entity_id, entity_type = member_entity(app, body)
    role = body.get("role_id")
    if (
        entity_type == "u"
        and str(entity_id) in project["members"]
        or (entity_type == "g" and str(entity_id) in project["group_members"])
    ):
        raise conflict("The project member specified already exist")
    if role not in ROLE_NAMES:
        raise bad_request("Failed to update project member, role is not in 1,2,3")
    member_id = app.store.add_member(project, entity_id, entity_type, role)
    return Response(201, headers={"Location": f"{API}/projects/{project['project_id']}/members/{member_id}"})


def change_member(app, request):
    """PUT: a new role; DELETE: the membership removed."""
    project, member_id = requested_project(app, request), int(request.params[1])
    body = request.body() if request.method == "PUT" else None
    require_project_admin(request.principal, project)
    role = (body or {}).get("role_id")
    if member_id not in (member["id"] for member in app.store.members(project["project_id"])):
        raise not_found(f"member {member_id} not found")
    if body is not None and role not in ROLE_NAMES:
        raise bad_request(f"invalid role_id {role!r}")
    app.store.set_member_role(project["project_id"], member_id, role if body is not None else None)
    return Response(200)


# --- quotas (one storage quota per project, its own id) ---------------------------


def quota_view(project):
    return {
        "id": project["quota_id"],
        "ref": {"id": project["project_id"], "name": project["name"], "owner_name": "admin"},
        "hard": {"storage": project["storage_limit"]},
        "used": {"storage": 0},
        "creation_time": project["creation_time"],
        "update_time": project["update_time"],
    }


def list_quotas(app, request):
    require_admin(request.principal)
    query = request.query
    if first(query, "reference") not in ("", "project"):
        return listing([], query)
    projects = app.store.projects()
    wanted = first(query, "reference_id")
    if wanted:
        projects = [project for project in projects if str(project["project_id"]) == wanted]
    return listing([quota_view(project) for project in projects], query)


def quota_project(app, quota_id):
    project = app.store.quota_project(quota_id)
    if not project:
        raise not_found(f"quota {quota_id} not found")
    return project


def get_quota(app, request):
    require_admin(request.principal)
    return Response(200, quota_view(quota_project(app, request.params[0])))


def update_quota(app, request):
    """Like real: ``hard`` is required and a storage limit is > 0 or -1 (0 refused)."""
    body = request.body()
    require_admin(request.principal)
    project = quota_project(app, int(request.params[0]))
    hard = body.get("hard")
    if not hard:
        raise bad_request("hard required in body")
    for resource in hard:
        if resource != "storage":
            raise bad_request(f"resource {resource} not support")
    app.store.set_storage_limit(project["project_id"], checked_storage_limit(hard.get("storage")))
    return Response(200)


ROUTES = [
    Route("HEAD", r"/projects", project_exists),
    Route("GET", r"/projects", list_projects),
    Route("POST", r"/projects", create_project),
    Route("GET", r"/projects/([^/]+)", get_project),
    Route("PUT", r"/projects/([^/]+)", update_project),
    Route("DELETE", r"/projects/([^/]+)", delete_project),
    Route("GET", r"/projects/([^/]+)/members", list_members),
    Route("POST", r"/projects/([^/]+)/members", add_member),
    Route("GET", r"/projects/([^/]+)/members/(\d+)", get_member),
    Route("PUT", r"/projects/([^/]+)/members/(\d+)", change_member),
    Route("DELETE", r"/projects/([^/]+)/members/(\d+)", change_member),
    Route("GET", r"/quotas", list_quotas),
    Route("GET", r"/quotas/(\d+)", get_quota),
    Route("PUT", r"/quotas/(\d+)", update_quota),
]
