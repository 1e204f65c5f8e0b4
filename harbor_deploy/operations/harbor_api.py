"""
Converge Harbor's settings through its REST API v2.0, from the controller.

Each operation reads Harbor's current state while pyinfra prepares the run and
lists the changes it would make (``--dry`` stops there); when executed it reads
the state again and applies what is still different, so an operation may rely
on the ones before it (a robot on its project). Nothing to change: no command,
so a converged Harbor reports zero changes. No secret is ever in the output:
changes name resources and fields only.
"""

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation

from harbor_deploy.lib import resources
from harbor_deploy.lib.api import ApiError


def _converge(what, plan):
    """Log the planned changes and yield one controller-side call applying them; a
    refusal while reading Harbor fails this host with the reason."""
    try:
        changes = plan()
    except (resources.ResourceError, ApiError) as error:
        logger.error(f"{host.print_prefix}Harbor API: {error}")
        yield FunctionCommand(_refuse, (error,), {})
        return
    if not changes:
        host.noop(f"Harbor {what}: as desired")
        return
    for change in changes:
        logger.info(f"{host.print_prefix}Harbor API: {change}")
    yield FunctionCommand(_apply, (plan,), {})


def _refuse(state, host, error):
    return False


def _apply(state, host, plan):
    """Apply what is still different; a refusal fails this host with Harbor's reason
    (never a traceback), like a failing remote command."""
    try:
        for change in plan():
            change.apply()
    except (resources.ResourceError, ApiError) as error:
        host.log_styled(f"Harbor API: {error}", fg="red", log_func=logger.error)
        return False
    return True


@operation()
def admin_password(access):
    """
    Rotate the admin password from the initial one (harbor.yml's seed) to the managed
    one, stored in the controller secrets dir.

    + access: ``harbor_deploy.lib.resources.AdminAccess`` of the Harbor instance

    **Example:**

    .. code:: python

        harbor_api.admin_password(name="Rotate the Harbor admin password", access=access)
    """
    yield from _converge("admin password", access.plan_rotation)


@operation()
def registries(access, registries, store):
    """
    Registry endpoints (for proxy cache projects and replication).

    + access: ``AdminAccess`` of the Harbor instance
    + registries: entries of ``harbor_registries``
    + store: ``SecretStore`` of the instance (credentials under ``registries/<name>``)

    **Example:**

    .. code:: python

        harbor_api.registries(
            name="Harbor registry endpoints",
            access=access,
            registries=[{"name": "dockerhub", "type": "docker-hub", "url": "https://hub.docker.com"}],
            store=store,
        )
    """
    specs = [resources.registry_spec(raw) for raw in registries]
    yield from _converge("registries", lambda: resources.plan_registries(access.client(), specs, store))


@operation()
def users(access, users, store):
    """
    Local users (database auth); passwords from ``password_env`` or generated,
    kept in the secrets dir under ``users/<username>``.

    + access: ``AdminAccess`` of the Harbor instance
    + users: entries of ``harbor_users``
    + store: ``SecretStore`` of the instance

    **Example:**

    .. code:: python

        harbor_api.users(name="Harbor users", access=access,
                         users=[{"username": "alice", "email": "alice@example.org"}], store=store)
    """
    specs = [resources.user_spec(raw) for raw in users]
    yield from _converge("users", lambda: resources.plan_users(access.client(), specs, store))


@operation()
def projects(access, projects):
    """
    Projects: visibility, storage quota, scanning and vulnerability policy, proxy cache.

    + access: ``AdminAccess`` of the Harbor instance
    + projects: entries of ``harbor_projects``

    **Example:**

    .. code:: python

        harbor_api.projects(name="Harbor projects", access=access,
                            projects=[{"name": "ci", "storage_quota": "20G", "auto_scan": True}])
    """
    specs = [resources.project_spec(raw) for raw in projects]
    yield from _converge("projects", lambda: resources.plan_projects(access.client(), specs))


@operation()
def members(access, projects):
    """
    Project membership of users (the ``members`` of each ``harbor_projects`` entry).

    + access: ``AdminAccess`` of the Harbor instance
    + projects: entries of ``harbor_projects``

    **Example:**

    .. code:: python

        harbor_api.members(name="Harbor project members", access=access,
                           projects=[{"name": "ci", "members": [{"user": "alice", "role": "developer"}]}])
    """
    specs = [resources.project_spec(raw) for raw in projects]
    yield from _converge("project members", lambda: resources.plan_members(access.client(), specs))


@operation()
def robots(access, robots, store):
    """
    Robot accounts; the secret Harbor returns once goes to the secrets dir
    (``robots/<project>+<name>``, 0600) and nowhere else.

    + access: ``AdminAccess`` of the Harbor instance
    + robots: entries of ``harbor_robots``
    + store: ``SecretStore`` of the instance

    **Example:**

    .. code:: python

        harbor_api.robots(name="Harbor robot accounts", access=access,
                          robots=[{"name": "jenkins", "project": "ci"}], store=store)
    """
    specs = [resources.robot_spec(raw) for raw in robots]
    yield from _converge("robots", lambda: resources.plan_robots(access.client(), specs, store))


@operation()
def retention(access, projects):
    """
    Tag retention policy of each project with a ``retention`` entry.

    + access: ``AdminAccess`` of the Harbor instance
    + projects: entries of ``harbor_projects``

    **Example:**

    .. code:: python

        harbor_api.retention(
            name="Harbor tag retention",
            access=access,
            projects=[{"name": "ci", "retention": {
                "schedule": "Daily", "rules": [{"template": "latestPushedK", "count": 10}]}}],
        )
    """
    specs = [resources.project_spec(raw) for raw in projects]
    yield from _converge("tag retention", lambda: resources.plan_retention(access.client(), specs))


@operation()
def gc_schedule(access, schedule):
    """
    Garbage collection schedule.

    + access: ``AdminAccess`` of the Harbor instance
    + schedule: ``{schedule: Hourly|Daily|Weekly|<6-field cron>|None, delete_untagged, workers}``

    **Example:**

    .. code:: python

        harbor_api.gc_schedule(name="Harbor GC schedule", access=access,
                               schedule={"schedule": "Weekly", "delete_untagged": True})
    """
    spec = resources.gc_spec(schedule)
    yield from _converge("gc schedule", lambda: resources.plan_gc(access.client(), spec))
