"""Tag retention: one policy per project, bound by the project's ``retention_id``."""

import json

from harbor_core.api.projects import require_project_admin
from harbor_core.auth import require_login
from harbor_core.errors import bad_request, conflict, not_found
from harbor_core.http import API, Response, Route

RULE_TEMPLATES = ("latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always")
MAX_RULES = 15


def stored_policy(app, request):
    """The policy of the path, if the caller administers its project."""
    policy = app.store.retention(request.params[0])
    if not policy:
        raise not_found(f"retention policy {request.params[0]} not found")
    project = app.store.project(policy["scope"]["ref"])
    if project:
        require_project_admin(request.principal, project)
    return policy


def checked_rules(body):
    """Like real (handler/retention.go), first on create and update: at most 15 rules
    (400), and no rule the same as an earlier one, ids left out (409)."""
    rules = body.get("rules") or []
    if len(rules) > MAX_RULES:
        raise bad_request(f"only {MAX_RULES} rules are allowed at most")
    seen = {}
    for index, rule in enumerate(rules):
        first = seen.setdefault(json.dumps({**rule, "id": 0}, sort_keys=True), index)
        if first != index:
            raise conflict(f"rule {index} is conflict with rule {first}")


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
    checked_rules(body)
    require_login(request.principal)
    project = checked_project(app, body)
    require_project_admin(request.principal, project)
    policy = {**body, "algorithm": body.get("algorithm") or "or"}
    policy.pop("id", None)
    policy_id = app.store.create_retention(project, policy)
    return Response(201, headers={"Location": f"{API}/retentions/{policy_id}"})


def update_policy(app, request):
    """Like real: the body replaces the policy (rules, trigger, scope: what it leaves out
    is gone); the policy must be the one its scope's project is bound to (404)."""
    body = request.body()
    checked_rules(body)
    policy = stored_policy(app, request)
    project = checked_project(app, body)
    if project["metadata"].get("retention_id") != str(policy["id"]):
        raise not_found(f"the retention policy id {policy['id']} does not match")
    updated = {**body, "algorithm": body.get("algorithm") or "or"}
    updated.pop("id", None)
    app.store.update_retention(policy["id"], updated)
    return Response(200)


ROUTES = [
    Route("POST", r"/retentions", create_policy),
    Route("GET", r"/retentions/(\d+)", get_policy),
    Route("PUT", r"/retentions/(\d+)", update_policy),
]
