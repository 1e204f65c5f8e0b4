"""What the property tests of inventory data share: the deploy's planning run as pyinfra
calls it, the stand-in prepare on its output, and how Harbor's programs read what
prepare wrote (docker compose's env files, Go's URL parser, nginx, libpq)."""

import os
import re
import urllib.parse
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import gevent
import psycopg2.extensions
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harbor_deploy.lib.config.defaults import DEFAULT_VERSION, SERVER_TLS_CERTIFICATE, SERVER_TLS_PRIVATE_KEY
from harbor_deploy.lib.config.secrets import SPECS_BY_NAME, reference_env_var
from harbor_deploy.planning import server as server_planning
from lab.standin.tests.support import load_runtime

prepare = load_runtime("prepare")
core_settings = load_runtime("harbor_core.settings")

# --- how Harbor's programs read what prepare wrote -----------------------------------

# Go's unicode.IsSpace, and the blanks compose's dotenv parser skips before a value.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
GO_SPACE += "\u2028\u2029\u202f\u205f\u3000"
DOTENV_LEADING_BLANKS = "\t\v\f\r \x85\xa0"


class Changed:
    """A value a reader does not pass on as written (what it makes of it depends on more
    than the file); equal to nothing, so an assertion on it fails showing why."""

    def __init__(self, why):
        self.why = why

    def __repr__(self):
        return f"<changed: {self.why}>"


def compose_env_file(text):
    """An env file as docker compose reads it (compose-go's dotenv parser): ``KEY=value``
    per line; blanks before the value and at its end are trimmed, `` #`` starts a comment,
    a leading quote makes a quoted value (its quotes go) and every ``$`` is interpolated
    (``$$`` too)."""
    values, rest = {}, text
    while True:
        rest = rest.lstrip(GO_SPACE)
        if not rest:
            return values
        if rest.startswith("#"):
            rest = rest.partition("\n")[2]
            continue
        key, separator, rest = rest.partition("=")
        assert separator and "\n" not in key, f"prepare wrote a line without '=': {key!r}"
        rest = rest.lstrip(DOTENV_LEADING_BLANKS)
        value, _, rest = rest.partition("\n")
        if value[:1] in ("'", '"'):
            values[key.strip()] = Changed("quoted")
            continue
        value = value.partition(" #")[0].rstrip(GO_SPACE)
        values[key.strip()] = Changed("interpolated") if "$" in value else value


def process_env(path):
    """What a container's process gets from an env file: execve takes no NUL."""
    values = compose_env_file(path.read_text())
    return {key: Changed("NUL") if "\x00" in str(value) else value for key, value in values.items()}


def nginx_tokens(line):
    """One line of nginx.conf as nginx's tokenizer splits it (unquoted tokens end at a
    blank, ``;``, ``{`` or ``}``; quotes and ``\\`` escape; ``#`` starts a comment)."""
    tokens, current, quote, index = [], None, None, 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and index + 1 < len(line):
                index += 1
                current += line[index]
            elif char == quote:
                tokens.append(current)
                current, quote = None, None
            else:
                current += char
        elif char in " \t\r\n":
            if current is not None:
                tokens.append(current)
                current = None
        elif char in ";{}":
            if current is not None:
                tokens.append(current)
                current = None
            tokens.append(char)
        elif current is None and char == "#":
            break
        elif current is None and char in "'\"":
            current, quote = "", char
        elif char == "\\" and index + 1 < len(line):
            index += 1
            current = (current or "") + line[index]
        else:
            current = (current or "") + char
        index += 1
    if current is not None:
        tokens.append(current)
    return tokens


def redis_url_parts(url):
    """(password, host) of a redis:// URL the way Go's url.Parse splits it."""
    netloc = urllib.parse.urlsplit(url).netloc
    userinfo, _, host = netloc.rpartition("@")
    return urllib.parse.unquote(userinfo.partition(":")[2]), host


def same(read, written):
    """Equal and of the same types all the way down (in Python 10.0 == 10 and True == 1,
    in Harbor's Go programs they are not)."""
    return yaml.safe_dump(read) == yaml.safe_dump(written)


def connection_settings(core_env):
    """What libpq (as pgx) reads of the connection string the stand-in core builds, like
    Harbor's, from core's env file: its keyword/value settings, or ``Changed``."""
    values = {key: value for key, value in core_env.items() if key.startswith("POSTGRESQL_") and isinstance(value, str)}
    try:
        return psycopg2.extensions.parse_dsn(core_settings.DatabaseSettings.from_env(values).connection_string)
    except psycopg2.ProgrammingError:
        return Changed("the connection string does not parse")


