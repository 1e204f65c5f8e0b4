"""Schema migrations the way Harbor runs them: golang-migrate's ``Up()`` with its
pgx driver, at every start of core, before it serves.

- The release's files are ``NNNN_<identifier>.up.sql`` (no down migrations); the
  version is NNNN. ``schema_migrations(version bigint, dirty boolean)`` holds ONE
  row: the current version and whether its migration is unfinished.
- Each pending migration: the row becomes (version, dirty=true), the whole file
  runs as one multi-statement query (PostgreSQL runs it in one implicit
  transaction, so a failure rolls the file back), then (version, dirty=false).
  A failure leaves dirty=true and every later start refuses: "Dirty database
  version N. Fix and force version."
- A database at a version the release has no file for (a newer release's
  database, or a restore of one) refuses: "no migration found for version N:
  read down for version N .: file does not exist".
- One session migrates at a time: a PostgreSQL advisory lock keyed like
  golang-migrate's (database, schema, table), so several cores on one external
  database take turns.

Lab and tests only: a file ``<data_volume>/standin-test/fail-migration`` holding a
version number makes that migration fail half-way: an error is raised after the
file's first statement ran (so upgrades can be tested against a real failure).
Nothing real Harbor has: never put it on a production install.
"""

import re
import time
import zlib

import psycopg2

TABLE = "schema_migrations"
MIGRATION_FILE = re.compile(r"^(\d+)_(.+)\.up\.sql$")
# golang-migrate's database.GenerateAdvisoryLockId salt.
ADVISORY_LOCK_SALT = 1486364155
FAILURE_SWITCH = "standin-test/fail-migration"


class MigrationError(Exception):
    """An error golang-migrate's Up() returns, with its message."""


class NoChange(Exception):
    """golang-migrate's ErrNoChange: nothing to apply."""


def advisory_lock_id(database, *names):
    """golang-migrate's GenerateAdvisoryLockId (its pgx driver adds schema and table)."""
    digest = zlib.crc32("\0".join((database, *names)).encode())
    return (digest * ADVISORY_LOCK_SALT) % 2**32


def read_source(directory):
    """version -> (identifier, path) of the up-migrations in ``directory``."""
    if not directory.is_dir():
        raise MigrationError(f"open {directory}: no such file or directory")
    source = {}
    for path in sorted(directory.iterdir()):
        match = MIGRATION_FILE.match(path.name)
        if match:
            source[int(match.group(1))] = (match.group(2), path)
    return source


def failing_version(data_dir):
    """The version the lab switch makes fail, or None."""
    switch = data_dir / FAILURE_SWITCH
    if not switch.is_file():
        return None
    return int(switch.read_text().strip())


def fail_half_way(body, version):
    """The migration with an error raised after its first statement."""
    first, separator, rest = body.partition(";\n")
    failure = (
        f"DO $$ BEGIN RAISE EXCEPTION 'stand-in lab switch {FAILURE_SWITCH}: migration {version} fails here'; END $$;\n"
    )
    return f"{first}{separator}{failure}{rest}"


def line_and_column(query, position):
    """golang-migrate's computeLineFromPos (position: PostgreSQL's, 1-based)."""
    text = query.replace("\r\n", "\n")
    if position > len(text):
        return 0, 0, False
    before = text[:position]
    return before.count("\n") + 1, position - 1 - before.rfind("\n"), True


def run_error(query, error):
    """The error golang-migrate's pgx driver makes of a failed migration."""
    diag = getattr(error, "diag", None)
    if diag is None or diag.message_primary is None:
        return MigrationError(f"migration failed in line 0: {query} (details: {error})")
    line, column, known = line_and_column(query, int(diag.statement_position or 0))
    message = f"migration failed: {diag.message_primary}"
    if known:
        message += f" (column {column})"
    if diag.message_detail:
        message += f", {diag.message_detail}"
    details = f"{diag.severity}: {diag.message_primary} (SQLSTATE {error.pgcode})"
    return MigrationError(f"{message} in line {line}: {query} (details: {details})")


class Migrator:
    """golang-migrate's Migrate over one autocommit connection."""

    def __init__(self, connection, database_name, directory, fail_version=None, log=print):
        self.connection = connection
        self.lock_id = advisory_lock_id(database_name, "public", TABLE)
        self.directory = directory
        self.fail_version = fail_version
        self.log = log

    def execute(self, query, params=None):
        with self.connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    def ensure_version_table(self):
        self.execute("SELECT pg_advisory_lock(%s)", (self.lock_id,))
        try:
            exists = self.execute(
                "SELECT COUNT(1) FROM information_schema.tables WHERE table_schema = current_schema() "
                "AND table_name = %s LIMIT 1",
                (TABLE,),
            )[0][0]
            if not exists:
                self.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (version bigint not null primary key, dirty boolean not null)"
                )
        finally:
            self.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))

    def version(self):
        """(version, dirty); version -1 when no migration ever ran."""
        rows = self.execute(f"SELECT version, dirty FROM {TABLE} LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else (-1, False)

    def set_version(self, version, dirty):
        with self.connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"DELETE FROM {TABLE}")
            cursor.execute(f"INSERT INTO {TABLE} (version, dirty) VALUES (%s, %s)", (version, dirty))
            cursor.execute("COMMIT")

    def run(self, version, identifier, path):
        body = path.read_text()
        if version == self.fail_version:
            body = fail_half_way(body, version)
        started = time.monotonic()
        self.set_version(version, True)
        try:
            self.execute(body)
        except psycopg2.Error as error:
            raise run_error(body, error) from None
        self.set_version(version, False)
        self.log(f"{version}/u {identifier} ({(time.monotonic() - started) * 1000:.1f}ms)")

    def pending(self, current, source):
        """The versions to apply after ``current``, checked like golang-migrate's readUp."""
        if current >= 0 and current not in source:
            raise MigrationError(
                f"no migration found for version {current}: read down for version {current} .: file does not exist"
            )
        pending = sorted(version for version in source if version > current)
        if not pending:
            if current < 0:
                raise MigrationError("first .: file does not exist")
            raise NoChange()
        return pending

    def up(self):
        """Apply every pending migration; raise MigrationError or NoChange like Up()."""
        source = read_source(self.directory)
        self.ensure_version_table()
        self.execute("SELECT pg_advisory_lock(%s)", (self.lock_id,))
        try:
            current, dirty = self.version()
            if dirty:
                raise MigrationError(f"Dirty database version {current}. Fix and force version.")
            for version in self.pending(current, source):
                identifier, path = source[version]
                self.run(version, identifier, path)
        finally:
            self.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
