"""Docker engine with the compose v2 plugin, installed when missing, enabled and running."""

from pyinfra.api import deploy

from harbor_deploy.operations import docker_engine as docker_engine_ops


@deploy("Docker engine")
def docker_engine(engine=None, overview=None, lock_holder=None):
    """+ engine, overview: the ``DockerEngine`` and ``HostOverview`` facts when read already
    + lock_holder: take the host's deploy lock for this holder before installing"""
    docker_engine_ops.installed(
        name="Docker engine with compose v2, enabled and running",
        engine=engine,
        overview=overview,
        lock_holder=lock_holder,
    )
