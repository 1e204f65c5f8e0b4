from pyinfra.api import FactBase

from harbor_deploy.facts.docker import DockerEngine
from harbor_deploy.facts.files import FileStates, PrivateFiles
from harbor_deploy.facts.firewalld import FirewalldState
from harbor_deploy.facts.harbor import (
    HarborHealth,
    HarborInstallation,
    HarborReleases,
    UnfinishedOperation,
    UpgradeUnit,
)
from harbor_deploy.facts.host import FreeSpace, HostOverview, ServerResources
from harbor_deploy.facts.output import processed_sections, sections_command
from harbor_deploy.facts.trivy import TrivyDatabases

# First: it waits for an upgrade an earlier run left running, so the others read
# the host as that upgrade left it.
SECTIONS = {
    "upgrade": UpgradeUnit(),
    "unfinished": UnfinishedOperation(),
    "private": PrivateFiles(),
    "resources": ServerResources(),
    "overview": HostOverview(),
    "engine": DockerEngine(),
    "installation": HarborInstallation(),
    "health": HarborHealth(),
    "firewall": FirewalldState(),
    "files": FileStates(),
    "space": FreeSpace(),
    "trivy": TrivyDatabases(),
}
INSTALLER_SECTIONS = {"releases": HarborReleases(), "files": SECTIONS["files"], "space": SECTIONS["space"]}


class ServerState(FactBase[dict]):
    """
    Returns everything the server deploy decides from, in one round trip: each
    section is the fact of that name read by its own command, in order. The first,
    ``upgrade``, waits (bounded) for an upgrade an earlier run left running
    (``UpgradeUnit``), so the others see the host as it ended. ``private`` holds
    secrets (harbor.yml, the TLS key): read this fact through
    ``facts.quiet.quiet_fact``.

    + install_dir, data_volume: Harbor's install dir and data volume
    + url: where Harbor answers on the host (for ``/api/v2.0/health``)
    + private_paths: files read whole (``PrivateFiles``)
    + managed_paths: files and globs whose state the deploy converges (``FileStates``)
    + space_paths: where the deploy writes large files (``FreeSpace``)

    .. code:: python

        {
            "upgrade": {...},       # UpgradeUnit
            "unfinished": None,     # UnfinishedOperation
            "private": {"files": {...}, "nonempty": ["/data/database"]},  # PrivateFiles
            "resources": {...},     # ServerResources
            "overview": {...},      # HostOverview
            "engine": {...},        # DockerEngine
            "installation": {...},  # HarborInstallation
            "health": {...},        # HarborHealth
            "firewall": {...},      # FirewalldState
            "files": {...},         # FileStates
            "space": {...},         # FreeSpace
            "trivy": {...},         # TrivyDatabases
        }
    """

    def command(self, install_dir, data_volume, url, private_paths, managed_paths, space_paths=()):
        return sections_command(
            {
                "upgrade": SECTIONS["upgrade"].command(),
                "unfinished": SECTIONS["unfinished"].command(),
                "private": SECTIONS["private"].command(private_paths, (f"{data_volume.rstrip('/')}/database",)),
                "resources": SECTIONS["resources"].command(data_volume),
                "overview": SECTIONS["overview"].command(),
                "engine": SECTIONS["engine"].command(),
                "installation": SECTIONS["installation"].command(install_dir),
                "health": SECTIONS["health"].command(url),
                "firewall": SECTIONS["firewall"].command(),
                "files": SECTIONS["files"].command(managed_paths),
                "space": SECTIONS["space"].command(space_paths),
                "trivy": SECTIONS["trivy"].command(data_volume),
            }
        )

    def process(self, output):
        return processed_sections(output, SECTIONS)


class InstallerState(FactBase[dict]):
    """
    Returns what ``harbor.installer_bundle`` decides from, in one round trip, from
    files alone (the server deploy reads the same within ``ServerState``).

    + install_dir: the symlink naming the release in use
    + cache_dir: where bundles are kept
    + release_parent: the directory a release unpacks into

    .. code:: python

        {
            "releases": {...},  # HarborReleases of install_dir
            "files": {...},     # FileStates of <cache_dir>/* and install_dir
            "space": {...},     # FreeSpace of cache_dir and release_parent
        }
    """

    def command(self, install_dir, cache_dir, release_parent):
        return sections_command(
            {
                "releases": INSTALLER_SECTIONS["releases"].command(install_dir),
                "files": INSTALLER_SECTIONS["files"].command((f"{cache_dir}/*", install_dir)),
                "space": INSTALLER_SECTIONS["space"].command((cache_dir, release_parent)),
            }
        )

    def process(self, output):
        return processed_sections(output, INSTALLER_SECTIONS)
