"""What the stand-in's tests share with the unit tests that run it in process: its
files, its runtime programs loaded as modules, and the PostgreSQL, Redis and LDAP
(slapd) servers a test session starts (one each per session, a fresh database and an
empty Redis per test)."""

import importlib.util
import shutil
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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


@pytest.fixture(scope="session")
def postgres():
    directory = service_directory()
    server = PostgresServer(directory)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    directory = service_directory()
    server = RedisServer(directory)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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


@pytest.fixture(scope="session")
def slapd():
    """A real LDAP server (Debian's slapd) with the lab's users and groups."""
    directory = service_directory()
    server = SlapdServer(directory)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
