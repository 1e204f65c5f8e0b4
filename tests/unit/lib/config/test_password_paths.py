"""Property: every password the deploy accepts reaches the service that reads it byte
for byte, whatever its key and its source; any other is refused naming its key.

The four passwords (admin, bundled database, external database, external Redis) are
drawn from awkward characters (blanks, backslashes, quotes, ``$``, ``#``, YAML and
URL indicators, line breaks, NUL, non-ASCII) and given the way an operator can: an
environment variable, a file of the controller secrets dir, or (the external ones)
inline in the inventory. The server deploy's ``plan()`` judges them as before any
operation. When it accepts them, the module's own ``harbor_yml.render`` writes
harbor.yml, the stand-in ``prepare`` (v2.13.1's) writes Harbor's files from it, and
each password is read back the way the service reading it does:

- env files as docker compose resolves them (core, harbor-db, exporter);
- the connection string core, jobservice and exporter build of core's env file
  (src/common/dao/pgsql.go), as libpq's keyword/value parser reads it (pgx's rules);
- the registry's config.yml as a YAML 1.1 parser reads it, and the Redis URLs of the
  env files as Go's URL parser reads them.
"""

import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from pyinfra.api import DeployError

from harbor_deploy.lib.config.secrets import SPECS_BY_NAME
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.render import harbor_yml
from tests.unit.lib.config.harbor_run import (
    connection_settings,
    keep_secrets,
    let_gevent_close_directories,
    prepare_paths,
    process_env,
    redis_url_parts,
    run_plan,
    run_prepare,
    write_token_key,
)

HOSTNAME = "harbor.example.org"
# Where the keys of the inventory give a password inline.
INLINE = {"external_db_password": "harbor_external_database", "external_redis_password": "harbor_external_redis"}
# What compose, YAML, URLs, shells and the connection string treat specially.
SPECIALS = " \t\\'\"$#:@!%&*{}[],|>?=`~-/\n\r\x00\x0bé😀"
alphanumeric = st.characters(codec="ascii", categories=("L", "Nd"))
plain = st.text(alphanumeric, min_size=1, max_size=10)
awkward = st.text(st.one_of(alphanumeric, alphanumeric, st.sampled_from(SPECIALS)), min_size=1, max_size=14)
# Most meet Harbor's own rule for the admin password (8-128 characters with a lower, an
# upper and a digit), half hold special characters.
password = st.one_of(st.builds("Aa1Bb2{}".format, st.one_of(plain, awkward)), awkward)
sources = {name: st.sampled_from(["env", "file", *(["inline"] if name in INLINE else [])]) for name in SPECS_BY_NAME}


@st.composite
def examples(draw):
    """(host data, {secret name: (source, value)})."""
    external = draw(st.booleans())
    given = {name: (draw(sources[name]), draw(password)) for name in SPECS_BY_NAME}
    data = {
        "harbor_hostname": HOSTNAME,
        "harbor_tls_mode": "http",
        "harbor_metric": {"enabled": True},  # the exporter reads the database password too
    }
    if external:
        data["harbor_external_database"] = {"host": "db.example.org", "port": 5432, "db_name": "registry"}
        data["harbor_external_database"]["username"] = "harbor"
        data["harbor_external_redis"] = {"host": "redis.example.org:6379"}
        for name, key in INLINE.items():
            how, value = given[name]
            if how == "inline":
                data[key]["password"] = value
    return data, {name: source for name, source in given.items() if source[0] != "inline"}


@pytest.fixture(scope="module")
def token_key(tmp_path_factory):
    return write_token_key(tmp_path_factory.mktemp("token") / "token.key")


def password_keys(error):
    """The keys of a refusal: each must be a password's."""
    return [key for key, _ in error.problems]


def is_a_password_key(key):
    return key.split(" ")[0] in SPECS_BY_NAME or key in (
        "harbor_external_database.password",
        "harbor_external_redis.password",
    )


@settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.generate, Phase.shrink],
)
@given(example=examples())
def test_every_accepted_password_reaches_its_reader_byte_for_byte(token_key, example):
    let_gevent_close_directories()
    data, given_sources = example
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        data = {**data, "harbor_secrets_dir": str(root / "s")}
        env = keep_secrets(root / "s", HOSTNAME, given_sources)
        try:
            plan = run_plan(data, env, None)
        except DeployError as error:
            cause = error.__context__
            assert isinstance(cause, ConfigError), repr(cause)
            assert all(is_a_password_key(key) for key in password_keys(cause)), cause.problems
            for key in password_keys(cause):
                event(f"refused: {key.split(' ')[0]}")
            for _, value in given_sources.values():
                assert len(value) < 4 or value not in str(error)
            return
        event("accepted")
        paths = prepare_paths(root / "host", token_key)
        run_prepare(plan, harbor_yml.render(plan.config, plan.secrets, plan.version), paths)
        assert_every_password_is_read_as_kept(plan, paths)


def assert_every_password_is_read_as_kept(plan, paths):
    config, secrets = plan.config, plan.secrets
    config_dir = paths.config_dir
    core = process_env(config_dir / "core" / "env")
    exporter = process_env(config_dir / "exporter" / "env")
    assert core["HARBOR_ADMIN_PASSWORD"] == secrets.admin_password.reveal()
    database = config["harbor_external_database"]
    if database:
        kept = database.get("password") or secrets.external_db_password.reveal()
    else:
        kept = secrets.db_password.reveal()
        assert process_env(config_dir / "db" / "env")["POSTGRES_PASSWORD"] == kept
    assert core["POSTGRESQL_PASSWORD"] == kept
    assert exporter["HARBOR_DATABASE_PASSWORD"] == kept
    read = connection_settings(core)
    assert isinstance(read, dict), read
    assert read["password"] == kept
    redis = config["harbor_external_redis"]
    if redis:
        secret = secrets.external_redis_password
        kept = redis.get("password") or (secret.reveal() if secret else "")
        registry = yaml.safe_load((config_dir / "registry" / "config.yml").read_text())
        assert registry["redis"]["password"] == (kept or None)
        for url in (core["_REDIS_URL_CORE"], core["_REDIS_URL_REG"], exporter["HARBOR_REDIS_URL"]):
            assert redis_url_parts(url)[0] == kept
