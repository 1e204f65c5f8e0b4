"""What every stage reads about the run: a host's data, its controller paths taken
from the inventory file's folder (not the working directory), so the same secrets
and files are found from wherever pyinfra is started; and the one way a stage turns
it into its configuration, refusing bad data before any host changes."""

import functools
import sys
from contextlib import contextmanager
from pathlib import Path

import click
from pyinfra import host as current_host
from pyinfra import inventory
from pyinfra.api import DeployError

from harbor_deploy.lib.config.defaults import merged, with_controller_paths
from harbor_deploy.lib.config.secrets import SecretsError
from harbor_deploy.lib.config.validate import ConfigError, validated
from harbor_deploy.lib.plan.installer import InstallerError
from harbor_deploy.lib.render.tls import TlsError

# What planning raises about data, secrets, TLS material or the installer that a
# run can't go on with: each names the key or file and why.
PLANNING_ERRORS = (ConfigError, SecretsError, TlsError, InstallerError)


@functools.cache
def cli_arguments():
    """pyinfra's command line as its own CLI parses it ({} outside the CLI). Deploy code
    runs in per-host greenlets, where click's current context is not set."""
    command = getattr(sys.modules.get("pyinfra_cli.cli"), "cli", None)
    if command is None:
        return {}
    try:
        return command.make_context("pyinfra", sys.argv[1:], resilient_parsing=True).params
    except click.ClickException:
        return {}


def inventory_dir():
    """The folder of the inventory file given to pyinfra's CLI; the working directory
    when there is none (API use, or hosts given on the command line)."""
    inventory = Path(cli_arguments().get("inventory") or "")
    return inventory.resolve().parent if inventory.is_file() else Path.cwd()


def host_data(host=None, overrides=None):
    """``host``'s (default: the current host's) data, ``overrides`` (keyword arguments
    of a packaged deploy) winning, with controller paths resolved."""
    data = {**(host or current_host).data.dict(), **(overrides or {})}
    return with_controller_paths(data, inventory_dir())


@contextmanager
def refused_before_any_change():
    """Planning errors raised inside, as a ``DeployError`` naming this host: pyinfra
    stops the run before any host changes, listing them."""
    try:
        yield
    except TlsError as error:
        raise DeployError(f"{current_host.name}: harbor TLS: {error}") from None
    except PLANNING_ERRORS as error:
        raise DeployError(f"{current_host.name}: {error}") from None


def config_of(overrides=None, secrets=None, checked=True):
    """This host's configuration: its data with ``overrides`` (a packaged deploy's
    keyword arguments) winning and every default filled in, validated (with
    ``secrets``, when resolved); a ``DeployError`` naming the host and every bad key
    otherwise. ``checked=False`` for what only reads (status, logs): defaults, no
    validation."""
    data = host_data(overrides=overrides)
    if not checked:
        return merged(data)
    with refused_before_any_change():
        return validated(data, secrets)


def one_named_host(group, action):
    """Stop ``action`` (one that replaces Harbor's data) when this run reaches more
    than one host of ``group``: it acts on one named host (``--limit``)."""
    chosen = [other.name for other in inventory.get_group(group, []) if current_host.state.is_host_in_limit(other)]
    if len(chosen) > 1:
        raise DeployError(
            f"{current_host.name}: {action} acts on one named host, and this run reaches {', '.join(chosen)}: "
            "name it with --limit; nothing was changed"
        )
