"""Core's Redis: Harbor's URL forms (plain and Sentinel) and the configuration cache,
on the test session's redis-server."""

import subprocess
import time

import pytest

from lab.standin.tests.services import REDIS_SERVER, free_port
from lab.standin.tests.support import load_runtime

cache = load_runtime("harbor_core.cache")


def test_a_plain_url_gives_host_port_database_and_password():
    client = cache.client("redis://:p%40ss@redis.example:6380/2?idle_timeout_seconds=30")
    options = client.connection_pool.connection_kwargs
    assert (options["host"], options["port"], options["db"], options["password"]) == ("redis.example", 6380, 2, "p@ss")
    # Harbor's bundled Redis: no port, no database index (0).
    options = cache.client("redis://redis?idle_timeout_seconds=30").connection_pool.connection_kwargs
    assert (options["host"], options["port"], options["db"], options["password"]) == ("redis", 6379, 0, None)
    with pytest.raises(ValueError, match="unsupported redis scheme"):
        cache.client("rediss://redis:6379")


@pytest.fixture
def sentinel(redis_server, tmp_path):
    """A redis-server in Sentinel mode watching the session's Redis as ``mymaster``."""
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {redis_server.port} 1\n")
    process = subprocess.Popen(
        [REDIS_SERVER, str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    yield port
    process.terminate()
    process.wait(timeout=10)


def test_a_sentinel_url_reaches_the_master_it_names(redis_server, sentinel):
    client = cache.client(f"redis+sentinel://127.0.0.1:{sentinel}/mymaster/0?idle_timeout_seconds=30")
    deadline = time.monotonic() + 10
    while True:
        try:
            client.set("standin-probe", "via sentinel")
            break
        except cache.redis.RedisError:
            assert time.monotonic() < deadline, "the sentinel never named the master"
            time.sleep(0.1)
    assert redis_server.client().get("standin-probe") == b"via sentinel"


def test_the_configuration_is_read_through_redis_for_a_minute_and_dropped_on_change(redis_server):
    redis_server.client().flushall()
    loads = []

    def loader():
        loads.append(1)
        return {"robot_name_prefix": "bot-"}

    configurations = cache.ConfigurationCache(redis_server.client())
    assert configurations.load(loader) == {"robot_name_prefix": "bot-"}
    assert configurations.load(loader) == {"robot_name_prefix": "bot-"}
    assert len(loads) == 1
    assert 0 < redis_server.client().ttl("cache:cfgs") <= 60
    configurations.invalidate()
    configurations.load(loader)
    assert len(loads) == 2
