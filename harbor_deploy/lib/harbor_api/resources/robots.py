"""Robot accounts: permissions, expiry, the secret Harbor shows once."""

import logging

from harbor_deploy.lib.config.secrets import ROBOT_PREFIX, generate_password, robot_secret_name
from harbor_deploy.lib.harbor_api.resources.common import (
    Change,
    entry_state,
    field_changes,
    find_project,
    presence_change,
)

logger = logging.getLogger(__name__)

DEFAULT_ROBOT_ACCESS = ("push", "pull")
# What ``robot_entries`` adds to an entry whose secret this run replaces (never data).
REFRESH_NOW = "refresh_now"
# A system permission's namespace (src/controller/robot/controller.go toScope refuses
# any other for kind "system").
SYSTEM_NAMESPACE = "/"
# What Harbor lets a system permission grant: rbac.PoliciesMap[ScopeSystem] of
# src/common/rbac/const.go and what GetPermissionProvider's NolimitProvider adds to it
# (anything else: 400 "bad request permission", src/server/v2.0/handler/robot.go).
SYSTEM_PERMISSIONS = {
    "audit-log": ("list",),
    "preheat-instance": ("read", "create", "delete", "list", "update"),
    "project": ("list", "create"),
    "replication-policy": ("read", "create", "delete", "list", "update"),
    "replication": ("read", "create", "list"),
    "replication-adapter": ("list",),
    "registry": ("read", "create", "delete", "list", "update"),
    "scan-all": ("read", "update", "stop", "create"),
    "system-volumes": ("read",),
    "garbage-collection": ("read", "create", "list", "update", "stop"),
    "purge-audit": ("read", "create", "list", "update", "stop"),
    "jobservice-monitor": ("list", "stop"),
    "scanner": ("read", "create", "delete", "list", "update"),
    "label": ("read", "create", "delete", "update"),
    "security-hub": ("read", "list"),
    "catalog": ("read",),
    "quota": ("read", "list", "update"),
    # NolimitProvider's additions (quota update above is one).
    "robot": ("create", "read", "list", "delete"),
    "user": ("create", "read", "update", "list", "delete"),
    "ldap-user": ("create", "list"),
    "user-group": ("create", "read", "update", "list", "delete"),
}

# The access a robot may hold in a project, as Harbor v2.13 lists it: PoliciesMap's
# project scope and what its NolimitProvider adds (src/common/rbac/const.go). Harbor's
# robot handler refuses any other pair on create and update (400 "bad request
# permission", src/server/v2.0/handler/robot.go validate).
PROJECT_ACCESS = frozenset(
    (resource, action)
    for resource, actions in {
        "log": "list",
        "project": "read delete update",
        "metadata": "read create delete list update",
        "repository": "read update delete list pull push",
        "artifact": "read create list delete",
        "scan": "create read stop",
        "sbom": "create stop read",
        "tag": "create list delete",
        "accessory": "list",
        "artifact-addition": "read",
        "artifact-label": "create delete",
        "scanner": "create read",
        "preheat-policy": "read create delete list update",
        "immutable-tag": "create delete list update",
        "notification-policy": "read create delete list update",
        "tag-retention": "read create delete list update",
        "label": "read create delete list update",
        "quota": "read",
        "robot": "create read list delete",
        "export-cve": "create read",
        "member": "create read update list delete",
    }.items()
    for action in actions.split()
)


def stored_name(spec):
    """The name Harbor stores (and prints after the prefix): ``<project>+<name>`` or ``<name>``."""
    return f"{spec['project']}+{spec['name']}" if spec["project"] else spec["name"]


def _access(items):
    """Robot access as sorted (resource, action) pairs; "push" is repository push,
    "resource:action" or {resource, action} name any other."""
    pairs = set()
    for item in items:
        if isinstance(item, dict):
            pairs.add((item["resource"], item["action"]))
        elif ":" in str(item):
            resource, _, action = str(item).partition(":")
            pairs.add((resource, action))
        else:
            pairs.add(("repository", str(item)))
    return tuple(sorted(pairs))


