"""Redis as core uses it: database 0 of ``_REDIS_URL_CORE`` (or external_redis), a
plain server or Sentinel. Harbor keeps sessions and caches there; the stand-in
caches the system configuration like Harbor's config manager does (key
``cache:cfgs``, a minute, dropped on every change), so several cores sharing one
Redis see one configuration."""

import json
import time
from urllib.parse import unquote, urlsplit

import redis
import redis.sentinel

KEY_PREFIX = "cache:"
CONFIGURATIONS_KEY = KEY_PREFIX + "cfgs"
CONFIGURATIONS_TTL = 60
TIMEOUT = 5


def client(url):
    """A Redis client for Harbor's URL forms: ``redis://[:password@]host[:port][/db]`` and
    ``redis+sentinel://[:password@]host:port[,host:port...]/master[/db]``; the query
    (``idle_timeout_seconds``) tunes Harbor's pool and is not needed here."""
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password else None
    path = [segment for segment in parts.path.split("/") if segment]
    options = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
    if parts.scheme == "redis+sentinel":
        hosts = parts.netloc.rpartition("@")[2].split(",")
        sentinels = [(host.rpartition(":")[0], int(host.rpartition(":")[2] or 26379)) for host in hosts]
        master, db = path[0], int(path[1]) if len(path) > 1 else 0
        return redis.sentinel.Sentinel(sentinels, **options).master_for(master, db=db, password=password, **options)
    if parts.scheme != "redis":
        raise ValueError(f"unsupported redis scheme {parts.scheme!r} in _REDIS_URL_CORE")
    db = int(path[0]) if path else 0
    return redis.Redis(host=parts.hostname, port=parts.port or 6379, db=db, password=password, **options)


def wait_until_answering(connection, timeout, log):
    """Harbor's ``cache.Initialize``: ping, retrying for up to ``timeout`` seconds."""
    deadline, pause = time.monotonic() + timeout, 0.5
    while True:
        try:
            connection.ping()
            return
        except redis.RedisError as error:
            if time.monotonic() >= deadline:
                raise
            log(f"failed to ping redis, retry after {pause}s : {error}")
            time.sleep(pause)
            pause = min(pause * 2, 10)


class ConfigurationCache:
    """The stored system settings, read through Redis."""

    def __init__(self, connection):
        self.connection = connection

    def load(self, loader):
        cached = self.connection.get(CONFIGURATIONS_KEY)
        if cached is not None:
            return json.loads(cached)
        settings = loader()
        self.connection.set(CONFIGURATIONS_KEY, json.dumps(settings), ex=CONFIGURATIONS_TTL)
        return settings

    def invalidate(self):
        self.connection.delete(CONFIGURATIONS_KEY)
