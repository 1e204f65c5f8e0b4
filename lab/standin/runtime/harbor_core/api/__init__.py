"""The API's routes, one module per resource."""

from harbor_core.api import (
    allowlists,
    artifacts,
    configurations,
    immutable,
    manifests,
    projects,
    registries,
    replication,
    retention,
    robots,
    scanners,
    schedules,
    system,
    ui,
    usergroups,
    users,
    webhooks,
)

# {is an API route (under /api/v2.0): routes}
ROUTES = {
    True: [
        *system.ROUTES,
        *configurations.ROUTES,
        *users.ROUTES,
        *usergroups.ROUTES,
        *projects.ROUTES,
        *artifacts.ROUTES,
        *robots.ROUTES,
        *registries.ROUTES,
        *retention.ROUTES,
        *schedules.ROUTES,
        *allowlists.ROUTES,
        *immutable.ROUTES,
        *webhooks.ROUTES,
        *replication.ROUTES,
        *scanners.ROUTES,
    ],
    False: [*system.OUTSIDE_API, *manifests.ROUTES, *replication.OUTSIDE_API, *ui.ROUTES],
}
