"""The deploy's rule for values of Harbor's database connection string agrees with
libpq's reading of it (pgx's rules): on the test session's real PostgreSQL, the
stand-in core, connecting with the string Harbor builds, logs in with a password held
by a PostgreSQL role exactly when ``conninfo_problem`` accepts it."""

import psycopg2
import pytest

from harbor_deploy.lib.config.readers import conninfo_problem
from lab.standin.tests.support import load_runtime, logs_in_with_keywords, role_with_password

core_settings = load_runtime("harbor_core.settings")
core_database = load_runtime("harbor_core.database")


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
