"""Harbor's settings as desired state: inventory data -> API payloads -> changes.

One module per kind of resource. Each kind's ``plan(client, specs, store)`` reads
the current state through a ``HarborClient`` and returns the ``Change``s that bring
Harbor to the desired state; nothing is written until a change's ``apply()`` runs.
Only what the inventory names is managed: fields left out are left as Harbor has
them, resources left out are never deleted, ``state: absent`` deletes one.

Secrets (user passwords, robot secrets, registry credentials, the managed admin
password) never come from inventory data: they live in the controller secrets dir
of the instance or come from an environment variable named in the data. Changes and
errors name resources and fields, never values of secrets.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

from harbor_deploy.lib.config.secrets import meets_harbor_password_rule
from harbor_deploy.lib.harbor_api.resources import gc, projects, registries, retention, robots, users
from harbor_deploy.lib.harbor_api.resources.admin import AdminAccess
from harbor_deploy.lib.harbor_api.resources.common import Change, ResourceError, find_project, find_registry, parse_size


@dataclass(frozen=True)
class Kind:
    """One kind of resource: where its entries are in the data, how one is read, and
    how the changes it needs are planned."""

    title: str
    key: str
    spec: Callable
    plan: Callable

    def entries(self, config):
        value = config.get(self.key)
        if self.key == "harbor_gc_schedule":  # one schedule, not a list
            return [] if value is None else [value]
        return value or []


# In the order they are converged: registries before the proxy cache projects using
# them, users before memberships, projects before their robots and retention.
KINDS = (
    Kind("Registry endpoints", "harbor_registries", registries.registry_spec, registries.plan_registries),
    Kind("Users", "harbor_users", users.user_spec, users.plan_users),
    Kind("Projects", "harbor_projects", projects.project_spec, projects.plan_projects),
    Kind("Project members", "harbor_projects", projects.project_spec, projects.plan_members),
    Kind("Robot accounts", "harbor_robots", robots.robot_spec, robots.plan_robots),
    Kind("Tag retention policies", "harbor_projects", projects.project_spec, retention.plan_retention),
    Kind("Garbage collection schedule", "harbor_gc_schedule", gc.gc_spec, gc.plan_gc),
)


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
        if kind.key != "harbor_gc_schedule" and entries is not None and not isinstance(entries, list):
            yield kind.key, "must be a list"
            continue
        for index, raw in enumerate(kind.entries(config)):
            where = kind.key if kind.key == "harbor_gc_schedule" else f"{kind.key}[{index}]"
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


__all__ = [
    "KINDS",
    "AdminAccess",
    "Change",
    "Kind",
    "ResourceError",
    "find_project",
    "find_registry",
    "parse_size",
    "problems",
]
