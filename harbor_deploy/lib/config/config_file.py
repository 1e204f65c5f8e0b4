"""Configure keys read from a YAML file (``harbor_config_file``), such as the one
``deploys/export.py`` writes: the file's keys come under the inventory's, which win.

The file may hold only the keys configure manages; it is read on the controller
before anything changes, and a file that can't be read or holds other keys is
refused, naming the file and the key.
"""

from pathlib import Path

import yaml

from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.harbor_api.resources import MANAGED_KEYS

KEY = "harbor_config_file"


def file_keys(path):
    """The keys of one config file; ``ConfigError`` when it can't be read or holds
    anything but configure's keys."""
    try:
        found = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError([(KEY, f"{path} can't be read as YAML: {error}")]) from None
    found = {} if found is None else found
    if not isinstance(found, dict):
        raise ConfigError([(KEY, f"{path} must hold a mapping of harbor_* keys")])
    others = sorted(key for key in found if key not in MANAGED_KEYS)
    if others:
        raise ConfigError(
            [(KEY, f"{path} holds {', '.join(map(str, others))}: it may hold only {', '.join(MANAGED_KEYS)}")]
        )
    return found


def with_config_file(data):
    """``data`` (a host's, controller paths resolved) over the keys of its config file."""
    path = data.get(KEY)
    if not path:
        return data
    return {**file_keys(path), **data}
