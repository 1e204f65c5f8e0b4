"""
Log OS users in to a registry as ``docker login`` does, the password passed on stdin.
"""

import base64
import shlex

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation

from harbor_deploy.facts.docker_client import DockerLoginCheck, as_user, token_status
from harbor_deploy.lib.config.secrets import RereadableSecret, Secret
from harbor_deploy.operations.docker_daemon import fail_host


@operation()
def login(registry, username, password, user="root", check=None, scheme="https"):
    """
    Log ``user`` in to ``registry`` as ``username``, as ``docker login --password-stdin``
    does (``login_script``: where docker would store the credentials in a
    ``~/.docker/config.json`` holding nothing else, the host checks them with Harbor
    and writes that file itself, without the docker CLI and daemon).

    + registry: ``host:port`` as clients pull from it
    + username: registry account (``robot$project+name`` robot names are quoted)
    + password: a ``harbor_deploy.lib.config.secrets.Secret``; it travels on the command's stdin
      only: never on a command line, in output or in the operation's arguments. A
      ``RereadableSecret`` is read again as the operation runs: replaced since planning
      (a robot's secret configure refreshed earlier in the run), the user logs in again
    + user: OS user whose ``~/.docker/config.json`` gets the credentials
    + check: that user's ``DockerLoginCheck`` (as in ``ClientRegistryState``'s
      ``logins``), when the caller read it already; read here otherwise
    + scheme: how Harbor is reached (``http`` for an insecure registry)

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
    state = check if check is not None else host.get_fact(DockerLoginCheck, registry=registry, user=user, scheme=scheme)
    if not state["user_exists"]:
        yield fail_host(f"no OS user {user!r} to log in to {registry}")
        return
    if latest is None:
        yield fail_host(f"the password of {username} is no longer where it was read ({password.source})")
        return
    if state["works"] and state["username"] in (None, username) and latest == password:
        host.noop(f"{user} is already logged in to {registry}")
        return

    secret = latest.reveal()
    auth = base64.b64encode(f"{username}:{secret}".encode()).decode()
    yield StringCommand(as_user(user, login_script(registry, username, scheme)), _stdin=f"{auth}\n{secret}")


# docker's own words for a config.json with nothing in it: no file, "{}" or the empty
# "auths" a logout leaves (compared with blanks removed).
EMPTY_CONFIGS = ("{}", '{"auths":{}}')
# The credential helpers docker login uses by default when on PATH, with no
# credsStore configured (cli/config/credentials/default_store_linux.go).
DEFAULT_HELPERS = ("docker-credential-pass", "docker-credential-secretservice")


def login_script(registry, username, scheme="https"):
    """The user's shell logging in to ``registry``; its stdin holds the ``auth`` docker
    stores (base64 of ``username:password``) on the first line, then the password.

    Where ``docker login`` would store exactly that ``auth`` in the user's
    ``~/.docker/config.json`` (curl at hand, no credential helper on PATH, the file
    absent or a plain file holding nothing: ``{}``, ``{"auths": {}}``), Harbor's token service is
    asked once with it (what the daemon asks for docker login, verified with the
    certs.d CA dockerd uses) and on 200 the file is written as docker writes it
    (indented with tabs, mode 0600 in a 0700 directory, renamed into place). Anything
    else (another answer, no answer, a file with other settings or logins, a helper)
    runs ``docker login --password-stdin`` as before, which decides and reports.
    """
    quoted = shlex.quote(registry)
    empty = " || ".join(f'[ "$flat" = {shlex.quote(config)} ]' for config in EMPTY_CONFIGS)
    helpers = " && ".join(f"! command -v {helper} >/dev/null" for helper in DEFAULT_HELPERS)
    written = shlex.quote(r'{\n\t"auths": {\n\t\t"%s": {\n\t\t\t"auth": "%s"\n\t\t}\n\t}\n}')
    return (
        'IFS= read -r auth; password=$(cat); dir="$HOME/.docker"; config="$dir/config.json"; status=; '
        f'flat=$(tr -d " \\t\\r\\n" 2>/dev/null < "$config"); '
        f"if command -v curl >/dev/null && {helpers} && "
        f'[ ! -L "$config" ] && {{ [ ! -e "$config" ] || {empty}; }}; then '
        f"{token_status(registry, scheme)}; fi; "
        'if [ "$status" = 200 ]; then '
        'umask 077 && mkdir -p "$dir" && temp=$(mktemp "$config.XXXXXX") && '
        f'printf {written} {quoted} "$auth" > "$temp" && mv -f "$temp" "$config" || {{ rm -f "$temp"; exit 1; }}; '
        f'else printf %s "$password" | docker login --username {shlex.quote(username)} --password-stdin {quoted}; fi'
    )
