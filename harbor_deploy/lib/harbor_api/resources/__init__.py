"""Harbor's settings as desired state: inventory data -> API payloads -> changes.

One module per kind of resource. Each kind's ``plan(client, specs, store)`` reads
the current state through a ``HarborClient`` and returns the ``Change``s that bring
Harbor to the desired state; nothing is written until a change's ``apply()`` runs.
Only what the inventory names is managed: fields left out are left as Harbor has
them, resources left out are never deleted, ``state: absent`` deletes one.

Secrets (user passwords, robot secrets, registry credentials, the LDAP bind password
and OIDC client secret, the managed admin password) never come from inventory data:
they live in the controller secrets dir of the instance or come from an environment
variable named in the data. Changes and errors name resources and fields, never
values of secrets.

Each kind that owns an inventory key also reads it back (``export``): what Harbor has,
as the data configure takes, without secrets.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

from harbor_deploy.lib.config.secrets import meets_harbor_password_rule
from harbor_deploy.lib.harbor_api.resources import (
    configurations,
    cve_allowlists,
    groups,
    immutable,
    projects,
    registries,
    replication,
    retention,
    robots,
    scanning,
    schedules,
    users,
    webhooks,
)
from harbor_deploy.lib.harbor_api.resources.admin import AdminAccess
from harbor_deploy.lib.harbor_api.resources.common import Change, ResourceError, find_project, find_registry, parse_size


@dataclass(frozen=True)
class Kind:
    """One kind of resource: where its entries are in the data, how one is read, how
    the changes it needs are planned and (for the kind owning its key) how Harbor's
    state is read back as data."""

    title: str
    key: str
    spec: Callable
    plan: Callable
    # One dict (a schedule, the settings), not a list of entries.
    single: bool = False
    export: Callable | None = None
    # Its entries as the whole configuration makes them (robots: the ones
    # harbor_robot_refresh names are marked), when not ``config[key]`` alone.
    entries_of: Callable | None = None

    def entries(self, config):
        if self.entries_of is not None:
            return self.entries_of(config)
        value = config.get(self.key)
        if self.single:
            return [] if value is None else [value]
        return value or []


# In the order they are converged: sign-in before users (Harbor locks the auth mode
# once users exist), settings before what they govern (robot name prefix, default
# quota), registries before the proxy cache projects and replication policies using
# them, users and groups before memberships, projects before their robots, retention,
# immutable tag rules, webhooks and the replication into them, the default scanner
# before the scan-all schedule (Harbor answers no scan-all call without one).
KINDS = (
    Kind(
        "Authentication",
        "harbor_auth",
        configurations.auth_spec,
        configurations.plan_auth,
        single=True,
        export=configurations.export_auth,
    ),
    Kind(
        "System settings",
        "harbor_system_settings",
        configurations.settings_spec,
        configurations.plan_settings,
        single=True,
        export=configurations.export_settings,
    ),
    Kind(
        "Registry endpoints",
        "harbor_registries",
        registries.registry_spec,
        registries.plan_registries,
        export=registries.export_registries,
    ),
    Kind("Users", "harbor_users", users.user_spec, users.plan_users, export=users.export_users),
    Kind("User groups", "harbor_groups", groups.group_spec, groups.plan_groups, export=groups.export_groups),
    Kind("Projects", "harbor_projects", projects.project_spec, projects.plan_projects, export=projects.export_projects),
    Kind("Project members", "harbor_projects", projects.project_spec, projects.plan_members),
    Kind(
        "Robot accounts",
        "harbor_robots",
        robots.robot_spec,
        robots.plan_robots,
        export=robots.export_robots,
        entries_of=robots.robot_entries,
    ),
    Kind("Tag retention policies", "harbor_projects", projects.project_spec, retention.plan_retention),
    Kind("Immutable tag rules", "harbor_projects", projects.project_spec, immutable.plan_immutable_rules),
    Kind("Project webhooks", "harbor_projects", projects.project_spec, webhooks.plan_webhooks),
    Kind(
        "Replication policies",
        "harbor_replication_policies",
        replication.policy_spec,
        replication.plan_policies,
        export=replication.export_policies,
    ),
    Kind(
        "Garbage collection schedule",
        "harbor_gc_schedule",
        schedules.gc_spec,
        schedules.plan_gc,
        single=True,
        export=schedules.export_gc,
    ),
    Kind(
        "System CVE allowlist",
        "harbor_cve_allowlist",
        cve_allowlists.allowlist_spec,
        cve_allowlists.plan_system_allowlist,
        single=True,
        export=cve_allowlists.export_system_allowlist,
    ),
    Kind(
        "Audit log purge schedule",
        "harbor_audit_log_purge",
        schedules.purge_spec,
        schedules.plan_purge,
        single=True,
        export=schedules.export_purge,
    ),
    Kind(
        "Default scanner",
        "harbor_default_scanner",
        scanning.default_scanner_spec,
        scanning.plan_default_scanner,
        single=True,
        export=scanning.export_default_scanner,
    ),
    Kind(
        "Scan-all schedule",
        "harbor_scan_all_schedule",
        scanning.scan_all_spec,
        scanning.plan_scan_all,
        single=True,
        export=scanning.export_scan_all,
    ),
)
# Every key configure manages (what an export holds).
MANAGED_KEYS = tuple(dict.fromkeys(kind.key for kind in KINDS))


def problems(config, env=None):
    """``(key, why)`` for every configure entry that does not normalize, and for
    passwords in the environment that Harbor would refuse."""
    env = os.environ if env is None else env
    # The endpoints the inventory makes, by name: their type is known before any call.
    registry_types = {
        raw["name"]: raw.get("type")
        for raw in config.get("harbor_registries") or []
        if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw.get("state", "present") == "present"
    }
    seen = set()
    for kind in KINDS:
        if kind.key in seen:
            continue
        seen.add(kind.key)
        entries = config.get(kind.key)
        if not kind.single and entries is not None and not isinstance(entries, list):
            yield kind.key, "must be a list"
            continue
        for index, raw in enumerate(kind.entries(config)):
            where = kind.key if kind.single else f"{kind.key}[{index}]"
            try:
                spec = kind.spec(raw)
            except (KeyError, ValueError, TypeError) as error:
                yield where, f"missing field {error}" if isinstance(error, KeyError) else str(error)
                continue
            if kind.key == "harbor_projects" and spec.get("proxy_cache") in registry_types:
                kind_of = registry_types[spec["proxy_cache"]]
                if kind_of not in registries.PROXY_CACHE_TYPES:
                    yield (
                        where,
                        f"proxy_cache {spec['proxy_cache']} is a {kind_of} endpoint: Harbor makes proxy caches of "
                        f"{', '.join(registries.PROXY_CACHE_TYPES)} only",
                    )
            variable = spec.get("password_env") if kind.key == "harbor_users" else None
            if variable and variable in env and not meets_harbor_password_rule(env[variable]):
                yield (
                    where,
                    (
                        f"the password from env {variable} must be 8-128 characters with a "
                        "lowercase letter, an uppercase letter and a digit (Harbor's rule)"
                    ),
                )
    yield from _local_user_problems(config)
    yield from robots.refresh_problems(config)


def _local_user_problems(config):
    """Harbor creates and edits local users in db auth only (handler/user.go
    requireCreatable, modifiable): with another mode an entry may set the admin flag."""
    mode = (config.get("harbor_auth") or {}).get("mode", "db")
    if mode == "db" or not isinstance(config.get("harbor_users"), list):
        return
    for index, raw in enumerate(config["harbor_users"]):
        local = [key for key in users.LOCAL_FIELDS if isinstance(raw, dict) and key in raw]
        if local:
            yield (
                f"harbor_users[{index}]",
                f"{', '.join(local)}: Harbor creates and edits local users only in db auth mode "
                f"(harbor_auth mode is {mode}); an entry may set admin only",
            )


def harbor_problems(config, client_of):
    """``(key, why)`` of what Harbor itself would refuse, read before any change (through
    the admin client ``client_of()`` returns): an auth mode it locked because users
    other than admin exist; a project to delete that holds repositories (without
    ``purge``)."""
    auth = config.get("harbor_auth")
    if auth:
        why = configurations.mode_lock(client_of(), configurations.auth_spec(auth))
        if why:
            yield "harbor_auth", why
    deleted = [
        (index, projects.project_spec(raw))
        for index, raw in enumerate(config.get("harbor_projects") or [])
        if raw.get("state") == "absent" and not raw.get("purge")
    ]
    client = client_of() if deleted else None
    for index, spec in deleted:
        current = find_project(client, spec["name"])
        why = projects.undeletable(spec, current) if current else None
        if why:
            yield f"harbor_projects[{index}]", why


def export(client):
    """Every key configure manages, as Harbor has it (None and empty lists left out)."""
    found = {}
    for kind in KINDS:
        if kind.export is not None:
            value = kind.export(client)
            if value:
                found[kind.key] = value
    return found


__all__ = [
    "KINDS",
    "MANAGED_KEYS",
    "AdminAccess",
    "Change",
    "Kind",
    "ResourceError",
    "find_project",
    "find_registry",
    "export",
    "harbor_problems",
    "parse_size",
    "problems",
]
