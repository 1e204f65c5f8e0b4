"""What the stand-in's tests share with the unit tests that run it in process: its
files, its runtime programs loaded as modules, and the PostgreSQL, Redis and LDAP
(slapd) servers a test session starts (one each per session, a fresh database and an
empty Redis per test)."""

import contextlib
import importlib.util
import shutil
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg2 import sql

from lab.standin.build import MIGRATIONS_DIR
from lab.standin.tests.services import PostgresServer, RedisServer, SlapdServer, service_directory

ROOT = Path(__file__).resolve().parents[3]
STANDIN = ROOT / "lab" / "standin"
RUNTIME = STANDIN / "runtime"
# Harbor v2.13.1's own files, unmodified (the bundle ships the template).
HARBOR_TEMPLATE = STANDIN / "upstream" / "harbor.yml.tmpl"
SWAGGER = STANDIN / "upstream" / "swagger.yaml"


def load_runtime(name):
    """A stand-in runtime program as a module (their plain names would clash)."""
    module_name = f"standin_{name}"
    # The programs import each other as the image runs them: from their own directory.
    if str(RUNTIME) not in sys.path:
        sys.path.append(str(RUNTIME))
    if (RUNTIME / name.split(".")[0]).is_dir():  # a package (harbor_core): its own names
        return importlib.import_module(name)
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, RUNTIME / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture(scope="session")
def rsa_key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture
def harbor_yml():
    """The real harbor.yml.tmpl as a dict, with a usable hostname."""
    config = yaml.safe_load(HARBOR_TEMPLATE.read_text())
    config["hostname"] = "harbor.lab.internal"
    return config


def running(server_class):
    """A server of this machine's programs in a directory of its own, started for the
    session and removed after it."""
    directory = service_directory()
    server = server_class(directory)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    yield from running(PostgresServer)


@pytest.fixture(scope="session")
def redis_server():
    yield from running(RedisServer)


@pytest.fixture
def database(postgres):
    """A new empty database, dropped after the test."""
    name = f"registry_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    yield name
    postgres.drop_database(name)


@pytest.fixture
def core_backing(postgres, redis_server, database):
    """Core's env for its database and Redis (emptied), with every stand-in migration."""
    redis_server.client().flushall()
    return {
        **postgres.env(database),
        "_REDIS_URL_CORE": redis_server.url,
        "POSTGRES_MIGRATION_SCRIPTS_PATH": str(MIGRATIONS_DIR),
    }


@pytest.fixture
def second_harbor(tmp_path, postgres, redis_server, rsa_key_pem):
    """A second Harbor with its registry (its own database, Redis database 1): where
    the first replicates to."""
    from lab.standin.tests.in_process import StandinHarborWithRegistry  # it imports this module

    name = f"registry_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    backing = {
        **postgres.env(name),
        "_REDIS_URL_CORE": f"redis://127.0.0.1:{redis_server.port}/1",
        "POSTGRES_MIGRATION_SCRIPTS_PATH": str(MIGRATIONS_DIR),
    }
    running = StandinHarborWithRegistry(tmp_path / "two", backing, rsa_key_pem)
    yield running
    running.stop()
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def slapd():
    """A real LDAP server (Debian's slapd) with the lab's users and groups."""
    yield from running(SlapdServer)


@contextlib.contextmanager
def role_with_password(postgres, database, password):
    """A login role of the server with ``password`` (PostgreSQL takes any); dropped
    after, what it made in ``database`` given back to postgres."""
    name = f"harbor_{uuid.uuid4().hex[:10]}"
    with contextlib.closing(postgres.connect()) as connection, connection.cursor() as cursor:
        statement = sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}")
        cursor.execute(statement.format(sql.Identifier(name), sql.Literal(password)))
    try:
        yield name
    finally:
        postgres.execute(f'REASSIGN OWNED BY "{name}" TO postgres', database)
        postgres.execute(f'DROP ROLE "{name}"')


def logs_in_with_keywords(postgres, database, role, password):
    """Whether a client given the password on its own (not in a string) logs in."""
    with contextlib.closing(
        psycopg2.connect(host="127.0.0.1", port=postgres.port, user=role, password=password, dbname=database)
    ):
        return True
