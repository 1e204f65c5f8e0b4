"""
Install distribution packages that are missing; a host that has them all is not touched.
"""

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.rpm import RpmPackages
from pyinfra.facts.server import Which

from harbor_deploy.operations.deploy_lock import guarded


@operation()
def installed(packages, lock_holder=None):
    """
    Install the distribution's ``packages`` that are missing, with apt (its lists
    refreshed first, only then) or dnf. Unlike ``apt.packages(update=True)``, a host
    that has every package is left alone: no list refresh counted as a change.

    + packages: package names, the same on apt and dnf distributions
    + lock_holder: take the host's deploy lock (``deploy_lock``) for this holder first

    **Example:**

    .. code:: python

        packages.installed(name="HAProxy", packages=["haproxy", "socat"])
    """
    apt = bool(host.get_fact(Which, command="apt-get"))
    have = host.get_fact(DebPackages if apt else RpmPackages)
    missing = [name for name in packages if name not in have]
    if not missing:
        host.noop(f"{', '.join(packages)} installed")
        return
    if apt:
        yield guarded(lock_holder, "apt-get", "update", "-qq")
        yield StringCommand(
            "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing
        )
    else:
        yield guarded(lock_holder, "dnf", "-y", "install", *missing)
