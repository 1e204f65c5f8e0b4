"""Robot accounts, system or project level; shown and logged in with the configured
prefix (``robot$`` by default) before the stored name."""

import datetime
import time

from harbor_core import rbac
from harbor_core.api.projects import require_project_admin
from harbor_core.auth import ROLE_PROJECT_ADMIN, require_admin, require_login
from harbor_core.errors import bad_request, forbidden, not_found
from harbor_core.http import API, Response, Route, filtered, listing, query_keywords
from harbor_core.rules import NAME_PATTERN, ROBOT_SECRET_RULE, checked_duration, generate_secret, strong_password


def expiry(duration, since=None):
    """When a robot of ``duration`` days expires: counted from ``since`` (epoch seconds),
    else from now."""
    return -1 if duration == -1 else int(time.time() if since is None else since) + duration * 86400


def created_at(robot):
    """A robot's creation time in epoch seconds, from the view's ISO timestamp."""
    return (
        datetime.datetime.strptime(robot["creation_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        .replace(tzinfo=datetime.UTC)
        .timestamp()
    )


def validated(duration, level, permissions):
    """The handler's ``validate`` on create and update: the duration (returned), the
    level, then the permissions (``rbac.check``)."""
    duration = checked_duration(duration)
    if level not in ("project", "system"):
        raise bad_request(f"bad request error level input: {level}")
    rbac.check(level, permissions)
    return duration


def by_name(app):
    return lambda name: app.store.project(name, by_name=True)


def robot_view(app, robot):
    """Like real: the stored name (``<project>+<name>`` or ``<name>``) shown with the prefix."""
    return {
        "id": robot["id"],
        "name": app.configuration("robot_name_prefix") + robot["name"],
        "description": robot.get("description", ""),
        "level": robot["level"],
        "duration": robot["duration"],
        "editable": True,
        "disable": robot["disable"],
        "expires_at": robot["expires_at"],
        "permissions": rbac.shown(robot["permissions"], app.store.project),
        "creator_type": "local",
        "creator_ref": robot.get("creator_ref", 0),
        "creation_time": robot["creation_time"],
        "update_time": robot["update_time"],
    }


def create_robot(app, request):
    """Like real: ``disable`` and ``secret`` of the request are ignored (a new robot
    is enabled, with a generated secret); a missing duration is 0 and refused."""
    principal, body = request.principal, request.body()
    require_login(principal)
    name = body.get("name") or ""
    if not NAME_PATTERN.match(name) or len(name) > 255:
        raise bad_request("robot name is not in lower case or contains illegal characters")
    level, permissions = body.get("level"), body.get("permissions") or []
    duration = validated(body.get("duration") or 0, level, permissions)
    project = None
    if level == "project":
        if permissions[0].get("kind") != "project":
            raise bad_request("bad request permission")
        project = app.store.project(permissions[0].get("namespace"), by_name=True)
        if not project:
            raise not_found(f"project {permissions[0].get('namespace')} not found")
        require_project_admin(principal, project)
        stored_name = f"{project['name']}+{name}"
    else:
        require_admin(principal)
        stored_name = name
    secret = generate_secret()
    robot = {
        "name": stored_name,
        "description": body.get("description") or "",
        "level": level,
        "duration": duration,
        "expires_at": expiry(duration),
        "permissions": rbac.stored(permissions, by_name(app)),
        "project_id": project["project_id"] if project else 0,
        "creator_ref": principal.user["user_id"] if principal.user else 0,
    }
    robot_id, created = app.store.create_robot(robot, secret)
    payload = {
        "id": robot_id,
        "name": app.configuration("robot_name_prefix") + stored_name,
        "secret": secret,
        "creation_time": created,
        "expires_at": robot["expires_at"],
    }
    return Response(201, payload, headers={"Location": f"{API}/robots/{robot_id}"})


def list_robots(app, request):
    """Like real: ``q`` needs ``Level=project`` with a ``ProjectID`` for project
    robots; without ``Level`` it lists system robots; ``name`` matches the stored
    name (without the prefix)."""
    principal = request.principal
    require_login(principal)
    filters = query_keywords(request.query)
    level = filters.get("Level")
    if level is None:
        level, filters["ProjectID"] = "system", "0"
    elif level not in ("system", "project"):
        raise bad_request("bad request error level input")
    if level == "project":
        if "ProjectID" not in filters:
            raise bad_request("must with project ID when to query project robots")
        if not str(filters["ProjectID"]).isdigit() or int(filters["ProjectID"]) <= 0:
            raise bad_request("ProjectID must be a positive integer")
    if principal.is_admin:
        robots = app.store.robots()
    elif principal.user:
        robots = [
            robot
            for robot in app.store.robots()
            if robot["level"] == "project"
            and principal.role(app.store.project(robot["project_id"]) or {"members": {}}) == ROLE_PROJECT_ADMIN
        ]
    else:
        raise forbidden()
    robots = [robot for robot in robots if robot["level"] == level]
    if level == "project":
        robots = [robot for robot in robots if str(robot["project_id"]) == filters["ProjectID"]]
    robots = filtered(robots, filters, {"name": "name"})
    return listing([robot_view(app, robot) for robot in robots], request.query)


def find_robot(app, request):
    """The robot of the path, if the caller administers it."""
    principal, robot_id = request.principal, int(request.params[0])
    require_login(principal)
    robot = app.store.robot(robot_id=robot_id)
    if not robot:
        raise not_found(f"robot {robot_id} not found")
    if principal.is_admin:
        return robot
    project = app.store.project(robot["project_id"])
    if robot["level"] == "project" and project and principal.role(project) == ROLE_PROJECT_ADMIN:
        return robot
    raise forbidden()


def get_robot(app, request):
    return Response(200, robot_view(app, find_robot(app, request)))


def delete_robot(app, request):
    app.store.delete_robot(find_robot(app, request)["id"])
    return Response(200)


def update_robot(app, request):
    """Like real: the name must be the full one (with the prefix), as listed;
    description and disable are replaced (left out: empty and enabled)."""
    body = request.body()
    robot = find_robot(app, request)
    permissions = body.get("permissions") or []
    duration = validated(
        robot["duration"] if body.get("duration") is None else body["duration"], body.get("level"), permissions
    )
    if robot["level"] == "project":
        project = app.store.project(permissions[0].get("namespace"), by_name=True)
        if not project:
            raise not_found(f"project {permissions[0].get('namespace')} not found")
        if project["project_id"] != robot["project_id"]:
            raise bad_request("cannot update the project id of robot")
    if (
        body.get("level") != robot["level"]
        or body.get("name") != app.configuration("robot_name_prefix") + robot["name"]
    ):
        raise bad_request("cannot update the level or name of robot")
    app.store.update_robot(
        robot["id"],
        description=body.get("description") or "",
        duration=duration,
        # Like real: a new duration counts from the robot's creation, not from now
        # (handler/robot.go updateV2Robot: CreationTime.AddDate(0, 0, duration)).
        expires_at=robot["expires_at"] if duration == robot["duration"] else expiry(duration, created_at(robot)),
        disabled=bool(body.get("disable")),
        permissions=rbac.stored(permissions, by_name(app)),
    )
    return Response(200)


def refresh_secret(app, request):
    body = request.body()
    robot = find_robot(app, request)
    secret = body.get("secret") or generate_secret()
    if not strong_password(secret):
        raise bad_request(ROBOT_SECRET_RULE)
    app.store.set_robot_secret(robot["id"], secret)
    # Like real: a secret the caller chose is not echoed back.
    return Response(200, {} if body.get("secret") else {"secret": secret})


ROUTES = [
    Route("GET", r"/robots", list_robots),
    Route("POST", r"/robots", create_robot),
    Route("GET", r"/robots/(\d+)", get_robot),
    Route("DELETE", r"/robots/(\d+)", delete_robot),
    Route("PUT", r"/robots/(\d+)", update_robot),
    Route("PATCH", r"/robots/(\d+)", refresh_secret),
]
