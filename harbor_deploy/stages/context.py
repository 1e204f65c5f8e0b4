"""What every stage reads about the run: a host's data, its controller paths taken
from the inventory file's folder (not the working directory), so the same secrets
and files are found from wherever pyinfra is started."""

from pathlib import Path

import click
from pyinfra import host as current_host

from harbor_deploy.defaults import with_controller_paths


def inventory_dir():
    """The folder of the inventory file given to pyinfra's CLI; the working directory
    when there is none (API use, or hosts given on the command line)."""
    context = click.get_current_context(silent=True)
    inventory = Path((context.params.get("inventory") if context else None) or "")
    return inventory.resolve().parent if inventory.is_file() else Path.cwd()


def host_data(host=None):
    """``host``'s (default: the current host's) data with controller paths resolved."""
    return with_controller_paths((host or current_host).data.dict(), inventory_dir())
