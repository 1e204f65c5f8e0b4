"""Controller-side secrets of a Harbor instance, never printed.

Each secret comes from, in order: its environment variable, else its file in the
controller secrets dir of the Harbor hostname (``<harbor_secrets_dir>/<hostname>/``,
dir 0700, files 0600, gitignored), else - for secrets Harbor owns - a strong value
generated once and stored there. Values are wrapped in ``Secret``, whose repr/str
show ``*****``; ``.reveal()`` returns the value.
"""

import hmac
import os
import secrets as token_source
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

MASK = "*****"


class Secret:
    """A secret value that does not show itself when printed, logged or formatted."""

    __slots__ = ("_value", "source")

    def __init__(self, value, source):
        self._value = value
        # Where the value came from ("env HARBOR_ADMIN_PASSWORD", "file ...", "file ... (generated)"),
        # so errors can point at it without showing it.
        self.source = source

    def reveal(self):
        return self._value

    def __repr__(self):
        return f"Secret({MASK}, source={self.source!r})"

    def __str__(self):
        return MASK

    def __format__(self, spec):
        return MASK

    def __eq__(self, other):
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None

    # Immutable: copies (e.g. of data holding one) are the object itself.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError("a Secret is not serialisable")


@dataclass(frozen=True)
class SecretSpec:
    name: str
    env_var: str
    generate: bool
    meaning: str


SPECS = (
    SecretSpec("admin_password", "HARBOR_ADMIN_PASSWORD", True,
               "password of Harbor's admin user (seeds the first start only)"),
    SecretSpec("db_password", "HARBOR_DB_PASSWORD", True,
               "password of Harbor's bundled PostgreSQL (seeds the first initdb only)"),
    SecretSpec("external_db_password", "HARBOR_EXTERNAL_DB_PASSWORD", False,
               "password of harbor_external_database when not in the inventory"),
    SecretSpec("external_redis_password", "HARBOR_EXTERNAL_REDIS_PASSWORD", False,
               "password of harbor_external_redis when not in the inventory"),
)
SPECS_BY_NAME = {spec.name: spec for spec in SPECS}

# Harbor's own rule for passwords set through its API: 8-128 characters with a
# lowercase letter, an uppercase letter and a digit.
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


def meets_harbor_password_rule(value):
    return (PASSWORD_MIN_LENGTH <= len(value) <= PASSWORD_MAX_LENGTH
            and any(c in string.ascii_lowercase for c in value)
            and any(c in string.ascii_uppercase for c in value)
            and any(c in string.digits for c in value))


def generate_password():
    """32 URL-safe characters (no quoting trouble anywhere) meeting Harbor's password rule."""
    while True:
        value = token_source.token_urlsafe(24)
        if meets_harbor_password_rule(value):
            return value


def ensure_private_dir(path):
    """Create ``path`` (and parents) and make it 0700."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private_file(path, data):
    """Atomically replace ``path`` with ``data`` (bytes), mode 0600 from the start."""
    path = Path(path)
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def secrets_dir(config):
    """The controller secrets dir of one Harbor instance: ``<harbor_secrets_dir>/<hostname>``."""
    return Path(config["harbor_secrets_dir"]) / config["harbor_hostname"]


class SecretStore:
    """Secrets of one Harbor instance: environment first, then files in ``directory``."""

    def __init__(self, directory, env=None):
        self.directory = Path(directory)
        self.env = os.environ if env is None else env

    def path(self, name):
        return self.directory / name

    def get(self, name):
        """The secret ``name`` (see ``SPECS``), generated and stored when Harbor owns it; else None."""
        spec = SPECS_BY_NAME[name]
        if spec.env_var in self.env:
            return Secret(self.env[spec.env_var], f"env {spec.env_var}")
        path = self.path(name)
        if path.exists():
            ensure_private_dir(self.directory)
            path.chmod(0o600)
            return Secret(path.read_text().rstrip("\r\n"), f"file {path}")
        if spec.generate:
            self.store(name, generate_password())
            return Secret(path.read_text(), f"file {path} (generated)")
        return None

    def store(self, name, value):
        """Keep ``value`` (str or Secret) as the secret ``name``, e.g. after changing it on Harbor."""
        if isinstance(value, Secret):
            value = value.reveal()
        write_private_file(self.path(name), value.encode())


@dataclass(frozen=True)
class HarborSecrets:
    """The secrets harbor.yml needs; external ones are None when not configured anywhere."""

    admin_password: Secret
    db_password: Secret
    external_db_password: Secret | None = None
    external_redis_password: Secret | None = None


def load_secrets(config, env=None):
    """Resolve every secret of the Harbor instance of ``config`` (merged data)."""
    store = SecretStore(secrets_dir(config), env)
    return HarborSecrets(**{spec.name: store.get(spec.name) for spec in SPECS})
