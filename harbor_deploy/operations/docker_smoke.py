"""
Registry smoke test between Docker hosts: each pushes a tiny image it builds
itself, then pulls the one another host pushed. No external image is pulled.
"""

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

from harbor_deploy.facts.docker_client import as_user
from harbor_deploy.lib.plan.client import smoke_peer, smoke_reference


@operation(is_idempotent=False)
def push(registry, project, user="root"):
    """
    Build an image from a scratch tarball (one text file naming this host) and push
    it as ``<registry>/<project>/hd-smoke:<host name>``.

    + registry: ``host:port``
    + project: registry project (must exist; ``library`` does on Harbor)
    + user: OS user whose docker login is used

    **Example:**

    .. code:: python

        from harbor_deploy.operations import docker_smoke
        docker_smoke.push(name="Smoke test: push", registry="harbor.example.com:8443",
                          project="library")
    """

    reference = shlex.quote(smoke_reference(registry, project, host.name))
    content = shlex.quote(f"hd-smoke image pushed by {host.name}")
    yield StringCommand(
        as_user(
            user,
            (
                "dir=$(mktemp -d) && trap 'rm -rf \"$dir\"' EXIT && "
                f'printf "%s\\n" {content} > "$dir/hd-smoke.txt" && '
                f'tar -C "$dir" -cf - hd-smoke.txt | docker import --message hd-smoke - {reference} >/dev/null && '
                f"docker push --quiet {reference}"
            ),
        )
    )


@operation(is_idempotent=False)
def pull_peer(registry, project, group, user="root"):
    """
    Pull the smoke image that another host of ``group`` pushed: the next one in name
    order among the hosts still running this deploy (hosts that failed earlier are
    left out), or this host's own when it is the only one. The local copy is removed
    first, so the image really comes from the registry.

    + registry, project, user: as for ``push``
    + group: inventory group of the hosts taking part (e.g. ``docker_clients``)

    **Example:**

    .. code:: python

        from harbor_deploy.operations import docker_smoke
        docker_smoke.pull_peer(name="Smoke test: pull", registry="harbor.example.com:8443",
                               project="library", group="docker_clients")
    """

    running = [other.name for other in host.state.active_hosts if group in other.groups]
    reference = shlex.quote(smoke_reference(registry, project, smoke_peer(host.name, running)))
    yield StringCommand(
        as_user(
            user,
            (
                f"docker image rm --force {reference} >/dev/null 2>&1; "
                f"docker pull --quiet {reference} && docker image inspect --format '{{{{.Id}}}}' {reference}"
            ),
        )
    )
