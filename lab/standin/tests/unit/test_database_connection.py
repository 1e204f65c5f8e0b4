"""The stand-in core reaches PostgreSQL through the connection string Harbor's core
builds (``host=%s port=%s user=%s password=%s dbname=%s sslmode=%s``, unquoted:
src/common/dao/pgsql.go), read by libpq's keyword/value rules as pgx reads it; on the
test session's real PostgreSQL, with roles whose passwords PostgreSQL itself takes."""

import pytest

from lab.standin.tests.in_process import RunningCore
from lab.standin.tests.support import load_runtime, logs_in_with_keywords, role_with_password

core_app = load_runtime("harbor_core.app")


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


def test_a_started_core_holds_a_password_with_quotes_and_symbols_byte_exact(core_backing, postgres, database, tmp_path):
    password = 'Db@!%é#x=ÿ"end9A`'
    with role_with_password(postgres, database, password) as role:
        env = {**core_backing, "DATA_DIR": str(tmp_path), "POSTGRESQL_USERNAME": role, "POSTGRESQL_PASSWORD": password}
        core = RunningCore(env)
        try:
            core.app.database.ping()
        finally:
            core.stop()
