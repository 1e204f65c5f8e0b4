"""Tag retention: one policy per project, bound by the project's ``retention_id``."""

from harbor_core.api.projects import require_project_admin
from harbor_core.auth import require_login
from harbor_core.errors import bad_request, not_found
from harbor_core.http import API, Response, Route

RULE_TEMPLATES = ("latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always")


def stored_policy(app, request):
    """The policy of the path, if the caller administers its project."""
    policy = app.store.retention(request.params[0])
    if not policy:
        raise not_found(f"retention policy {request.params[0]} not found")
    project = app.store.project(policy["scope"]["ref"])
    if project:
        require_project_admin(request.principal, project)
    return policy


def checked_project(app, body):
    scope = body.get("scope") or {}
    project = app.store.project(scope.get("ref")) if scope.get("level") == "project" else None
    if not project:
        raise bad_request("the scope must be a project: {level: project, ref: <project id>}")
    for rule in body.get("rules") or []:
        if rule.get("template") not in RULE_TEMPLATES:
            raise bad_request(f"invalid rule template {rule.get('template')!r}")
    return project


def get_policy(app, request):
    return Response(200, stored_policy(app, request))


def create_policy(app, request):
    body = request.body()
    require_login(request.principal)
    project = checked_project(app, body)
    require_project_admin(request.principal, project)
    policy = {**body, "algorithm": body.get("algorithm") or "or"}
    policy.pop("id", None)
    policy_id = app.store.create_retention(project, policy)
    return Response(201, headers={"Location": f"{API}/retentions/{policy_id}"})


def update_policy(app, request):
    body = request.body()
    policy = stored_policy(app, request)
    project = checked_project(app, body)
    if project["project_id"] != policy["scope"]["ref"]:
        raise bad_request("the scope of a retention policy can not be changed")
    # Like the stand-in always did: fields left out keep their stored values.
    updated = {**policy, **body}
    updated.pop("id", None)
    app.store.update_retention(policy["id"], updated)
    return Response(200)


ROUTES = [
    Route("POST", r"/retentions", create_policy),
    Route("GET", r"/retentions/(\d+)", get_policy),
    Route("PUT", r"/retentions/(\d+)", update_policy),
]
