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


def test_core_verifies_the_server_with_the_system_roots_its_start_extended(tmp_path):
    """pgx verifies a server in verify-ca/verify-full against the system roots, which
    install_cert.sh rebuilds at every start from the original and /harbor_cust_cert."""
    trust = load_runtime("harbor_core.trust")
    settings_module = load_runtime("harbor_core.settings")
    bundle, custom = tmp_path / "ca-certificates.crt", tmp_path / "harbor_cust_cert"
    bundle.write_text("SYSTEM\n")
    custom.mkdir()
    (custom / "storage_ca_bundle.crt").write_text("BACKING CA")
    (custom / "notes.txt").write_text("not a CA")
    assert trust.install(custom, bundle) == bundle
    assert bundle.read_text() == "SYSTEM\nBACKING CA\n"
    (custom / "storage_ca_bundle.crt").unlink()
    trust.install(custom, bundle)
    assert bundle.read_text() == "SYSTEM\n"  # from the original, not appended twice
    env = {"POSTGRESQL_SSLMODE": "verify-full"}
    settings = settings_module.DatabaseSettings.from_env(env)
    assert settings.verifies_server and settings.root_certificates == trust.SYSTEM_BUNDLE
    # Harbor's own string is unchanged: the bundle is the stand-in driver's argument.
    assert settings.connection_string.endswith("sslmode=verify-full")
    assert not settings_module.DatabaseSettings.from_env({"POSTGRESQL_SSLMODE": "require"}).verifies_server
