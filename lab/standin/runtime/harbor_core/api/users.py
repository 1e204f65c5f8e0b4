"""Users: the admin seeded at first start, local users made by the admin."""

from harbor_core.auth import password_matches, require_admin, require_login
from harbor_core.errors import bad_request, forbidden, not_found
from harbor_core.http import API, Response, Route, filtered, listing, query_keywords
from harbor_core.rules import ILLEGAL_NAME_CHARS, PASSWORD_RULE, checked_profile, strong_password


def user_view(user):
    return {
        "user_id": user["user_id"],
        "username": user["username"],
        "email": user.get("email", ""),
        "realname": user.get("realname", ""),
        "comment": user.get("comment", ""),
        "sysadmin_flag": user["sysadmin_flag"],
        "admin_role_in_auth": False,
        "creation_time": user["creation_time"],
        "update_time": user["update_time"],
    }


def existing_user(app, user_id):
    user = app.store.user(user_id=user_id)
    if not user:
        raise not_found(f"user {user_id} not found")
    return user


def current_user(app, request):
    require_login(request.principal)
    if not request.principal.user:
        raise forbidden()
    return Response(200, user_view(request.principal.user))


def create_user(app, request):
    """Harbor's ``requireCreatable`` (local users in db auth only), ``requireValidSecret``
    then ``validateUserProfile(create=true)``."""
    body = request.body()
    mode = app.configuration("auth_mode")
    if mode != "db_auth":
        raise forbidden(f"creating local user is not allowed under auth mode: {mode}")
    require_admin(request.principal)
    if not strong_password(body.get("password") or ""):
        raise bad_request(PASSWORD_RULE)
    profile = checked_profile(body)
    username = body.get("username") or ""
    if not 1 <= len(username.encode()) <= 255:
        raise bad_request("username with illegal length")
    if any(char in username for char in ILLEGAL_NAME_CHARS):
        raise bad_request("username contains illegal characters")
    user_id = app.store.create_user(username, profile, body["password"])
    return Response(201, headers={"Location": f"{API}/users/{user_id}"})


def list_users(app, request):
    require_admin(request.principal)
    # Like real (handler/user.go ListUsers): q, with username and email also as fuzzy parameters.
    keywords = query_keywords(request.query, fuzzy_params=("username", "email"))
    users = filtered(app.store.users(), keywords, {"username": "username", "email": "email"})
    return listing([user_view(user) for user in users], request.query)


def get_user(app, request):
    principal, user_id = request.principal, int(request.params[0])
    require_login(principal)
    if not principal.is_admin and not (principal.user and principal.user["user_id"] == user_id):
        raise forbidden()
    return Response(200, user_view(existing_user(app, user_id)))


def change_password(app, request):
    """Like real: the old password is checked only when users change their own;
    an admin sets another user's without it."""
    principal, user_id, body = request.principal, int(request.params[0]), request.body()
    require_login(principal)
    if not principal.user:
        raise forbidden()
    own = principal.user["user_id"] == user_id
    if not own and not principal.is_admin:
        raise forbidden("not allowed to change the password of another user")
    user = existing_user(app, user_id)
    new_password = body.get("new_password") or ""
    if own and not password_matches(body.get("old_password") or "", user["password"]):
        raise forbidden("Current password is incorrect")
    if not strong_password(new_password):
        raise bad_request(PASSWORD_RULE)
    if password_matches(new_password, user["password"]):
        raise bad_request("New password is identical to old password")
    app.store.set_password(user_id, new_password)
    return Response(200)


def update_profile(app, request):
    """Like real: email, realname and comment are replaced together (a field left
    out is empty afterwards, and an empty email or realname is refused)."""
    principal, user_id, body = request.principal, int(request.params[0]), request.body()
    require_login(principal)
    if not principal.is_admin and not (principal.user and principal.user["user_id"] == user_id):
        raise forbidden()
    if app.configuration("auth_mode") != "db_auth" and user_id != 1:
        # requireModifiable: outside db auth only the local admin can be updated.
        raise forbidden(f"User with ID {user_id} can't be updated")
    profile = checked_profile(body)
    existing_user(app, user_id)
    app.store.update_profile(user_id, profile)
    return Response(200)


def delete_user(app, request):
    """Like real: admin only, never one's own account; memberships go with the user."""
    principal, user_id = request.principal, int(request.params[0])
    require_admin(principal)
    if principal.user["user_id"] == user_id:
        raise forbidden("can not delete yourself")
    existing_user(app, user_id)
    app.store.delete_user(user_id)
    return Response(200)


def set_sysadmin(app, request):
    """``SetUserSysAdmin``: a system admin sets any user's flag."""
    body = request.body()
    require_admin(request.principal)
    user = existing_user(app, int(request.params[0]))
    app.store.set_sysadmin_flag(user["user_id"], bool(body.get("sysadmin_flag")))
    return Response(200)


ROUTES = [
    Route("GET", r"/users/current", current_user),
    Route("PUT", r"/users/(\d+)/sysadmin", set_sysadmin),
    Route("GET", r"/users", list_users),
    Route("POST", r"/users", create_user),
    Route("PUT", r"/users/(\d+)/password", change_password),
    Route("GET", r"/users/(\d+)", get_user),
    Route("PUT", r"/users/(\d+)", update_profile),
    Route("DELETE", r"/users/(\d+)", delete_user),
]
