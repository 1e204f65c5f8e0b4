"""The servers the stand-in core needs when unit tests run it in process (one
PostgreSQL and one Redis per session, a fresh database and an empty Redis per test),
and a private cache home for every test."""

import pytest

from lab.standin.tests.support import (  # noqa: F401  (fixtures)
    core_backing,
    database,
    postgres,
    redis_server,
    rsa_key_pem,
    second_harbor,
    slapd,
)


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path, monkeypatch):
    """Unit tests never write the user's ~/.cache (installer hash memos included)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
