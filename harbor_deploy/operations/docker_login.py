"""
Log OS users in to a registry with ``docker login``, the password passed on stdin.
"""

import shlex

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation

from harbor_deploy.facts.docker_client import DockerLoginCheck, as_user
from harbor_deploy.lib.config.secrets import RereadableSecret, Secret
from harbor_deploy.operations.docker_daemon import fail_host


@operation()
def login(registry, username, password, user="root", check=None):
    """
    Log ``user`` in to ``registry`` as ``username`` with ``docker login --password-stdin``.

    + registry: ``host:port`` as clients pull from it
    + username: registry account (``robot$project+name`` robot names are quoted)
    + password: a ``harbor_deploy.lib.config.secrets.Secret``; it travels on the command's stdin
      only: never on a command line, in output or in the operation's arguments. A
      ``RereadableSecret`` is read again as the operation runs: replaced since planning
      (a robot's secret configure refreshed earlier in the run), the user logs in again
    + user: OS user whose ``~/.docker/config.json`` gets the credentials
    + check: that user's ``DockerLoginCheck`` (as in ``ClientRegistryState``'s
      ``logins``), when the caller read it already; read here otherwise

    Nothing happens when the user's stored login for the registry works (Harbor
    accepts it: ``DockerLoginCheck``) and is stored for ``username`` (or under a credential helper,
    which keeps the user name to itself).

    **Example:**

    .. code:: python

        from harbor_deploy.operations import docker_login
        docker_login.login(
            name="Log jenkins in to harbor.example.com:8443",
            registry="harbor.example.com:8443",
            username="robot$ci+push",
            password=robot_secret,
            user="jenkins",
        )
    """

    if not isinstance(password, Secret):
        raise OperationError("docker_login.login: password must be a harbor_deploy.lib.config.secrets.Secret")
    latest = password.latest() if isinstance(password, RereadableSecret) else password
    state = check if check is not None else host.get_fact(DockerLoginCheck, registry=registry, user=user)
    if not state["user_exists"]:
        yield fail_host(f"no OS user {user!r} to log in to {registry}")
        return
    if latest is None:
        yield fail_host(f"the password of {username} is no longer where it was read ({password.source})")
        return
    if state["works"] and state["username"] in (None, username) and latest == password:
        host.noop(f"{user} is already logged in to {registry}")
        return

    docker_login = f"docker login --username {shlex.quote(username)} --password-stdin {shlex.quote(registry)}"
    yield StringCommand(as_user(user, docker_login), _stdin=latest.reveal())
