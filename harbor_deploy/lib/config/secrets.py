"""Controller-side secrets of a Harbor instance, never printed.

Each secret comes from, in order: its environment variable, else its file in the
controller secrets dir of the Harbor hostname (``<harbor_secrets_dir>/<hostname>/``,
dir 0700, files 0600, gitignored). A secret Harbor owns that the controller lacks is
recovered from the installed Harbor (its harbor.yml) or, on a host without any
Harbor data, generated. Nothing is written while a deploy is planned: ``load_secrets``
lists what the controller must keep, and the server deploy's first operation writes
it (so ``--dry`` writes nothing). Values are wrapped in ``Secret``, whose repr/str
show ``*****``; ``.reveal()`` returns the value.
"""

import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets as token_source
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MASK = "*****"
logger = logging.getLogger(__name__)


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

    __hash__ = None  # type: ignore[assignment]  # equal by value, so not hashable

    # Immutable: copies (e.g. of data holding one) are the object itself.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError("a Secret is not serialisable")


class RereadableSecret(Secret):
    """A secret as planning read it, which can be read again: a later step of the same
    run may replace it (a robot's secret configure refreshes before the clients log in)."""

    __slots__ = ("_read",)

    def __init__(self, read):
        first = read()
        super().__init__(first.reveal(), first.source)
        self._read = read

    def latest(self):
        """The secret as its source holds it now."""
        return self._read()


@dataclass(frozen=True)
class SecretSpec:
    name: str
    env_var: str
    generate: bool
    meaning: str


SPECS = (
    SecretSpec(
        "admin_password", "HARBOR_ADMIN_PASSWORD", True, "password of Harbor's admin user (seeds the first start only)"
    ),
    SecretSpec(
        "db_password",
        "HARBOR_DB_PASSWORD",
        True,
        "password of Harbor's bundled PostgreSQL (seeds the first initdb only)",
    ),
    SecretSpec(
        "external_db_password",
        "HARBOR_EXTERNAL_DB_PASSWORD",
        False,
        "password of harbor_external_database when not in the inventory",
    ),
    SecretSpec(
        "external_redis_password",
        "HARBOR_EXTERNAL_REDIS_PASSWORD",
        False,
        "password of harbor_external_redis when not in the inventory",
    ),
)
SPECS_BY_NAME = {spec.name: spec for spec in SPECS}

# Harbor's own rule for passwords set through its API: 8-128 characters with a
# lowercase letter, an uppercase letter and a digit.
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


def meets_harbor_password_rule(value):
    return (
        PASSWORD_MIN_LENGTH <= len(value) <= PASSWORD_MAX_LENGTH
        and any(c in string.ascii_lowercase for c in value)
        and any(c in string.ascii_uppercase for c in value)
        and any(c in string.digits for c in value)
    )


def generate_password():
    """32 characters from ``[A-Za-z0-9_-]`` (safe in env files, YAML, URLs and shells)
    meeting Harbor's password rule."""
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


