"""Docker engine with the compose v2 plugin, installed when missing, enabled and running."""

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.operations import apt, dnf, systemd

from facts.docker import DockerEngine
from facts.host import HostOverview

# Distribution packages that give dockerd plus the compose v2 plugin.
DEBIAN_PACKAGES = {
    "debian": ["docker.io", "docker-cli", "docker-compose"],  # trixie (13) and later
    "ubuntu": ["docker.io", "docker-compose-v2"],
}
RHEL_FAMILY = ("rhel", "almalinux", "rocky", "centos")
DOCKER_CE_REPO = {  # Docker's own repository: RHEL has none of its own docker packages
    "rhel": "https://download.docker.com/linux/rhel/docker-ce.repo",
    "default": "https://download.docker.com/linux/centos/docker-ce.repo",
}
DOCKER_CE_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"]


def install_plan(os_id, os_version_id):
    """``("apt" | "dnf", packages, repo_url or None)`` for this OS; DeployError when unsupported."""
    major = int((os_version_id or "0").split(".")[0] or 0)
    if os_id == "debian" and major < 13:
        raise DeployError(f"Debian {os_version_id} ships only compose v1: install Docker CE "
                          "with the compose plugin first, or use Debian 13 (trixie)")
    if os_id in DEBIAN_PACKAGES:
        return "apt", DEBIAN_PACKAGES[os_id], None
    if os_id in RHEL_FAMILY:
        return "dnf", DOCKER_CE_PACKAGES, DOCKER_CE_REPO.get(os_id, DOCKER_CE_REPO["default"])
    raise DeployError(f"no Docker install recipe for OS {os_id!r} {os_version_id}")


@deploy("Docker engine")
def docker_engine():
    engine = host.get_fact(DockerEngine)
    if not engine["installed"] or not engine["compose_version"]:
        overview = host.get_fact(HostOverview)
        manager, packages, repo = install_plan(overview["os_id"], overview["os_version_id"])
        if manager == "apt":
            apt.packages(name="Install docker engine and compose v2 (distribution packages)",
                         packages=packages, update=True, no_recommends=True)
        else:
            dnf.packages(name="Remove podman-docker (conflicts with docker-ce)",
                         packages=["podman-docker"], present=False)
            dnf.repo(name="Add Docker's docker-ce repository", src=repo)
            dnf.packages(name="Install docker-ce and the compose plugin", packages=packages)
    if not (engine["active"] and engine["enabled"]):
        systemd.service(name="Enable and start docker", service="docker.service",
                        running=True, enabled=True)
