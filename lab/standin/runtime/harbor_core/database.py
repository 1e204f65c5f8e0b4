"""Core's connection pool to PostgreSQL, sized like Harbor's (POSTGRESQL_MAX_OPEN_CONNS,
_MAX_IDLE_CONNS, _CONN_MAX_LIFETIME, _CONN_MAX_IDLE_TIME: Go's database/sql rules)."""

import contextlib
import socket
import threading
import time

import psycopg2
import psycopg2.extras


class Database:
    def __init__(self, settings):
        self.settings = settings
        # max_open_conns <= 0: no limit, as in database/sql.
        limit = settings.max_open_conns
        self.slots = threading.BoundedSemaphore(limit) if limit > 0 else None
        self.idle = []  # (connection, opened at, idle since)
        self.lock = threading.Lock()

    def connect(self, autocommit=False):
        # psycopg2 parses the string with libpq itself (PQconninfoParse) before adding
        # the keyword arguments: libpq's keyword/value rules, which pgx follows. Like
        # pgx, a string that does not parse is an error; libpq's reason would quote a
        # piece of the password, so it is left out.
        # libpq reads no system roots by itself (pgx does): it is given their bundle.
        verified = {"sslrootcert": str(self.settings.root_certificates)} if self.settings.verifies_server else {}
        try:
            dsn = psycopg2.extensions.make_dsn(
                self.settings.connection_string,
                options="-c TimeZone=UTC",
                connect_timeout=5,
                application_name="harbor-core",
                **verified,
            )
        except psycopg2.ProgrammingError:
            raise psycopg2.OperationalError("cannot parse the connection string: failed to parse as DSN") from None
        connection = psycopg2.connect(dsn)
        connection.autocommit = autocommit
        return connection

    def wait_for_server(self, timeout, interval=2):
        """Like Harbor's ``TestTCPConn(addr, 60, 2)``: the server's port answers."""
        address = (self.settings.host, self.settings.port)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(address, timeout=interval):
                    return
            except OSError as error:
                if time.monotonic() >= deadline:
                    raise OSError(
                        f"failed to connect to tcp:{address[0]}:{address[1]} after {timeout:.0f} seconds"
                    ) from error
                time.sleep(interval)

    def _expired(self, opened, idle_since, now):
        lifetime, idle_time = self.settings.conn_max_lifetime, self.settings.conn_max_idle_time
        return (lifetime > 0 and now - opened > lifetime) or (idle_time > 0 and now - idle_since > idle_time)

    def _acquire(self):
        if self.slots:
            self.slots.acquire()
        try:
            now = time.monotonic()
            with self.lock:
                while self.idle:
                    connection, opened, idle_since = self.idle.pop()
                    if not connection.closed and not self._expired(opened, idle_since, now):
                        return connection, opened
                    connection.close()
            return self.connect(), now
        except BaseException:
            if self.slots:
                self.slots.release()
            raise

    def _release(self, connection, opened, broken):
        try:
            with self.lock:
                if broken or connection.closed or len(self.idle) >= max(self.settings.max_idle_conns, 0):
                    connection.close()
                else:
                    self.idle.append((connection, opened, time.monotonic()))
        finally:
            if self.slots:
                self.slots.release()

    @contextlib.contextmanager
    def transaction(self):
        """A cursor (rows as dicts) in one transaction: committed, or rolled back on error."""
        connection, opened = self._acquire()
        broken = False
        try:
            with connection, connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                yield cursor
        except psycopg2.OperationalError:
            broken = True
            raise
        finally:
            self._release(connection, opened, broken)

    def ping(self):
        with self.transaction() as cursor:
            cursor.execute("SELECT 1")

    def close(self):
        with self.lock:
            for connection, _, _ in self.idle:
                connection.close()
            self.idle.clear()
