"""What every stage reads about the run: a host's data, its controller paths taken
from the inventory file's folder (not the working directory), so the same secrets
and files are found from wherever pyinfra is started."""

import functools
import sys
from pathlib import Path

import click
from pyinfra import host as current_host

from harbor_deploy.lib.defaults import with_controller_paths


@functools.cache
def _cli_arguments():
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
    inventory = Path(_cli_arguments().get("inventory") or "")
    return inventory.resolve().parent if inventory.is_file() else Path.cwd()


def host_data(host=None, overrides=None):
    """``host``'s (default: the current host's) data, ``overrides`` (keyword arguments
    of a packaged deploy) winning, with controller paths resolved."""
    data = {**(host or current_host).data.dict(), **(overrides or {})}
    return with_controller_paths(data, inventory_dir())