def raw_stored_name(raw):
    """``stored_name`` of a ``harbor_robots`` entry as written (None when it names no robot)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    return f"{raw['project']}+{raw['name']}" if raw.get("project") else raw["name"]


def robot_entries(config):
    """``harbor_robots``, the robots ``harbor_robot_refresh`` names marked to get a new
    secret in this run."""
    refresh = set(config.get("harbor_robot_refresh") or [])
    return [
        {**raw, REFRESH_NOW: True} if raw_stored_name(raw) in refresh else raw
        for raw in config.get("harbor_robots") or []
    ]


def refresh_problems(config):
    """A robot in ``harbor_robot_refresh`` that ``harbor_robots`` does not keep."""
    kept = {
        raw_stored_name(raw)
        for raw in config.get("harbor_robots") or []
        if isinstance(raw, dict) and raw.get("state", "present") == "present"
    }
    for name in config.get("harbor_robot_refresh") or []:
        if name not in kept:
            yield (
                "harbor_robot_refresh",
                f"{name} is no robot of harbor_robots (as <project>+<name>, or <name> at system level)",
            )


def robot_spec(raw):
    """A robot of ``harbor_robots`` (shape checked by ``schema``): project-level when
    ``project`` is set (push/pull by default), else system-level over ``projects``
    (default all: "*")."""
    project = raw.get("project")
    access = _access(raw.get("access", DEFAULT_ROBOT_ACCESS))
    refused = [f"{resource}:{action}" for resource, action in access if (resource, action) not in PROJECT_ACCESS]
    if refused:
        raise ValueError(
            f"access {', '.join(refused)} is not in Harbor's list of what a robot may do in a project "
            "(Harbor refuses it: bad request permission)"
        )
    # Harbor keeps one permission per project (it regroups them by scope): each once.
    namespaces = [project] if project else list(dict.fromkeys(raw.get("projects", ["*"])))
    system_access = _access(raw.get("system_access", ()))
    if system_access and project:
        raise ValueError("system_access is for system-level robots (no project)")
    refused = [
        f"{resource}:{action}"
        for resource, action in system_access
        if action not in SYSTEM_PERMISSIONS.get(resource, ())
    ]
    if refused:
        raise ValueError(f"system_access {', '.join(refused)}: not a system permission Harbor grants")
    if not namespaces and not system_access:
        raise ValueError("a robot needs a permission: projects or system_access")
    return {
        "name": raw["name"],
        "project": project,
        "level": "project" if project else "system",
        "state": entry_state(raw),
        "duration": raw.get("duration", -1),
        "description": raw.get("description", ""),
        "disable": bool(raw.get("disable", False)),
        "refresh": bool(raw.get("refresh", False)),
        "refresh_now": bool(raw.get(REFRESH_NOW, False)),
        "permissions": tuple((namespace, access) for namespace in namespaces),
        "system_access": system_access,
    }


def robot_permissions(spec):
    """``RobotPermission``s: one per project, and the system one when it grants any."""
    scopes = [("project", namespace, access) for namespace, access in spec["permissions"]]
    if spec["system_access"]:
        scopes.append(("system", SYSTEM_NAMESPACE, spec["system_access"]))
    return [
        {
            "kind": kind,
            "namespace": namespace,
            "access": [{"resource": resource, "action": action} for resource, action in access],
        }
        for kind, namespace, access in scopes
    ]


def robot_payload(spec):
    """``RobotCreate``; Harbor generates the secret and returns it once (and ignores
    ``disable`` here: a robot to disable is updated right after)."""
    return {
        "name": spec["name"],
        "description": spec["description"],
        "level": spec["level"],
        "duration": spec["duration"],
        "permissions": robot_permissions(spec),
    }


def robot_update_payload(spec, current):
    """``Robot`` for PUT: the full name (with the system's prefix) and level as Harbor
    has them, the rest desired (Harbor replaces description and disable)."""
    return {
        "id": current["id"],
        "name": current["name"],
        "level": current["level"],
        "description": spec["description"],
        "disable": spec["disable"],
        "duration": spec["duration"],
        "editable": True,
        "permissions": robot_permissions(spec),
    }


def normalized_permissions(permissions):
    """Robot permissions comparable regardless of order and of Harbor's extra fields."""
    return tuple(
        sorted(
            (
                item.get("kind"),
                item.get("namespace"),
                tuple(sorted((access["resource"], access["action"]) for access in item.get("access") or [])),
            )
            for item in permissions or []
        )
    )


def robot_diff(spec, current):
    """The fields that differ: ``FieldChange``s, and "permissions" (named only: the
    whole list would not read)."""
    # Harbor leaves "" and false out of its answers.
    defaults = {"description": "", "duration": None, "disable": False}
    have = {key: current.get(key, default) for key, default in defaults.items()}
    fields = list(field_changes(have, {key: spec[key] for key in defaults}))
    if normalized_permissions(current.get("permissions")) != normalized_permissions(robot_permissions(spec)):
        fields.append("permissions")
    return fields


def robot_prefix(client):
    """The system's robot name prefix (``robot$`` unless an admin changed it)."""
    setting = (client.get("/configurations", "system configuration") or {}).get("robot_name_prefix") or {}
    return setting.get("value") or ROBOT_PREFIX


def find_robot(client, spec, prefix):
    """The robot of ``spec`` as Harbor lists it (``<prefix><project>+<name>`` or
    ``<prefix><name>``), or None."""
    if spec["project"]:
        project = find_project(client, spec["project"])
        if project is None:
            return None
        query = f"Level=project,ProjectID={project['project_id']}"
    else:
        query = "Level=system"
    full_name = prefix + stored_name(spec)
    for robot in client.list("/robots", f"robot {spec['name']}", {"q": query}):
        if robot["name"] == full_name:
            return robot
    return None


def plan_robots(client, specs, store):
    changes = []
    prefix = robot_prefix(client) if specs else ROBOT_PREFIX
    for spec in specs:
        label = stored_name(spec)
        current = find_robot(client, spec, prefix)
        presence = presence_change(
            client,
            "robot",
            label,
            spec,
            current,
            lambda c: f"/robots/{c['id']}",
            lambda s=spec: _create_robot(client, store, s),
        )
        if presence is not None:
            changes += presence
            continue
        fields = robot_diff(spec, current)
        if fields:
            changes.append(
                Change(
                    "update",
                    "robot",
                    label,
                    tuple(fields),
                    lambda c=current, s=spec: client.put(
                        f"/robots/{c['id']}", f"robot {c['name']}", robot_update_payload(s, c)
                    ),
                )
            )
        if _refreshed(spec, store, label):
            changes.append(
                Change(
                    "refresh",
                    "robot",
                    label,
                    ("secret",),
                    lambda c=current, s=spec: _refresh_robot(client, store, s, c),
                )
            )
    return changes


def _refreshed(spec, store, label):
    """Whether an existing robot gets a new secret: asked now (``harbor_robot_refresh``),
    or its secret is not in the secrets dir and either ``refresh: true`` or its creation
    went unanswered (the marker outlived it: the secret was never seen by anyone, so a
    new one breaks nobody)."""
    if spec["refresh_now"]:
        return True
    if store.path(robot_secret_name(stored_name(spec))).is_file():
        return False
    if spec["refresh"] or store.path(unanswered_marker(spec)).is_file():
        return True
    logger.warning(
        "robot %s exists but its secret is not in the secrets dir (%s): set refresh: true to regenerate it",
        label,
        robot_secret_name(stored_name(spec)),
    )
    return False


def unanswered_marker(spec):
    """A file in the secrets dir while a robot's creation has not been answered."""
    return robot_secret_name(stored_name(spec)) + ".unanswered"


def _keep_secret(store, spec, secret):
    store.store(robot_secret_name(stored_name(spec)), secret)
    store.path(unanswered_marker(spec)).unlink(missing_ok=True)


def _create_robot(client, store, spec):
    store.store(unanswered_marker(spec), "")
    created = client.post("/robots", f"robot {spec['name']}", robot_payload(spec)).json()
    _keep_secret(store, spec, created["secret"])
    if spec["disable"]:
        # Harbor creates every robot enabled, whatever the request says.
        client.put(
            f"/robots/{created['id']}",
            f"robot {created['name']}",
            robot_update_payload(spec, {**created, "level": spec["level"]}),
        )


def _refresh_robot(client, store, spec, current):
    secret = generate_password()
    answer = client.patch(f"/robots/{current['id']}", f"robot {current['name']}", {"secret": secret})
    # Harbor echoes only a secret it generated; this one was chosen here.
    returned = answer.json().get("secret") if answer.content else None
    _keep_secret(store, spec, returned or secret)


def access_items(pairs):
    """The inventory's form of access pairs: "push"/"pull" for the repository's, else
    "resource:action"."""
    return [
        action if resource == "repository" and action in DEFAULT_ROBOT_ACCESS else f"{resource}:{action}"
        for resource, action in sorted(pairs)
    ]


def robot_entry(robot, prefix):
    """``harbor_robots`` entry of one robot Harbor lists (no secret), or None when its
    permissions grant projects different access, which an entry can't say."""
    name = robot["name"].removeprefix(prefix)
    by_namespace, system_access = {}, ()
    for permission in robot.get("permissions") or []:
        pairs = tuple(sorted((item["resource"], item["action"]) for item in permission.get("access") or []))
        if permission.get("kind") == "system":
            system_access = pairs
        else:
            by_namespace[permission.get("namespace")] = pairs
    if len(set(by_namespace.values())) > 1:
        logger.warning("robot %s grants its projects different access: not exported", name)
        return None
    access = next(iter(by_namespace.values()), ())
    if robot.get("level") == "project":
        project, _, name = name.partition("+")
        entry = {"name": name, "project": project}
    else:
        entry = {"name": name}
        if sorted(by_namespace) != ["*"]:
            entry["projects"] = sorted(by_namespace)
        if system_access:
            entry["system_access"] = access_items(system_access)
    if access and sorted(access) != sorted(_access(DEFAULT_ROBOT_ACCESS)):
        entry["access"] = access_items(access)
    if robot.get("duration", -1) != -1:
        entry["duration"] = robot["duration"]
    if robot.get("description"):
        entry["description"] = robot["description"]
    if robot.get("disable"):
        entry["disable"] = True
    return entry


def all_robots(client):
    """Every robot Harbor has, as it lists them: the system robots and every project's."""
    robots = client.list("/robots", "system robots", {"q": "Level=system"})
    for project in client.list("/projects", "projects"):
        robots += client.list(
            "/robots", f"robots of project {project['name']}", {"q": f"Level=project,ProjectID={project['project_id']}"}
        )
    return robots


def export_robots(client):
    """``harbor_robots`` of the system robots and every project's."""
    prefix = robot_prefix(client)
    return [entry for entry in (robot_entry(robot, prefix) for robot in all_robots(client)) if entry is not None]
