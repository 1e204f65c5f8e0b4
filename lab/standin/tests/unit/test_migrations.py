"""Schema migrations of the stand-in releases with golang-migrate's semantics, on a
real PostgreSQL: one schema_migrations row, the dirty flag, no way down, one
migrator at a time; and core refusing to start the way Harbor's does."""

import shutil
import threading

import pytest

from lab.standin.build import VERSIONS, release_migrations
from lab.standin.tests.in_process import RunningCore
from lab.standin.tests.support import load_runtime

migrations = load_runtime("harbor_core.migrations")
core_app = load_runtime("harbor_core.app")


@pytest.fixture
def releases(tmp_path):
    """release -> the directory of the migrations it ships (as in its harbor-core image)."""
    directories = {}
    for version in VERSIONS:
        directory = tmp_path / "migrations" / version
        directory.mkdir(parents=True)
        for path in release_migrations(version):
            shutil.copy(path, directory / path.name)
        directories[version] = directory
    return directories


def migrate(postgres, database, directory, fail_version=None):
    """Up() as core runs it; returns its log lines."""
    lines = []
    connection = postgres.connect(database)
    try:
        migrations.Migrator(connection, database, directory, fail_version=fail_version, log=lines.append).up()
    finally:
        connection.close()
    return lines


def version_row(postgres, database):
    return postgres.execute("SELECT version, dirty FROM schema_migrations", database)


def columns(postgres, database, table):
    rows = postgres.execute(
        f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'", database
    )
    return {row[0] for row in rows}


def test_each_release_ships_its_own_migrations_up_to_its_minor():
    shipped = {version: [path.name for path in release_migrations(version)] for version in VERSIONS}
    assert shipped["v2.11.2"] == ["0001_initial_schema.up.sql", "0140_2.11.0_schema.up.sql"]
    assert shipped["v2.13.1"][-3:] == [
        "0140_2.11.0_schema.up.sql",
        "0150_2.12.0_schema.up.sql",
        "0160_2.13.0_schema.up.sql",
    ]
    assert shipped["v2.14.0"][-1] == "0170_2.14.0_schema.up.sql"


def test_a_fresh_database_gets_every_migration_and_one_clean_version_row(postgres, database, releases):
    # harbor-db's first initdb creates the (empty) table, as Harbor's initial-registry.sql.
    postgres.execute(
        "CREATE TABLE schema_migrations(version bigint not null primary key, dirty boolean not null)", database
    )
    log = migrate(postgres, database, releases["v2.11.2"])
    assert [line.split(" (")[0] for line in log] == ["1/u initial_schema", "140/u 2.11.0_schema"]
    assert version_row(postgres, database) == [(140, False)]
    assert postgres.execute("SELECT username FROM harbor_user", database) == [("admin",)]
    with pytest.raises(migrations.NoChange):
        migrate(postgres, database, releases["v2.11.2"])


def test_an_upgrade_applies_the_newer_releases_migrations_to_the_data(postgres, database, releases):
    migrate(postgres, database, releases["v2.11.2"])
    postgres.execute(
        "INSERT INTO robot (name, level, duration, expires_at, secret, salt, permissions) "
        "VALUES ('ci', 'system', -1, -1, 'x', 'y', '[]')",
        database,
    )
    log = migrate(postgres, database, releases["v2.13.1"])
    assert [line.split(" (")[0] for line in log] == ["150/u 2.12.0_schema", "160/u 2.13.0_schema"]
    assert version_row(postgres, database) == [(160, False)]
    assert postgres.execute("SELECT creator FROM robot", database) == [("unknown",)]


def test_a_failed_migration_leaves_the_database_dirty_and_every_later_start_refuses(postgres, database, releases):
    migrate(postgres, database, releases["v2.11.2"])
    with pytest.raises(migrations.MigrationError) as failed:
        migrate(postgres, database, releases["v2.13.1"], fail_version=160)
    # As golang-migrate's pgx driver words it: the message, where, the file, details.
    message = str(failed.value)
    assert message.startswith("migration failed: stand-in lab switch standin-test/fail-migration: migration 160")
    assert " in line 1: " in message and "ALTER TABLE retention_policy" in message
    assert message.endswith("(SQLSTATE P0001))")
    # 150 went through; 160 stays dirty. PostgreSQL ran the file's first statement,
    # then rolled the whole file back (one multi-statement query, one transaction).
    assert version_row(postgres, database) == [(160, True)]
    assert "creator" in columns(postgres, database, "robot")
    assert "extra_attrs" not in columns(postgres, database, "retention_policy")
    for release in ("v2.13.1", "v2.14.0"):  # the switch is gone: still refused
        with pytest.raises(migrations.MigrationError, match=r"^Dirty database version 160\. Fix and force version\.$"):
            migrate(postgres, database, releases[release])
    # Recovery the way golang-migrate's "force": back to the last good version.
    postgres.execute("UPDATE schema_migrations SET version = 150, dirty = false", database)
    migrate(postgres, database, releases["v2.13.1"])
    assert version_row(postgres, database) == [(160, False)]
    assert "extra_attrs" in columns(postgres, database, "retention_policy")


def test_a_database_newer_than_the_release_is_refused(postgres, database, releases):
    migrate(postgres, database, releases["v2.14.0"])
    with pytest.raises(migrations.MigrationError) as refused:
        migrate(postgres, database, releases["v2.13.1"])
    assert str(refused.value) == "no migration found for version 170: read down for version 170 .: file does not exist"
    assert version_row(postgres, database) == [(170, False)]


def test_cores_sharing_a_database_migrate_it_once(postgres, database, releases):
    """Two migrators at once (two Harbor nodes on one external database): the
    advisory lock lets one apply the migrations; the other finds nothing to do."""
    outcomes = []

    def run():
        try:
            outcomes.append(len(migrate(postgres, database, releases["v2.14.0"])))
        except migrations.NoChange:
            outcomes.append("no change")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [5, "no change"]
    assert version_row(postgres, database) == [(170, False)]


def test_the_advisory_lock_id_is_golang_migrates():
    """The cases of golang-migrate's own TestGenerateAdvisoryLockId: a real Harbor and
    a stand-in core on one database wait for each other."""
    assert migrations.advisory_lock_id("database_name") == 1764327054
    assert migrations.advisory_lock_id("database_name", "schema_name_1") == 3244152297
    assert migrations.advisory_lock_id("database_name", "schema_name_2") == 810103531


def core_env(tmp_path, backing, directory):
    return {**backing, "DATA_DIR": str(tmp_path / "data"), "POSTGRES_MIGRATION_SCRIPTS_PATH": str(directory)}


def test_core_starts_on_an_upgraded_database_and_refuses_a_dirty_one(tmp_path, core_backing, releases, capsys):
    first = RunningCore(core_env(tmp_path, core_backing, releases["v2.11.2"]))
    first.stop()
    switch = tmp_path / "data" / "standin-test" / "fail-migration"
    switch.parent.mkdir(parents=True)
    switch.write_text("160\n")
    env = core_env(tmp_path, core_backing, releases["v2.13.1"])
    for expected in ("migration failed: stand-in lab switch", "Dirty database version 160. Fix and force version."):
        app = core_app.App(core_app.Settings(env))
        with pytest.raises(core_app.StartupError) as refused:
            app.start()
        assert str(refused.value).startswith(f"failed to migrate the database, error: {expected}")
        app.database.close()
        switch.unlink(missing_ok=True)
    log = capsys.readouterr().out
    assert '[ERROR] [/core/main.go]: Failed to upgrade schema, error: "Dirty database version 160.' in log
