"""A PostgreSQL 15 and a Redis server of the test session's own, on loopback, in a
temporary directory; stopped (and removed) by the session at its end. Only what a
fixture started is ever stopped.

PostgreSQL refuses to run as root, so as root (CI) the servers' directory belongs
to the ``postgres`` user (the Debian package creates it) and initdb and pg_ctl run
as that user through runuser. ``make system-deps`` installs both servers.
"""

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SLAPD = "/usr/sbin/slapd"
MISSING = "{} not found: install PostgreSQL 15, Redis and slapd (make system-deps)"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in ``directory``: superuser ``postgres`` with a
    password over TCP (as core connects), no fsync (test data)."""

    def __init__(self, directory):
        if not (POSTGRES_BIN / "initdb").exists():
            raise RuntimeError(MISSING.format(POSTGRES_BIN / "initdb"))
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.port = free_port()
        self.password = "Pg" + secrets.token_hex(8)
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *args):
        result = subprocess.run([*self.as_owner, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stdout}{result.stderr}")

    def start(self):
        if self.as_owner:
            shutil.chown(self.directory, "postgres", "postgres")
        password_file = self.directory / "password"
        password_file.write_text(self.password + "\n")
        if self.as_owner:
            shutil.chown(password_file, "postgres", "postgres")
        self.run(
            str(POSTGRES_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF-8",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self.run(
            str(POSTGRES_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )

    def stop(self):
        self.run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def connect(self, database="postgres"):
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=self.password, dbname=database
        )
        connection.autocommit = True
        return connection

    def execute(self, query, database="postgres"):
        """One statement in autocommit mode; the rows it returns, if any."""
        with contextlib.closing(self.connect(database)) as connection, connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall() if cursor.description else None

    def create_database(self, name):
        self.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name):
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def env(self, database):
        """The POSTGRESQL_* lines prepare writes into core's env file, for ``database``."""
        return {
            "POSTGRESQL_HOST": "127.0.0.1",
            "POSTGRESQL_PORT": str(self.port),
            "POSTGRESQL_USERNAME": "postgres",
            "POSTGRESQL_PASSWORD": self.password,
            "POSTGRESQL_DATABASE": database,
            "POSTGRESQL_SSLMODE": "disable",
            "POSTGRESQL_MAX_IDLE_CONNS": "2",
            "POSTGRESQL_MAX_OPEN_CONNS": "20",
        }


class RedisServer:
    """``redis-server`` on a free loopback port, without persistence."""

    def __init__(self, directory):
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError(MISSING.format("redis-server"))
        self.directory = Path(directory)
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def client(self, db=0):
        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    @property
    def url(self):
        """``_REDIS_URL_CORE`` as prepare writes it (database 0)."""
        return f"redis://127.0.0.1:{self.port}?idle_timeout_seconds=30"


class SlapdServer:
    """Debian's slapd on a free loopback port, in the foreground (never the system
    service), with the lab's directory (lab/ldap_directory.py) added over LDAP."""

    def __init__(self, directory):
        if not Path(SLAPD).exists():
            raise RuntimeError(MISSING.format(SLAPD))
        self.directory = Path(directory)
        self.port = free_port()
        self.root_password = "Root" + secrets.token_hex(8)
        self.process = None

    @property
    def url(self):
        return f"ldap://127.0.0.1:{self.port}"

    def start(self):
        from lab import ldap_directory

        (self.directory / "data").mkdir()
        config = self.directory / "slapd.conf"
        config.write_text(ldap_directory.slapd_config(self.directory, self.root_password))
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(config), "-h", f"{self.url}/", "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"slapd did not start: {self.process.stderr.read().decode()}") from None
                time.sleep(0.05)
        import ldap3

        with ldap3.Connection(self.url, ldap_directory.ROOT_DN, self.root_password, auto_bind=True) as connection:
            for dn, classes, attributes in ldap_directory.entries():
                if not connection.add(dn, classes, attributes):
                    raise RuntimeError(f"adding {dn} failed: {connection.result}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def service_directory():
    """A directory the postgres user can reach (pytest's are root-only)."""
    return Path(tempfile.mkdtemp(prefix="hd-test-services-", dir="/var/tmp"))
