"""
Converge Harbor's settings through its REST API v2.0, from the controller.

Each operation reads Harbor's current state while pyinfra prepares the run and
lists the changes it would make (``--dry`` stops there); when executed it reads
the state again and applies what is still different, so an operation may rely
on the ones before it (a robot on its project). Nothing to change: no command,
so a converged Harbor reports zero changes. No secret is ever in the output:
changes name resources and fields only.
"""

from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation

from harbor_deploy.lib.config.secrets import write_private_file
from harbor_deploy.lib.harbor_api.client import ApiError
from harbor_deploy.lib.harbor_api.export import export_text
from harbor_deploy.lib.harbor_api.resources import ResourceError
from harbor_deploy.operations.deploy_lock import acquire


def _converge(what, plan, lock_holder):
    """Log the planned changes and yield one controller-side call applying them, after
    the host's deploy lock for ``lock_holder`` (one cheap command on the host: a
    configure run elsewhere refuses, naming this one); a refusal while reading Harbor
    fails this host with the reason."""
    try:
        changes = plan()
    except (ResourceError, ApiError) as error:
        logger.error(f"{host.print_prefix}Harbor API: {error}")
        yield FunctionCommand(_refuse, (error,), {})
        return
    if not changes:
        host.noop(f"Harbor {what}: as desired")
        return
    for change in changes:
        logger.info(f"{host.print_prefix}Harbor API: {change}")
    yield StringCommand(acquire(lock_holder))
    yield FunctionCommand(_apply, (plan,), {})


def _refuse(state, host, error):
    return False


def _apply(state, host, plan):
    """Apply what is still different; a refusal fails this host with Harbor's reason
    (never a traceback), like a failing remote command."""
    try:
        for change in plan():
            change.apply()
    except (ResourceError, ApiError) as error:
        host.log_styled(f"Harbor API: {error}", fg="red", log_func=logger.error)
        return False
    return True


@operation()
def admin_password(access, lock_holder):
    """
    Rotate the admin password from the initial one (harbor.yml's seed) to the managed
    one, stored in the controller secrets dir.

    + access: ``harbor_deploy.lib.harbor_api.resources.AdminAccess`` of the Harbor instance
    + lock_holder: the ``deploy_lock.Holder`` taking this host's lock before the change

    **Example:**

    .. code:: python

        harbor_api.admin_password(name="Rotate the Harbor admin password", access=access, lock_holder=holder)
    """
    yield from _converge("admin password", access.plan_rotation, lock_holder)


@operation()
def converge(access, kind, entries, store, lock_holder):
    """
    Bring one kind of Harbor resource to the desired state: create what is missing,
    update what differs, delete what says ``state: absent``.

    + access: ``harbor_deploy.lib.harbor_api.resources.AdminAccess`` of the Harbor instance;
      None on a host that only waits for the change (a client of robots whose secrets
      the run replaces: this same operation orders its login after the change)
    + kind: a ``harbor_deploy.lib.harbor_api.resources.Kind`` (``KINDS``: auth, system
      settings, registries, users, groups, projects, members, robots, retention,
      immutable tag rules, webhooks, replication policies, GC schedule, system CVE
      allowlist, audit-log purge schedule, default scanner, scan-all schedule)
    + entries: the kind's inventory entries (``kind.entries(config)``)
    + store: ``SecretStore`` of the instance (robot secrets, user passwords,
      registry credentials, webhook auth headers, the LDAP bind password and OIDC
      client secret)
    + lock_holder: the ``deploy_lock.Holder`` taking this host's lock before a change

    **Example:**

    .. code:: python

        robots = next(kind for kind in resources.KINDS if kind.key == "harbor_robots")
        harbor_api.converge(
            name="Robot accounts",
            access=access,
            kind=robots,
            entries=[{"name": "jenkins", "project": "ci"}],
            store=store,
            lock_holder=holder,
        )
    """
    if access is None:
        host.noop(f"Harbor {kind.title.lower()}: changed from its first server")
        return
    specs = [kind.spec(raw) for raw in entries]
    yield from _converge(kind.title.lower(), lambda: kind.plan(access.client(), specs, store), lock_holder)


@operation()
def export(access, path):
    """
    Write Harbor's configuration, as configure's keys (YAML, no secrets), to a file on
    the controller; nothing to do when the file already holds it.

    + access: ``harbor_deploy.lib.harbor_api.resources.AdminAccess`` of the Harbor instance
    + path: the controller path to write (``harbor_export_file``)

    **Example:**

    .. code:: python

        harbor_api.export(name="Export Harbor's configuration", access=access, path="harbor-export.yml")
    """
    try:
        text = export_text(access.client())
    except (ResourceError, ApiError) as error:
        logger.error(f"{host.print_prefix}Harbor API: {error}")
        yield FunctionCommand(_refuse, (error,), {})
        return
    target = Path(path)
    if target.is_file() and target.read_text() == text:
        host.noop(f"Harbor export: {path} is current")
        return
    logger.info(f"{host.print_prefix}Harbor API: write {path}")
    yield FunctionCommand(_write_export, (access, target), {})


def _write_export(state, host, access, target):
    """Read Harbor again and write the file (0600: it names users and addresses)."""
    try:
        write_private_file(target, export_text(access.client()).encode())
    except (ResourceError, ApiError) as error:
        host.log_styled(f"Harbor API: {error}", fg="red", log_func=logger.error)
        return False
    return True
