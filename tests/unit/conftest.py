"""Servers the stand-in core needs in unit tests: one PostgreSQL and one Redis for
the session, a fresh database and an empty Redis for each test; a private cache home
for every test."""

import shutil
import uuid

import pytest

from lab.standin.build import MIGRATIONS_DIR
from tests.unit.services import PostgresServer, RedisServer, SlapdServer, service_directory


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


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path, monkeypatch):
    """Unit tests never write the user's ~/.cache (installer hash memos included)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))


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
