"""
Install the docker engine with the compose v2 plugin, enabled and running.
"""

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation

from harbor_deploy.facts.docker import DockerEngine
from harbor_deploy.facts.host import HostOverview
from harbor_deploy.operations.deploy_lock import guarded

# Distribution packages giving dockerd plus the compose v2 plugin.
APT_PACKAGES = {
    "debian": ["docker.io", "docker-cli", "docker-compose"],  # Debian 13 (trixie) and later
    "ubuntu": ["docker.io", "docker-compose-v2"],
}
# RHEL and its rebuilds ship podman, not docker: Docker's docker-ce repository.
DOCKER_CE_REPOS = {
    "rhel": "https://download.docker.com/linux/rhel/docker-ce.repo",
    "almalinux": "https://download.docker.com/linux/centos/docker-ce.repo",
    "rocky": "https://download.docker.com/linux/centos/docker-ce.repo",
    "centos": "https://download.docker.com/linux/centos/docker-ce.repo",
}
DOCKER_CE_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"]


def install_commands(os_id, os_version_id):
    """The commands installing docker + compose v2 on this OS; OperationError when unsupported."""
    major = int((os_version_id or "0").split(".")[0] or 0)
    if os_id == "debian" and major < 13:
        raise OperationError(
            f"Debian {os_version_id} ships only compose v1: install Docker CE with "
            "the compose plugin first, or use Debian 13 (trixie) or later"
        )
    if os_id in APT_PACKAGES:
        return [
            StringCommand("apt-get", "update", "-qq"),
            StringCommand(
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                *APT_PACKAGES[os_id],
            ),
        ]
    if os_id in DOCKER_CE_REPOS:
        return [
            StringCommand("dnf", "-y", "remove", "podman-docker"),
            StringCommand("curl", "-fsSL", DOCKER_CE_REPOS[os_id], "-o", "/etc/yum.repos.d/docker-ce.repo"),
            StringCommand("dnf", "-y", "install", *DOCKER_CE_PACKAGES),
        ]
    raise OperationError(f"no docker install recipe for OS {os_id!r} {os_version_id or ''}".rstrip())


@operation()
def installed(engine=None, overview=None, lock_holder=None):
    """
    Install docker with the compose v2 plugin when either is missing (Debian 13+ and
    Ubuntu from distribution packages; RHEL, AlmaLinux, Rocky and CentOS from
    Docker's docker-ce repository), then enable and start it.

    + engine: the ``DockerEngine`` fact, when the caller read it already; read here otherwise
    + overview: the ``HostOverview`` fact, likewise (needed only to install)
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder before
      changing anything

    **Example:**

    .. code:: python

        docker_engine.installed(name="Docker engine with compose v2")
    """
    engine = engine if engine is not None else host.get_fact(DockerEngine)
    if engine["installed"] and engine["compose_version"] and engine["active"] and engine["enabled"]:
        host.noop(f"docker {engine['version']} with compose {engine['compose_version']} is running")
        return
    if lock_holder:
        yield guarded(lock_holder, "true")
    if not engine["installed"] or not engine["compose_version"]:
        overview = overview if overview is not None else host.get_fact(HostOverview)
        yield from install_commands(overview["os_id"], overview["os_version_id"])
    yield StringCommand("systemctl", "enable", "--now", "docker.service")
