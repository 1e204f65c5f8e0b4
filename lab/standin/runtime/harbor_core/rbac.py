"""Robot permissions as Harbor v2.13.1 checks, stores and shows them.

- What a robot may be granted: src/common/rbac/const.go, PoliciesMap of each scope
  and what GetPermissionProvider's NolimitProvider adds; the robot handler refuses
  any other pair on create and update (src/server/v2.0/handler/robot.go validate).
- Stored by scope (src/controller/robot/controller.go toScope): ``/system``,
  ``/project/*`` or ``/project/<project id>``, one row per scope, resource, action
  and effect (a pair sent twice is stored once).
- Shown regrouped by scope (populatePermissions, convertScope): one permission per
  scope, the project's id turned back into its name; a deleted project's is gone.
"""

from harbor_core.errors import bad_request, not_found


def _pairs(table):
    return frozenset((resource, action) for resource, actions in table.items() for action in actions.split())


PROJECT_ACCESS = _pairs(
    {
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
        # NolimitProvider's additions.
        "robot": "create read list delete",
        "export-cve": "create read",
        "member": "create read update list delete",
    }
)
SYSTEM_ACCESS = _pairs(
    {
        "audit-log": "list",
        "preheat-instance": "read create delete list update",
        "project": "list create",
        "replication-policy": "read create delete list update",
        "replication": "read create list",
        "replication-adapter": "list",
        "registry": "read create delete list update",
        "scan-all": "read update stop create",
        "system-volumes": "read",
        "garbage-collection": "read create list update stop",
        "purge-audit": "read create list update stop",
        "jobservice-monitor": "list stop",
        "scanner": "read create delete list update",
        "label": "read create delete update",
        "security-hub": "read list",
        "catalog": "read",
        "quota": "read list update",
        # NolimitProvider's additions (quota update above is one).
        "robot": "create read list delete",
        "user": "create read update list delete",
        "ldap-user": "create list",
        "user-group": "create read update list delete",
    }
)
ACCESS_BY_KIND = {"system": SYSTEM_ACCESS, "project": PROJECT_ACCESS}
SCOPE_SYSTEM = "/system"
SCOPE_ALL_PROJECTS = "/project/*"


def check(level, permissions):
    """The handler's ``validate`` of a robot's permissions (after its duration and level)."""
    if not permissions:
        raise bad_request("bad request empty permission")
    if any(not permission.get("access") for permission in permissions):
        raise bad_request("bad request empty access")
    if level == "project" and len(permissions) > 1:
        raise bad_request("bad request permission")
    for permission in permissions:
        allowed = ACCESS_BY_KIND.get(permission.get("kind"))
        if allowed is None:
            raise bad_request(f"bad request permission level: {permission.get('kind')}")
        for access in permission["access"]:
            if (access.get("resource"), access.get("action")) not in allowed:
                raise bad_request(f"bad request permission: {access.get('resource')}:{access.get('action')}")


def stored(permissions, project_by_name):
    """The rows Harbor stores of ``permissions``: {scope, resource, action, effect}, each once."""
    rows = []
    for permission in permissions:
        kind, namespace = permission["kind"], permission.get("namespace")
        if kind == "system":
            if namespace != "/":
                raise bad_request("unknown namespace")
            scope = SCOPE_SYSTEM
        elif namespace == "*":
            scope = SCOPE_ALL_PROJECTS
        else:
            project = project_by_name(namespace)
            if not project:
                raise not_found(f"project {namespace} not found")
            scope = f"/project/{project['project_id']}"
        for access in permission["access"]:
            row = {"scope": scope, "resource": access["resource"], "action": access["action"]}
            row["effect"] = access.get("effect") or ""
            if row not in rows:
                rows.append(row)
    return rows


def shown(rows, project_by_id):
    """The API's permissions of stored ``rows``: one per scope, in the order first stored."""
    grouped = {}
    for row in rows:
        grouped.setdefault(row["scope"], []).append(
            {key: row[key] for key in ("resource", "action", "effect") if row[key]}
        )
    permissions = []
    for scope, access in grouped.items():
        if scope == SCOPE_SYSTEM:
            kind, namespace = "system", "/"
        elif scope == SCOPE_ALL_PROJECTS:
            kind, namespace = "project", "*"
        else:
            project = project_by_id(int(scope.rsplit("/", 1)[1]))
            if not project:
                continue  # like real: the permission of a deleted project is not listed
            kind, namespace = "project", project["name"]
        permissions.append({"kind": kind, "namespace": namespace, "access": access})
    return permissions


def granted(rows, project):
    """The (resource, action) pairs ``rows`` grant in ``project``."""
    scopes = (SCOPE_ALL_PROJECTS, f"/project/{project['project_id']}")
    return {(row["resource"], row["action"]) for row in rows if row["scope"] in scopes}
