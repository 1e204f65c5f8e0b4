"""The API's routes, one module per resource."""

from harbor_core.api import (
    allowlists,
    artifacts,
    configurations,
    projects,
    registries,
    retention,
    robots,
    schedules,
    system,
    usergroups,
    users,
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
    ],
    False: system.OUTSIDE_API,
}
