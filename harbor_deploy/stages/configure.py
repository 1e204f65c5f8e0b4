"""The configure deploy's stages: Harbor's settings converged through its REST API, and
the export of what a Harbor has as the same keys.

Everything runs on the controller against the server's URL (TLS verified with the
controller CA by default), once per Harbor instance: hosts of ``harbor_servers``
sharing one API URL (several nodes behind one name) are configured by the first.
Before its first change the run takes that host's deploy lock (one command there),
so that two runs never rotate the admin password or change a resource at once.
Order matters: sign-in before users, settings before what they govern, registries
before the proxy cache projects and replication policies that use them, users and
groups before memberships, projects before their robots, retention, immutable tag
rules and webhooks, the default scanner before the scan-all schedule.
"""

from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import DeployError, deploy

from harbor_deploy.lib.config.config_file import with_config_file
from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.config.secrets import SecretStore, secrets_dir
from harbor_deploy.lib.config.validate import ConfigError, validated
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.client import ApiError, HarborClient, default_url, default_verify
from harbor_deploy.lib.harbor_api.resources.robots import REFRESH_NOW
from harbor_deploy.operations import harbor_api
from harbor_deploy.operations.deploy_lock import Holder, lock_holder
from harbor_deploy.planning.context import config_of, host_data, refused_before_any_change


@dataclass(frozen=True)
class ConfigurePlan:
    config: dict
    access: resources.AdminAccess
    store: SecretStore
    # Takes this host's deploy lock before the first API write: two configure runs
    # (or a configure and a server run) never change one Harbor at once.
    lock_holder: Holder


def configures_here(group, overrides=None):
    """Whether this host configures its Harbor: the first host of ``group`` with its
    API URL (several nodes of one Harbor behind one name are configured once), or any
    host outside ``group``."""
    if group not in host.groups:
        return True
    url = default_url(config_of(overrides, checked=False))
    for other in inventory.get_group(group):
        if default_url(merged(host_data(other, overrides))) == url:
            return other.name == host.name
    return True


def api_access(config):
    """The secrets store and admin access of this host's Harbor, its API reached."""
    store = SecretStore(secrets_dir(config))
    anonymous = HarborClient(default_url(config), verify=default_verify(config))
    anonymous.ping()
    access = resources.AdminAccess(anonymous, store, rotate=config["harbor_admin_password_rotate"])
    return ConfigurePlan(config=config, access=access, store=store, lock_holder=lock_holder("harbor_configure"))


def plan(overrides=None):
    """Check this host's configure data (with its ``harbor_config_file`` under it) and
    what Harbor itself would refuse, before any change."""
    with refused_before_any_change():
        config = validated(with_config_file(host_data(overrides=overrides)))
    try:
        found = list(resources.problems(config))
        if found:
            raise ConfigError(found)
        configure = api_access(config)
        found = list(resources.harbor_problems(config, configure.access.client))
        if found:
            raise ConfigError(found)
    except (ConfigError, ApiError) as error:
        raise DeployError(f"{host.name}: {error}") from None
    return configure


def refresh_plan(overrides=None):
    """``plan`` for a run that replaces robots' secrets: ``harbor_robot_refresh`` must
    name them."""
    found = plan(overrides)
    if not found.config["harbor_robot_refresh"]:
        raise DeployError(
            f"{host.name}: harbor_robot_refresh: required: the robots whose secret this run replaces "
            "(<project>+<name>, or <name> at system level); nothing was changed"
        )
    return found


def export_plan(overrides=None):
    """Check this host's data for an export (``harbor_export_file`` set) and reach its API."""
    config = config_of(overrides)
    try:
        if not config["harbor_export_file"]:
            raise ConfigError([("harbor_export_file", "required: the controller path to write the export to")])
        return api_access(config)
    except (ConfigError, ApiError) as error:
        raise DeployError(f"{host.name}: {error}") from None


@deploy("Harbor admin password")
def admin_password(plan):
    harbor_api.admin_password(
        name="Rotate the admin password to the managed one", access=plan.access, lock_holder=plan.lock_holder
    )


@deploy("Harbor resources")
def harbor_resources(plan):
    for kind in resources.KINDS:
        entries = kind.entries(plan.config)
        if entries or not kind.single:  # a single setting left out of the data: left as it is
            harbor_api.converge(
                name=kind.title,
                access=plan.access,
                kind=kind,
                entries=entries,
                store=plan.store,
                lock_holder=plan.lock_holder,
            )


@deploy("Robot secrets")
def robot_secrets(plan):
    """The secrets of the robots ``harbor_robot_refresh`` names replaced, on the host
    that configures their Harbor (``plan``); on every other host (``plan`` None) the same
    operation with nothing to do, after which that host's next steps run."""
    kind = next(kind for kind in resources.KINDS if kind.key == "harbor_robots")
    entries = [raw for raw in kind.entries(plan.config) if raw.get(REFRESH_NOW)] if plan else []
    harbor_api.converge(
        name="Replace the secrets of the robots harbor_robot_refresh names",
        access=plan.access if plan else None,
        kind=kind,
        entries=entries,
        store=plan.store if plan else None,
        lock_holder=plan.lock_holder if plan else None,
    )


@deploy("Harbor export")
def export_file(plan):
    harbor_api.export(name="Export Harbor's configuration", access=plan.access, path=plan.config["harbor_export_file"])