# --- the run ---------------------------------------------------------------------------


def keep_secrets(directory, hostname, sources):
    """The example's secrets as the controller has them: the env vars returned, the
    files written in ``directory`` (when the hostname can name a directory)."""
    env = {}
    for name, source in sources.items():
        if source is None:
            continue
        how, value = source
        env_var = SPECS_BY_NAME[name].env_var if name in SPECS_BY_NAME else reference_env_var(name)
        if how == "env" and "\x00" not in value:  # no environment holds a NUL
            env[env_var] = value
        elif how == "file" and isinstance(hostname, str) and re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", hostname):
            path = directory / hostname / name
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(value + "\n")
            path.chmod(0o600)
    return env


def server_files(state, config):
    """The host's state as ``read_state`` reads it for ``config``: a fresh host, or an
    installed Harbor where this data says it is."""
    files, nonempty = {}, []
    if state and "admin_password" in state:
        text = yaml.safe_dump(
            {"harbor_admin_password": state["admin_password"], "database": {"password": state["db_password"]}}
        )
        files[f"{config['harbor_install_dir'].rstrip('/')}/harbor.yml"] = text.encode()
    if state and state["database_initialised"]:
        nonempty.append(f"{config['harbor_data_volume'].rstrip('/')}/database")
    # Nothing runs: the version check of an upgrade is test_validate's.
    installation = {"running_version": None, "bundle_version": None, "harbor_yml_mtime": None}
    return {
        "private": {"files": files, "nonempty": nonempty},
        "resources": {"machine": "x86_64"},
        "installation": installation,
        "files": {},  # install_dir is no plain directory: nothing to adopt
    }


def run_plan(data, env, state):
    """``plan()`` on the controller, as pyinfra calls it, with the environment holding ``env``."""

    def fetch(config, **_):
        version = DEFAULT_VERSION if config["harbor_version"] == "latest" else config["harbor_version"]
        return SimpleNamespace(version=version, path=Path("/nonexistent.tgz"), sha256="0" * 64)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ))
        for name in [name for name in os.environ if name.startswith("HARBOR_")]:
            del os.environ[name]
        os.environ.update(env)
        this = SimpleNamespace(name="harbor-1", groups=())
        stack.enter_context(mock.patch.object(server_planning, "host", this))
        stack.enter_context(mock.patch("harbor_deploy.planning.context.current_host", this))
        stack.enter_context(mock.patch.object(server_planning, "host_data", lambda overrides=None: dict(data)))
        stack.enter_context(
            mock.patch.object(server_planning, "read_state", lambda config, **_: server_files(state, config))
        )
        stack.enter_context(mock.patch.object(server_planning.installer, "fetch", fetch))
        return server_planning.plan()


def write_token_key(path):
    """prepare's token signing key (made once per module: generating keys is slow)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return path


def prepare_paths(root, token_key):
    """The directories prepare works in (its container's mounts), its token key in place."""
    paths = prepare.Paths(
        input_dir=root / "bundle" / "input",
        data_dir=root / "data",
        compose_dir=root / "bundle",
        config_dir=root / "bundle" / "common" / "config",
        hostfs=root / "hostfs",
    )
    for directory in (paths.input_dir, paths.config_dir, paths.hostfs):
        directory.mkdir(parents=True)
    key = paths.data_dir / "secret" / "core" / "private_key.pem"
    key.parent.mkdir(parents=True)
    key.write_bytes(token_key.read_bytes())
    return paths


def run_prepare(plan, text, paths):
    """The stand-in prepare on the server's files: the uploaded harbor.yml, the TLS pair
    the deploy places, and the operator's storage CA bundle."""
    config = plan.config
    on_host = {}
    if plan.tls is not None:
        on_host[SERVER_TLS_CERTIFICATE] = plan.tls.certificate
        on_host[SERVER_TLS_PRIVATE_KEY] = plan.tls.private_key
    if (config["harbor_storage_service"] or {}).get("ca_bundle"):
        on_host[config["harbor_storage_service"]["ca_bundle"]] = b"CA\n"
    for path, content in on_host.items():
        paths.on_host(path).parent.mkdir(parents=True, exist_ok=True)
        paths.on_host(path).write_bytes(content)
    (paths.input_dir / "harbor.yml").write_text(text)
    assert prepare.prepare(paths, paths.input_dir / "harbor.yml", bool(plan.trivy_flag), plan.version) == 0


def let_gevent_close_directories():
    """tests/conftest.py's gevent defers closing a directory's descriptor (as rmtree does)
    until its loop runs, which nothing here does: each example would leave ~30 open."""
    gevent.idle()
