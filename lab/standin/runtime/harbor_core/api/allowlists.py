"""The system CVE allowlist (src/server/v2.0/handler/sys_cve_allowlist.go,
src/pkg/allowlist): any signed-in user reads it, a system admin replaces it; a CVE id
listed twice is refused by the manager's validation, an error Harbor has no code for
(500). A project's own list is set through ``PUT /projects/{id}`` (projects.py)."""

from harbor_core.auth import require_admin, require_login
from harbor_core.errors import internal_error
from harbor_core.http import Response, Route

SYSTEM = 0


def allowlist_view(allowlist):
    view = {
        "project_id": allowlist["project_id"],
        "items": [{"cve_id": item.get("cve_id")} for item in allowlist.get("items") or []],
    }
    for key in ("id", "expires_at", "creation_time", "update_time"):
        if allowlist.get(key) is not None:
            view[key] = allowlist[key]
    return view


def set_allowlist(app, project_id, body):
    """``allowlist.Manager.Set``: the items and expiry replaced, duplicates refused."""
    items = [{"cve_id": item.get("cve_id")} for item in body.get("items") or []]
    ids = [item["cve_id"] for item in items]
    if len(ids) != len(set(ids)):
        raise internal_error()
    app.store.set_allowlist(project_id, items, body.get("expires_at"))


def get_system_allowlist(app, request):
    require_login(request.principal)
    return Response(200, allowlist_view(app.store.allowlist(SYSTEM)))


def put_system_allowlist(app, request):
    body = request.body()
    require_admin(request.principal)
    set_allowlist(app, SYSTEM, body)
    return Response(200)


ROUTES = [
    Route("GET", r"/system/CVEAllowlist", get_system_allowlist),
    Route("PUT", r"/system/CVEAllowlist", put_system_allowlist),
]