def write_private_files_as_read(directory, files, as_read):
    """Write ``files`` ({name: bytes, or None to remove it}) into ``directory`` (see
    ``write_private_file``) only while each is as this run read it: ``as_read`` holds the bytes of those that
    existed ({name: bytes}), every other one was absent; a file already holding what
    would be written is fine. Runs of this controller take turns (an flock on the
    empty file ``.<directory name>.lock`` beside it: a regular file, as gevent, which
    pyinfra runs on, defers closing any other kind). Returns the names that changed
    meanwhile, and then writes nothing."""
    directory = ensure_private_dir(directory)
    lock_path = directory.parent / f".{directory.name}.lock"
    with open(os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = {name: (directory / name).read_bytes() if (directory / name).is_file() else None for name in files}
        changed = sorted(name for name, data in files.items() if found[name] not in (as_read.get(name), data))
        if not changed:
            for name, data in files.items():
                if data is None:
                    (directory / name).unlink(missing_ok=True)
                else:
                    write_private_file(directory / name, data)
        return changed


# Files of the secrets dir that deploys/configure.py keeps, by what they hold.
INITIAL_ADMIN_PASSWORD = "admin_password"  # harbor.yml's seed (a SPECS entry)
MANAGED_ADMIN_PASSWORD = "admin_password_managed"
MANAGED_ADMIN_PASSWORD_ENV = "HARBOR_ADMIN_MANAGED_PASSWORD"
# Harbor's default robot_name_prefix: a robot's login is <prefix><stored name>.
ROBOT_PREFIX = "robot$"


def robot_secret_name(stored_name):
    """The secret of a robot Harbor stores as ``<project>+<name>`` (or ``<name>``)."""
    return f"robots/{stored_name}"


def user_secret_name(username):
    return f"users/{username}"


def registry_secret_name(name):
    return f"registries/{name}"


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
        """The secret ``name`` of ``SPECS`` from its env var or file; None when neither has it."""
        return self.read(name, SPECS_BY_NAME[name].env_var)

    def read(self, name, env_var=None):
        """A secret from ``env_var`` when it is set, else from the file ``name`` (e.g.
        ``robots/ci+push``); None when neither has it."""
        if env_var and env_var in self.env:
            return Secret(self.env[env_var], f"env {env_var}")
        path = self.path(name)
        if path.is_file():
            if path.stat().st_mode & 0o077:
                logger.warning("%s is readable by others: chmod 600 it (and 700 its directory)", path)
            return Secret(path.read_text().rstrip("\r\n"), f"file {path}")
        return None

    def store(self, name, value):
        """Keep ``value`` (str, bytes or Secret) as the file ``name``, 0600, atomically."""
        if isinstance(value, Secret):
            value = value.reveal()
        write_private_file(self.path(name), value if isinstance(value, bytes) else value.encode())

    # Harbor never returns a secret it holds (a registry's access secret, the LDAP bind
    # password, the OIDC client secret): what the controller last sent it is known by a
    # salted fingerprint beside the secret's file (``<name>.sent``, 0600), so a rotated
    # secret is sent again and an unchanged one is not, and no value is kept twice.

    def sent(self, name, secret):
        """Whether ``secret`` is the value last sent to Harbor for the secret ``name``."""
        path = self.path(name + SENT_SUFFIX)
        if not path.is_file():
            return False
        salt, _, digest = path.read_text().strip().partition(":")
        return hmac.compare_digest(_fingerprint(salt, secret.reveal()), digest)

    def remember_sent(self, name, secret):
        """Note that ``secret`` was sent to Harbor as the secret ``name``."""
        salt = token_source.token_hex(16)
        write_private_file(self.path(name + SENT_SUFFIX), f"{salt}:{_fingerprint(salt, secret.reveal())}\n".encode())


SENT_SUFFIX = ".sent"


def _fingerprint(salt, value):
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


def admin_passwords(store, rotate=True):
    """The passwords that may open one Harbor's admin account, the current one first:
    the managed one ``deploys/configure.py`` rotates to (when rotation is on), then
    harbor.yml's seed, which Harbor takes at its first start only; those the
    controller has (a ``SecretStore``)."""
    found = [store.read(MANAGED_ADMIN_PASSWORD, MANAGED_ADMIN_PASSWORD_ENV)] if rotate else []
    found.append(store.get(INITIAL_ADMIN_PASSWORD))
    return [password for password in found if password is not None]


def current_admin_password(store):
    """The admin password Harbor holds as far as the controller knows: the managed one
    once configure rotated to it, else the seed; None when it has neither."""
    return next(iter(admin_passwords(store)), None)


class SecretsError(Exception):
    """Secrets an installed Harbor depends on that cannot be had; ``problems`` as ``(name, why)``."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(f"  {name}: {why}" for name, why in self.problems))


@dataclass(frozen=True)
class ServerSecrets:
    """What an installed Harbor keeps of its secrets on the server (read without printing):
    the values of its harbor.yml (None: no harbor.yml), where that file is, and whether
    its database directory was initialised (then the database password is fixed)."""

    harbor_yml: dict | None = None
    harbor_yml_path: str = ""
    database_initialised: bool = False


@dataclass(frozen=True)
class HarborSecrets:
    """The secrets harbor.yml needs; external ones are None when not configured anywhere.

    ``to_keep`` holds what the controller must store (generated here, or recovered from
    the server) as ``{name: (Secret, why)}``: written by an operation, never at planning."""

    admin_password: Secret
    db_password: Secret
    external_db_password: Secret | None = None
    external_redis_password: Secret | None = None
    to_keep: dict = field(default_factory=dict)
    # Secrets data refers to by name ({"secret": name}); missing ones are left out.
    referenced: dict = field(default_factory=dict)

    def recovered(self, name):
        return self.to_keep.get(name, (None, ""))[1] == "recovered from the server"


# A secret named in inventory data instead of its value, e.g. a storage driver's key:
# {"secret": "s3_secretkey"}, read from env HARBOR_SECRET_S3_SECRETKEY or the file
# s3_secretkey of the secrets dir.
REFERENCE_NAME_RE = re.compile(r"^[a-z0-9_]{1,64}$")
REFERENCE_KEYS = ("harbor_storage_service", "harbor_proxy", "harbor_trace")


def reference_name(value):
    """The secret name of a reference ``{"secret": name}``, else None."""
    if isinstance(value, dict) and set(value) == {"secret"} and isinstance(value["secret"], str):
        return value["secret"]
    return None


def reference_env_var(name):
    return f"HARBOR_SECRET_{name.upper()}"


def references(value):
    """Every secret name referenced anywhere in ``value``."""
    name = reference_name(value)
    if name is not None:
        return [name]
    if isinstance(value, dict):
        return [found for item in value.values() for found in references(item)]
    if isinstance(value, list):
        return [found for item in value for found in references(item)]
    return []


def resolved(value, secrets):
    """``value`` with each reference replaced by its secret's value (``secrets``: name -> Secret)."""
    name = reference_name(value)
    if name is not None:
        return secrets[name].reveal()
    if isinstance(value, dict):
        return {key: resolved(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item, secrets) for item in value]
    return value


def _recovery_hint(spec, directory):
    return f"set {spec.env_var} or put it in {directory / spec.name} (one line, mode 0600)"


def load_secrets(config, env=None, server=None):
    """Resolve every secret of the Harbor instance of ``config`` (merged data).

    ``server`` is what an installed Harbor keeps (``ServerSecrets``), read only when the
    controller lacks a secret or to compare. A Harbor-owned secret the controller lacks
    is taken from the server's harbor.yml; when Harbor's database exists but its
    harbor.yml is gone, the database password cannot be had: ``SecretsError`` says how
    to provide it. A database password that differs from the installed one is refused
    (Harbor takes it only at the first initdb). Otherwise a missing one is generated.
    """
    directory = secrets_dir(config)
    store = SecretStore(directory, env)
    server = server or ServerSecrets()
    on_server = server.harbor_yml or {}
    external_database = bool(config.get("harbor_external_database"))
    values, to_keep, problems = {}, {}, []
    for spec in SPECS:
        value = store.get(spec.name)
        installed = on_server.get(spec.name)
        if value is not None:
            if (
                spec.name == "db_password"
                and installed is not None
                and not external_database
                and value.reveal() != installed
            ):
                problems.append(
                    (
                        spec.name,
                        (
                            f"{value.source} differs from the password the installed Harbor's database was "
                            f"created with ({server.harbor_yml_path}). Harbor takes database.password only at "
                            "the first initdb: change the password in PostgreSQL first (ALTER USER postgres), "
                            f"then here; or restore the old value. Nothing was changed."
                        ),
                    )
                )
        elif spec.generate and installed is not None:
            value = Secret(installed, f"recovered from {server.harbor_yml_path} on the server")
            to_keep[spec.name] = (value, "recovered from the server")
        elif spec.name == "db_password" and server.database_initialised and not external_database:
            problems.append(
                (
                    spec.name,
                    (
                        "Harbor's database on the server was created with a password the controller no longer "
                        f"has, and the server has no harbor.yml to recover it from: {_recovery_hint(spec, directory)}"
                    ),
                )
            )
        elif spec.generate:
            value = Secret(generate_password(), f"file {store.path(spec.name)} (generated)")
            to_keep[spec.name] = (value, "generated")
        values[spec.name] = value
    if problems:
        raise SecretsError(problems)
    referenced = {}
    for name in sorted({found for key in REFERENCE_KEYS for found in references(config.get(key))}):
        if reference_env_var(name) in store.env:
            referenced[name] = Secret(store.env[reference_env_var(name)], f"env {reference_env_var(name)}")
        elif store.path(name).is_file():
            referenced[name] = Secret(store.path(name).read_text().rstrip("\r\n"), f"file {store.path(name)}")
    return HarborSecrets(**values, to_keep=to_keep, referenced=referenced)
