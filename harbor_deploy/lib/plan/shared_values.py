"""The values Harbor's ``prepare`` draws afresh on every run, shared by every node of
one Harbor.

prepare (v2.13.1, make/photon/prepare/utils/configs.py and utils/core.py) draws
``JOBSERVICE_SECRET`` and ``CORE_SECRET`` (16 characters), ``CSRF_KEY`` (32) and
``ROBOT_SCANNER_NAME_PREFIX`` (8) from letters and digits each time it runs, and writes
them into the env files of core, jobservice and registryctl (templates/*/env.jinja).
Nodes of one Harbor need the same: a core accepts only its own ``JOBSERVICE_SECRET``
(lib/config/systemconfig.go), which a job queued by another node's core carries
(pkg/reg/manager.go, the "Local" registry), and a UI session's CSRF token is checked
with ``CSRF_KEY`` (server/middleware/csrf). They are generated once on the
controller, placed on every node (``KEEP_NAME``, ``KEY=value`` lines) and written into
the env files after each prepare, before the containers start (harbor.service).
"""

import hashlib
import re
import secrets
import string

# Controller name of the file (in the secrets dir), as its copy on a node is named too.
KEEP_NAME = "shared-values.env"
# Each value and its length, as prepare draws it.
LENGTHS = {"JOBSERVICE_SECRET": 16, "CORE_SECRET": 16, "CSRF_KEY": 32, "ROBOT_SCANNER_NAME_PREFIX": 8}
# The env files prepare writes them into (under <install_dir>/common/config), and which.
ENV_FILES = {
    "core/env": tuple(LENGTHS),
    "jobservice/env": ("CORE_SECRET", "JOBSERVICE_SECRET"),
    "registryctl/env": ("CORE_SECRET", "JOBSERVICE_SECRET"),
}
VALUE_RE = re.compile(r"[A-Za-z0-9]+")


def generate():
    """New values, as prepare draws them: the file's bytes."""
    alphabet = string.ascii_letters + string.digits
    return render({key: "".join(secrets.choice(alphabet) for _ in range(length)) for key, length in LENGTHS.items()})


def render(values):
    return "".join(f"{key}={values[key]}\n" for key in LENGTHS).encode()


def parse(data):
    """{key: value} of the file's bytes (``KEY=value`` lines)."""
    found = {}
    for line in data.decode(errors="replace").splitlines():
        key, equals, value = line.partition("=")
        if equals:
            found[key.strip()] = value.strip()
    return found


def problems(data):
    """Why the file's bytes can't serve: a value missing, of another length, or of other
    characters than prepare's (letters and digits, which every env file reader keeps as
    they are)."""
    values = parse(data)
    found = []
    for key, length in LENGTHS.items():
        value = values.get(key)
        if value is None:
            found.append(f"{key} is missing")
        elif len(value) != length or not VALUE_RE.fullmatch(value):
            found.append(f"{key} must be {length} letters or digits, as Harbor's prepare draws it")
    return found


def digest(value):
    """What a report shows of a value: a short sha256, never the value."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def digests(values):
    """{key: digest} of {key: value}."""
    return {key: digest(value) for key, value in values.items()}


def differences(wanted, found):
    """The env files and keys whose digests in ``found`` ({env file: {key: digest}}, as a
    node holds them) differ from ``wanted`` ({key: digest}): ``["core/env CSRF_KEY", ...]``."""
    return [
        f"{name} {key}"
        for name, keys in ENV_FILES.items()
        if name in found
        for key in keys
        if found[name].get(key) != wanted[key]
    ]
