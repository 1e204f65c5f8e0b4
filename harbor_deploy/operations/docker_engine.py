"""
Install the docker engine when missing, enabled and running: dockerd and the CLI,
with the compose v2 plugin where Harbor runs.
"""

from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation

from harbor_deploy.facts.docker import DockerEngine
from harbor_deploy.facts.host import HostOverview
from harbor_deploy.operations.deploy_lock import guarded

# Distribution packages giving dockerd and the CLI, then the compose v2 plugin.
APT_PACKAGES = {
    "debian": (["docker.io", "docker-cli"], ["docker-compose"]),  # the CLI apart from Debian 13 (trixie) on
    "ubuntu": (["docker.io"], ["docker-compose-v2"]),
}
# RHEL and its rebuilds ship podman, not docker: Docker's docker-ce repository.
DOCKER_CE_REPOS = {
    "rhel": "https://download.docker.com/linux/rhel/docker-ce.repo",
    "almalinux": "https://download.docker.com/linux/centos/docker-ce.repo",
    "rocky": "https://download.docker.com/linux/centos/docker-ce.repo",
    "centos": "https://download.docker.com/linux/centos/docker-ce.repo",
}
DOCKER_CE_PACKAGES = (["docker-ce", "docker-ce-cli", "containerd.io"], ["docker-compose-plugin"])
# An internal repository (harbor_docker_repo_url): its key and source, by family.
REPOSITORY_NAME = "harbor-docker"
APT_KEYRINGS = "/etc/apt/keyrings"
APT_SOURCE = f"/etc/apt/sources.list.d/{REPOSITORY_NAME}.list"
DNF_KEY = f"/etc/pki/rpm-gpg/RPM-GPG-KEY-{REPOSITORY_NAME}"
DNF_REPO = f"/etc/yum.repos.d/{REPOSITORY_NAME}.repo"
APT_INSTALL = ("DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "--no-install-recommends")


def packages_for(os_id, major, compose, repository=None):
    """The packages giving dockerd and the CLI (and compose v2 when ``compose``)."""
    if repository and repository["packages"]:
        return list(repository["packages"])
    if repository or os_id in DOCKER_CE_REPOS:
        engine, plugin = DOCKER_CE_PACKAGES
    else:
        engine, plugin = APT_PACKAGES[os_id]
        if os_id == "debian" and major < 13:
            if compose:
                raise OperationError(
                    f"Debian {major} ships only compose v1: set harbor_docker_repo_url to a repository of Docker "
                    "CE's packages (a mirror of download.docker.com), or use Debian 13 (trixie) or later"
                )
            engine = ["docker.io"]  # the CLI inside it before Debian 13
    return [*engine, *(plugin if compose else [])]


def _upload(content, dest):
    return FileUploadCommand(BytesIO(content), dest)  # public: a key and a source list


def apt_repository_commands(repository, codename):
    key = f"{APT_KEYRINGS}/{REPOSITORY_NAME}.{'asc' if repository['armored'] else 'gpg'}"
    suite = repository["suite"] or codename
    if not suite:
        raise OperationError("the host's OS release names no codename: set harbor_docker_repo_suite")
    line = f"deb [signed-by={key}] {repository['url']} {suite} {' '.join(repository['components'])}\n"
    return [
        StringCommand("install", "-d", "-m", "0755", APT_KEYRINGS),
        _upload(repository["key"], key),
        _upload(line.encode(), APT_SOURCE),
        StringCommand("chmod", "0644", key, APT_SOURCE),  # apt's unprivileged fetcher reads them
    ]


def dnf_repository_commands(repository):
    if not repository["armored"]:
        raise OperationError("harbor_docker_repo_key: rpm imports armored keys only (gpg --armor --export)")
    repo = (
        f"[{REPOSITORY_NAME}]\nname=Docker packages (harbor-deploy)\nbaseurl={repository['url']}\n"
        f"enabled=1\ngpgcheck=1\ngpgkey=file://{DNF_KEY}\n"
    )
    return [
        StringCommand("install", "-d", "-m", "0755", "/etc/pki/rpm-gpg"),
        _upload(repository["key"], DNF_KEY),
        _upload(repo.encode(), DNF_REPO),
        StringCommand("chmod", "0644", DNF_KEY, DNF_REPO),
    ]


def install_commands(overview, compose=True, repository=None):
    """The commands installing docker on this OS (``HostOverview``); OperationError when
    there is no way."""
    os_id, version = overview["os_id"], overview["os_version_id"]
    if os_id not in APT_PACKAGES and os_id not in DOCKER_CE_REPOS:
        raise OperationError(f"no docker install recipe for OS {os_id!r} {version or ''}".rstrip())
    major = int((version or "0").split(".")[0] or 0)
    packages = packages_for(os_id, major, compose, repository)
    if os_id in APT_PACKAGES:
        source = apt_repository_commands(repository, overview["os_codename"]) if repository else []
        return [*source, StringCommand("apt-get", "update", "-qq"), StringCommand(*APT_INSTALL, *packages)]
    source = (
        dnf_repository_commands(repository)
        if repository
        else [StringCommand("curl", "-fsSL", DOCKER_CE_REPOS[os_id], "-o", "/etc/yum.repos.d/docker-ce.repo")]
    )
    return [
        StringCommand("dnf", "-y", "remove", "podman-docker"),
        *source,
        StringCommand("dnf", "-y", "install", *packages),
    ]


@operation()
def installed(compose=True, repository=None, engine=None, overview=None, lock_holder=None):
    """
    Install docker when dockerd or its CLI (or, with ``compose``, the compose v2 plugin)
    is missing, then enable and start it: Debian and Ubuntu from distribution packages
    (Debian 13 or later for compose v2), RHEL, AlmaLinux, Rocky and CentOS from Docker's
    docker-ce repository; or every one of them from ``repository``.

    + compose: the compose v2 plugin too (Harbor's installer needs it); a Docker client
      needs dockerd and the CLI only, so distribution Docker without it is kept as it is
    + repository: an internal repository (``lib.plan.docker.docker_repository``):
      ``{url, key (bytes), armored, suite, components, packages}``; its key and source
      are placed (apt: ``/etc/apt/keyrings``, ``sources.list.d``; dnf: ``/etc/pki/rpm-gpg``,
      ``yum.repos.d``) and its packages installed (default Docker CE's)
    + engine: the ``DockerEngine`` fact, when the caller read it already; read here otherwise
    + overview: the ``HostOverview`` fact, likewise (needed only to install)
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder before
      changing anything

    **Example:**

    .. code:: python

        docker_engine.installed(name="Docker engine with compose v2")
    """
    engine = engine if engine is not None else host.get_fact(DockerEngine)
    missing = not engine["installed"] or not engine["cli"] or (compose and not engine["compose_version"])
    if not missing and engine["active"] and engine["enabled"]:
        with_compose = f" with compose {engine['compose_version']}" if engine["compose_version"] else ""
        host.noop(f"docker {engine['version']}{with_compose} is running")
        return
    if lock_holder:
        yield guarded(lock_holder, "true")
    if missing:
        overview = overview if overview is not None else host.get_fact(HostOverview)
        yield from install_commands(overview, compose, repository)
    yield StringCommand("systemctl", "enable", "--now", "docker.service")
