"""User groups (src/server/v2.0/handler/usergroup.go, src/controller/usergroup,
src/pkg/usergroup): system admins only. A group has a name and a type (1 LDAP, 2 HTTP,
3 OIDC); an LDAP group is looked up by its DN in the LDAP server when created (400 when
the server does not have it, or in another auth mode, whose authenticator finds no
group) and its DN kept trimmed and lowercased; a name is unique per type (409); only
the name can change; deleting removes the group's project memberships. The list shows
only LDAP groups in LDAP mode, only HTTP groups in HTTP mode."""

from harbor_core import directory
from harbor_core.api.configurations import stored_values
from harbor_core.auth import require_admin
from harbor_core.errors import ApiError, bad_request, not_found
from harbor_core.http import API, Response, Route, first, listing

LDAP_GROUP, HTTP_GROUP = 1, 2
MODE_GROUP_TYPE = {"ldap_auth": LDAP_GROUP, "http_auth": HTTP_GROUP}


def group_view(group, with_id=True):
    view = {
        "group_name": group["group_name"],
        "group_type": group["group_type"],
        "ldap_group_dn": group["ldap_group_dn"],
    }
    return {"id": group["id"], **view} if with_id else view


def list_groups(app, request):
    require_admin(request.principal)
    groups = app.store.groups()
    group_type = MODE_GROUP_TYPE.get(app.configuration("auth_mode"))
    if group_type is not None:
        groups = [group for group in groups if group["group_type"] == group_type]
    name = first(request.query, "group_name")
    if name:
        groups = [group for group in groups if name in group["group_name"]]
    dn = first(request.query, "ldap_group_dn")
    if dn and group_type == LDAP_GROUP:
        groups = [group for group in groups if group["ldap_group_dn"] == dn]
    return listing([group_view(group) for group in groups], request.query)


def ldap_group_known(app, dn):
    """``auth.SearchGroup`` of the LDAP authenticator; other modes find none."""
    settings = stored_values(app)
    if settings["auth_mode"] != "ldap_auth":
        return False
    try:
        connection = directory.connect(settings, settings["ldap_search_dn"], settings["ldap_search_password"])
    except (directory.DirectoryError, PermissionError):
        return False
    try:
        return directory.group_name(connection, settings, dn) is not None
    finally:
        connection.unbind()


def create_group(app, request):
    require_admin(request.principal)
    body = request.body()
    name = body.get("group_name") or ""
    if not name:
        raise ApiError(400, "BAD_REQUEST", "")  # NewCreateUserGroupBadRequest(): no message
    group_type = body.get("group_type") or 0
    dn = (body.get("ldap_group_dn") or "").strip().lower()
    if group_type == LDAP_GROUP and not ldap_group_known(app, dn):
        raise bad_request(f"LDAP Group DN is not found: DN:{dn}")
    group_id = app.store.create_group(name, group_type, dn)
    return Response(201, headers={"Location": f"{API}/usergroups/{group_id}"})


def existing_group(app, request):
    group_id = int(request.params[0])
    if group_id <= 0:
        raise bad_request("the group id should be provided")
    group = app.store.group(group_id)
    if not group:
        raise not_found(f"the user group with id {group_id} is not found")
    return group


def get_group(app, request):
    require_admin(request.principal)
    return Response(200, group_view(existing_group(app, request), with_id=False))


def update_group(app, request):
    require_admin(request.principal)
    body = request.body()
    if not body.get("group_name"):
        raise ApiError(400, "BAD_REQUEST", "")
    app.store.rename_group(existing_group(app, request)["id"], body["group_name"])
    return Response(200)


def delete_group(app, request):
    require_admin(request.principal)
    group_id = int(request.params[0])
    if group_id <= 0:
        raise bad_request("the group id should be provided")
    app.store.delete_group(group_id)
    return Response(200)


ROUTES = [
    Route("GET", r"/usergroups", list_groups),
    Route("POST", r"/usergroups", create_group),
    Route("GET", r"/usergroups/(-?\d+)", get_group),
    Route("PUT", r"/usergroups/(-?\d+)", update_group),
    Route("DELETE", r"/usergroups/(-?\d+)", delete_group),
]
