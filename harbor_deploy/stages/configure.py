"""The configure deploy's stages: Harbor's settings converged through its REST API.

Everything runs on the controller against the server's URL (TLS verified with the
controller CA by default), once per Harbor instance: hosts of ``harbor_servers``
sharing one API URL (several nodes behind one name) are configured by the first.
Before its first change the run takes that host's deploy lock (one command there),
so that two runs never rotate the admin password or change a resource at once.
Order matters: registries before the proxy cache projects that use them, users
before memberships, projects before their robots and retention.
"""

from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import DeployError, deploy

from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.config.secrets import SecretStore, secrets_dir
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.client import ApiError, HarborClient, default_url, default_verify
from harbor_deploy.operations import harbor_api
from harbor_deploy.operations.deploy_lock import Holder, lock_holder
from harbor_deploy.planning.context import config_of, host_data


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


def plan(overrides=None):
    """Check this host's configure data and reach its Harbor's API, before any change."""
    config = config_of(overrides)
    try:
        found = list(resources.problems(config))
        if found:
            raise ConfigError(found)
        store = SecretStore(secrets_dir(config))
        anonymous = HarborClient(default_url(config), verify=default_verify(config))
        anonymous.ping()
    except (ConfigError, ApiError) as error:
        raise DeployError(f"{host.name}: {error}") from None
    access = resources.AdminAccess(anonymous, store, rotate=config["harbor_admin_password_rotate"])
    return ConfigurePlan(config=config, access=access, store=store, lock_holder=lock_holder("harbor_configure"))


@deploy("Harbor admin password")
def admin_password(plan):
    harbor_api.admin_password(
        name="Rotate the admin password to the managed one", access=plan.access, lock_holder=plan.lock_holder
    )


@deploy("Harbor resources")
def harbor_resources(plan):
    for kind in resources.KINDS:
        entries = kind.entries(plan.config)
        if entries or kind.key != "harbor_gc_schedule":  # no GC schedule in the data: left as it is
            harbor_api.converge(
                name=kind.title,
                access=plan.access,
                kind=kind,
                entries=entries,
                store=plan.store,
                lock_holder=plan.lock_holder,
            )
