"""Docker engine with the compose v2 plugin, installed when missing, enabled and running."""

from pyinfra.api import deploy

from harbor_deploy.operations import docker_engine as docker_engine_ops


@deploy("Docker engine")
def docker_engine(engine=None, overview=None):
    """+ engine, overview: the ``DockerEngine`` and ``HostOverview`` facts when read already."""
    docker_engine_ops.installed(
        name="Docker engine with compose v2, enabled and running", engine=engine, overview=overview
    )
