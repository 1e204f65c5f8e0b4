"""The stand-in core reaches PostgreSQL through the connection string Harbor's core
builds (``host=%s port=%s user=%s password=%s dbname=%s sslmode=%s``, unquoted:
src/common/dao/pgsql.go), read by libpq's keyword/value rules as pgx reads it; on the
test session's real PostgreSQL, with roles whose passwords PostgreSQL itself takes."""

import contextlib
import uuid

import psycopg2
import pytest
from psycopg2 import sql

from harbor_deploy.lib.config.readers import conninfo_problem
from tests.unit.standin.conftest import load_runtime
from tests.unit.standin_harbor import RunningCore

core_app = load_runtime("harbor_core.app")
core_settings = load_runtime("harbor_core.settings")
core_database = load_runtime("harbor_core.database")


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


def test_core_refuses_to_start_with_a_database_password_holding_a_blank(core_backing, postgres, database, tmp_path):
    password = "Pass word1"
    with role_with_password(postgres, database, password) as role:
        assert logs_in_with_keywords(postgres, database, role, password)
        env = {**core_backing, "DATA_DIR": str(tmp_path), "POSTGRESQL_USERNAME": role, "POSTGRESQL_PASSWORD": password}
        app = core_app.App(core_app.Settings(env))
        try:
            with pytest.raises(core_app.StartupError) as refused:
                app.start()
        finally:
            app.database.close()
    # Harbor's string reads "password=Pass" and then "word1" without "=".
    assert str(refused.value) == (
        "failed to initialize database: cannot parse the connection string: failed to parse as DSN"
    )


@pytest.mark.parametrize(
    "password",
    [
        "Pass word1",
        "Tab\tword1",
        "Trailing1\\",
        "Back\\slash1",
        "Esc\\'aped1",
        "'Leading1",
        "Mid'quote1",
        'Db@!%é#x=ÿ"end9A`',
        "eq=Sign=1",
    ],
)
def test_validation_accepts_exactly_the_passwords_harbors_connection_string_carries(postgres, database, password):
    """``conninfo_problem`` (the deploy's rule) lets a password through exactly when core,
    connecting with Harbor's string, logs in with it."""
    with role_with_password(postgres, database, password) as role:
        assert logs_in_with_keywords(postgres, database, role, password)
        settings = core_settings.DatabaseSettings.from_env(
            {**postgres.env(database), "POSTGRESQL_USERNAME": role, "POSTGRESQL_PASSWORD": password}
        )
        connection = core_database.Database(settings)
        try:
            connection.connect().close()
            logged_in = True
        except psycopg2.Error:
            logged_in = False
    assert logged_in is (conninfo_problem(password) is None), password


def test_a_started_core_holds_a_password_with_quotes_and_symbols_byte_exact(core_backing, postgres, database, tmp_path):
    password = 'Db@!%é#x=ÿ"end9A`'
    with role_with_password(postgres, database, password) as role:
        env = {**core_backing, "DATA_DIR": str(tmp_path), "POSTGRESQL_USERNAME": role, "POSTGRESQL_PASSWORD": password}
        core = RunningCore(env)
        try:
            core.app.database.ping()
        finally:
            core.stop()
