"""Users: local users (database auth) with profile and password, and the admin flag
of any user (``PUT /users/{id}/sysadmin``, src/server/v2.0/handler/user.go), LDAP and
OIDC users included once they exist in Harbor (after their first login)."""

import logging
import re

from harbor_deploy.lib.config.secrets import generate_password, meets_harbor_password_rule, user_secret_name
from harbor_deploy.lib.harbor_api.client import query_params
from harbor_deploy.lib.harbor_api.resources.common import (
    Change,
    FieldChange,
    ResourceError,
    entry_state,
    presence_change,
)
from harbor_deploy.lib.harbor_api.resources.configurations import current_values, read_configuration

logger = logging.getLogger(__name__)

# Harbor's rules for users (src/server/v2.0/handler/user.go): characters refused in
# usernames and real names, and its email pattern.
ILLEGAL_NAME_CHARS = ',"~#%$'

EMAIL_RE = re.compile(
    r'^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@'
    r"((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$"
)


# The fields of a local user's profile and password; an entry without any of them
# manages only the admin flag of a user Harbor already has.
LOCAL_FIELDS = ("email", "realname", "comment", "password_env")


def user_spec(raw):
    """A user of ``harbor_users``. Harbor requires an email and a real name (the name
    defaults to the username) and replaces email, real name and comment together (shape
    checked by ``schema``, Harbor's rules here)."""
    username = raw["username"]
    state = entry_state(raw)
    if not 1 <= len(username.encode()) <= 255 or any(char in username for char in ILLEGAL_NAME_CHARS):
        raise ValueError(f"username must be 1-255 bytes without any of {ILLEGAL_NAME_CHARS}")
    spec = {
        "username": username,
        "state": state,
        "password_env": raw.get("password_env"),
        "profile": None,
        "admin": raw.get("admin"),
    }
    if state == "absent" or not any(key in raw for key in LOCAL_FIELDS):
        return spec
    email = raw.get("email")
    if not email:
        raise ValueError("email is required (Harbor refuses a user without one)")
    if not EMAIL_RE.match(email):
        raise ValueError(f"email {email!r} is not an address Harbor accepts")
    realname = raw.get("realname", username)
    if not 1 <= len(realname.encode()) <= 255 or any(char in realname for char in ILLEGAL_NAME_CHARS):
        raise ValueError(f"realname must be 1-255 bytes without any of {ILLEGAL_NAME_CHARS}")
    if len(raw.get("comment", "").encode()) > 30:
        raise ValueError("comment must be at most 30 bytes (Harbor's limit)")
    # The fields the inventory names; a new user gets the real name from the username.
    spec["profile"] = {key: raw[key] for key in ("email", "realname", "comment") if key in raw}
    spec["new_profile"] = {"realname": username, "comment": "", **spec["profile"]}
    return spec


def find_user(client, username):
    matches = [
        user
        for user in client.list("/users", f"user {username}", query_params("username", username))
        if user["username"] == username
    ]
    return matches[0] if matches else None


def user_password(store, spec):
    """The user's password from its env var or the secrets file; None when neither has
    one. Harbor's password rule is checked here, before anything is sent."""
    password = store.read(user_secret_name(spec["username"]), spec["password_env"])
    if password is not None and not meets_harbor_password_rule(password.reveal()):
        raise ResourceError(
            f"user {spec['username']}: the password from {password.source} must be "
            "8-128 characters with a lowercase letter, an uppercase letter and a digit"
        )
    return password


def plan_users(client, specs, store):
    changes = []
    for spec in specs:
        username = spec["username"]
        local = spec["profile"] is not None
        # Read (and its rule checked) before any change is planned.
        password = user_password(store, spec) if spec["state"] == "present" and local else None
        current = find_user(client, username)
        if current is None and spec["state"] == "present" and not local:
            raise ResourceError(
                f"user {username} is not in Harbor: an entry without email manages an existing user's admin "
                "flag only (LDAP and OIDC users appear at their first login)"
            )
        presence = presence_change(
            client,
            "user",
            username,
            spec,
            current,
            lambda c: f"/users/{c['user_id']}",
            lambda s=spec: _create_user(client, store, s),
        )
        if presence is not None:
            changes += presence
            continue
        if spec["admin"] is not None and bool(current.get("sysadmin_flag")) != spec["admin"]:
            changes.append(
                Change(
                    "update",
                    "user",
                    username,
                    (FieldChange("admin", bool(current.get("sysadmin_flag")), spec["admin"]),),
                    lambda c=current, s=spec: set_admin_flag(client, c["user_id"], s),
                )
            )
        if not local:
            continue
        # Harbor leaves empty fields out of answers, and a profile update replaces
        # email, real name and comment together: send all three, as wanted or as they are.
        have = {key: current.get(key, "") for key in ("email", "realname", "comment")}
        profile = {key: value for key, value in spec["profile"].items() if have[key] != value}
        if profile:
            changes.append(
                Change(
                    "update",
                    "user",
                    username,
                    tuple(FieldChange(key, have[key], profile[key]) for key in sorted(profile)),
                    lambda c=current, body={**have, **profile}: client.put(
                        f"/users/{c['user_id']}", f"user {c['username']}", body
                    ),
                )
            )
        if password is None:
            logger.warning(
                "user %s exists but has no managed password (secrets file %s or "
                "password_env): its password is left as is",
                username,
                user_secret_name(username),
            )
        elif not client.with_credentials(username, password).authenticates():
            changes.append(
                Change(
                    "update",
                    "user",
                    username,
                    ("password",),
                    lambda c=current, s=spec: _set_user_password(client, store, s, c),
                )
            )
    return changes


def _create_user(client, store, spec):
    password = user_password(store, spec)
    if password is None:
        store.store(user_secret_name(spec["username"]), generate_password())
        password = user_password(store, spec)
    client.post(
        "/users",
        f"user {spec['username']}",
        {"username": spec["username"], "password": password.reveal(), **spec["new_profile"]},
    )
    store.store(user_secret_name(spec["username"]), password)
    if spec["admin"]:
        # Harbor creates every user without the flag.
        set_admin_flag(client, find_user(client, spec["username"])["user_id"], spec)


def set_admin_flag(client, user_id, spec):
    client.put(f"/users/{user_id}/sysadmin", f"admin flag of user {spec['username']}", {"sysadmin_flag": spec["admin"]})


def _set_user_password(client, store, spec, current):
    password = user_password(store, spec)
    client.put(
        f"/users/{current['user_id']}/password",
        f"password of user {spec['username']}",
        {"new_password": password.reveal()},
    )
    store.store(user_secret_name(spec["username"]), password)


def export_users(client):
    """``harbor_users`` of every user but the admin (user id 1); no password (each stays
    in Harbor, or in the secrets file users/<username> when configure made it). Outside
    db auth only the admin flag: Harbor's users are then the directory's."""
    auth_mode = current_values(read_configuration(client)).get("auth_mode")
    found = []
    for user in client.list("/users", "users"):
        if user.get("user_id") == 1:
            continue
        entry = {"username": user["username"]}
        if auth_mode == "db_auth":
            entry["email"] = user.get("email", "")
            entry.update({key: user[key] for key in ("realname", "comment") if user.get(key)})
        if user.get("sysadmin_flag"):
            entry["admin"] = True
        found.append(entry)
    return found
