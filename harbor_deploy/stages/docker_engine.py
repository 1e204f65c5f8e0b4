"""Docker engine, installed when missing, enabled and running: with the compose v2
plugin where Harbor runs, dockerd and the CLI alone on a client; from the default
sources or an internal repository (``harbor_docker_repo_url``)."""

from pyinfra.api import deploy

from harbor_deploy.lib.plan.docker import docker_repository
from harbor_deploy.operations import docker_engine as docker_engine_ops
from harbor_deploy.planning.context import config_of, refused_before_any_change


@deploy("Docker engine")
def docker_engine(config=None, engine=None, overview=None, lock_holder=None, compose=True):
    """+ config: the host's merged configuration; read from its data when None
    + engine, overview: the ``DockerEngine`` and ``HostOverview`` facts when read already
    + lock_holder: take the host's deploy lock for this holder before installing
    + compose: the compose v2 plugin too (a Harbor server); a client needs dockerd and the CLI"""
    with refused_before_any_change():
        repository = docker_repository(config if config is not None else config_of(checked=False))
    what = "Docker engine with compose v2" if compose else "Docker engine (dockerd and the CLI)"
    docker_engine_ops.installed(
        name=f"{what}, enabled and running" + (f" (installed from {repository['url']})" if repository else ""),
        compose=compose,
        repository=repository,
        engine=engine,
        overview=overview,
        lock_holder=lock_holder,
    )
