"""Where the Docker engine comes from on a host that lacks it: the default sources
(the distribution's packages, Docker's docker-ce repository on the RHEL family), or
an internal repository the inventory names, for hosts without internet."""

from pathlib import Path

from harbor_deploy.lib.config import schema
from harbor_deploy.lib.config.validate import ConfigError, docker_repo_problems

ARMORED_KEY_PREFIX = b"-----BEGIN PGP"


def docker_repository(config):
    """The internal repository of merged data ``config`` as the ``docker_engine.installed``
    operation takes it, or None for the default sources; ``ConfigError`` naming every
    ``harbor_docker_*`` key that is wrong."""
    found = [(key, why) for key, why in schema.problems(config) if key.startswith("harbor_docker_")]
    found += docker_repo_problems(config) if not found else []
    if found:
        raise ConfigError(found)
    if config["harbor_docker_repo_url"] is None:
        return None
    key = Path(config["harbor_docker_repo_key"]).read_bytes()
    return {
        "url": config["harbor_docker_repo_url"],
        "key": key,
        "armored": key.lstrip().startswith(ARMORED_KEY_PREFIX),
        "suite": config["harbor_docker_repo_suite"],
        "components": list(config["harbor_docker_repo_components"]),
        "packages": config["harbor_docker_packages"],
    }
