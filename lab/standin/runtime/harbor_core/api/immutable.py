"""Immutable tag rules of a project (src/server/v2.0/handler/immutable.go,
src/controller/immutable, src/pkg/immutable) and the check a push of a tag meets
(src/server/middleware/immutable/pushmf.go, src/pkg/immutable/match/rule/match.go)."""

import json
from urllib.parse import unquote

from harbor_core.api.projects import requested_project, require_project_admin
from harbor_core.auth import require_login
from harbor_core.errors import ApiError, bad_request, not_found
from harbor_core.http import API, Response, Route, listing
from harbor_core.selectors import selected

# pkg/immutable/model/rule.go Metadata and Selector: what Harbor keeps of a rule (the
# selectors' "extras" and a rule's "params" are dropped on the way in).
RULE_FIELDS = ("id", "project_id", "disabled", "priority", "action", "template")
SELECTOR_FIELDS = ("kind", "decoration", "pattern")


def selector(raw):
    return {field: str(raw.get(field) or "") for field in SELECTOR_FIELDS}


def rule_metadata(body, project_id):
    """The rule as Harbor's ``Metadata`` holds it, in its JSON field order (its
    ``tag_filter`` column is this text, unique per project). Like real, nothing in it
    is validated: the handler copies the body and stores it."""
    metadata = {
        "id": int(body.get("id") or 0),
        "project_id": project_id,
        "disabled": bool(body.get("disabled")),
        "priority": int(body.get("priority") or 0),
        "action": str(body.get("action") or ""),
        "template": str(body.get("template") or ""),
        "tag_selectors": [selector(item) for item in body.get("tag_selectors") or []],
        "scope_selectors": {
            key: [selector(item) for item in items or []] for key, items in (body.get("scope_selectors") or {}).items()
        },
    }
    return metadata


def project_rule(app, project, rule_id):
    """requireRuleAccess: the rule, in this project (404 otherwise)."""
    found = [rule for rule in app.store.immutable_rules(project["project_id"]) if rule["id"] == rule_id]
    if not found:
        raise not_found(f"project id {project['project_id']} does not match")
    return found[0]


def list_rules(app, request):
    project = requested_project(app, request)
    require_login(request.principal)
    return listing(app.store.immutable_rules(project["project_id"]), request.query)


def create_rule(app, request):
    """Stored enabled whatever ``disabled`` says (dao.CreateImmutableRule)."""
    project = requested_project(app, request)
    body = request.body()
    require_project_admin(request.principal, project)
    metadata = rule_metadata(body, project["project_id"])
    rule_id = app.store.create_immutable_rule(project["project_id"], json.dumps(metadata), disabled=False)
    location = f"{API}/projects/{unquote(request.params[0])}/immutabletagrules/{rule_id}"
    return Response(201, headers={"Location": location})


def update_rule(app, request):
    """The path's id must be the body's (400); a changed switch is all that is applied
    (controller.UpdateImmutableRule toggles, then returns)."""
    body = request.body()
    rule_id = int(request.params[1])
    if int(body.get("id") or 0) != rule_id:
        raise bad_request("the immutable_rule_id doesn't match the id in the payload body of ImmutableRule")
    project = requested_project(app, request)
    require_project_admin(request.principal, project)
    stored = project_rule(app, project, rule_id)
    metadata = rule_metadata(body, project["project_id"])
    if stored["disabled"] != metadata["disabled"]:
        app.store.update_immutable_rule(rule_id, project["project_id"], disabled=metadata["disabled"])
    else:
        app.store.update_immutable_rule(rule_id, project["project_id"], tag_filter=json.dumps(metadata))
    return Response(200)


def delete_rule(app, request):
    project = requested_project(app, request)
    require_project_admin(request.principal, project)
    app.store.delete_immutable_rule(project_rule(app, project, int(request.params[1]))["id"])
    return Response(200)


def immutable(app, project, repository, tag):
    """match/rule ``Match``: whether an enabled rule's first repository selector takes
    ``repository`` (its name without the project) and its first tag selector takes
    ``tag`` (untagged never)."""
    for rule in app.store.immutable_rules(project["project_id"]):
        repositories = (rule.get("scope_selectors") or {}).get("repository") or []
        tags = rule.get("tag_selectors") or []
        if rule["disabled"] or not repositories or not tags:
            continue
        if selected(repositories[0], repository) and selected(tags[0], tag):
            return True
    return False


def refuse_immutable_push(app, project, repository, tag, tag_exists):
    """pushmf.go: a tag that exists and is immutable can't be pushed again (412)."""
    if tag_exists and immutable(app, project, repository, tag):
        raise ApiError(
            412, "PRECONDITION", f"Failed to process request due to '{repository}:{tag}' configured as immutable."
        )


ROUTES = [
    Route("GET", r"/projects/([^/]+)/immutabletagrules", list_rules),
    Route("POST", r"/projects/([^/]+)/immutabletagrules", create_rule),
    Route("PUT", r"/projects/([^/]+)/immutabletagrules/(\d+)", update_rule),
    Route("DELETE", r"/projects/([^/]+)/immutabletagrules/(\d+)", delete_rule),
]
