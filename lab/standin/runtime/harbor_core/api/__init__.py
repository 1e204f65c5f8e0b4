"""The API's routes, one module per resource."""

from harbor_core.api import artifacts, gc, projects, registries, retention, robots, system, users

# {is an API route (under /api/v2.0): routes}
ROUTES = {
    True: [
        *system.ROUTES,
        *users.ROUTES,
        *projects.ROUTES,
        *artifacts.ROUTES,
        *robots.ROUTES,
        *registries.ROUTES,
        *retention.ROUTES,
        *gc.ROUTES,
    ],
    False: system.OUTSIDE_API,
}
