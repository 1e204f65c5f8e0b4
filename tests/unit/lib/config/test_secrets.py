"""Secrets: environment, then the controller secrets dir, then recovered from the server or
generated (kept by an operation, never while loading); never shown."""

import copy
import pickle
import stat

import pytest

from harbor_deploy.lib.config.secrets import (
    MASK,
    Secret,
    SecretsError,
    SecretStore,
    ServerSecrets,
    generate_password,
    load_secrets,
    meets_harbor_password_rule,
    secrets_dir,
    write_private_files_as_read,
)

VALUE = "S3cret-value_not-shown"


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_never_shows_its_value():
    secret = Secret(VALUE, "env HARBOR_ADMIN_PASSWORD")
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret}",
        repr([secret]),
        repr({"k": secret}),
    ):
        assert VALUE not in text
    assert str(secret) == MASK
    assert "HARBOR_ADMIN_PASSWORD" in repr(secret)
    assert secret.reveal() == VALUE


def test_secret_compares_by_value_copies_and_refuses_pickling():
    assert Secret(VALUE, "a") == Secret(VALUE, "b")
    assert Secret(VALUE, "a") != Secret("other", "a")
    secret = Secret(VALUE, "a")
    assert copy.deepcopy({"k": secret})["k"] is secret
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_environment_wins_over_file(tmp_path):
    store = SecretStore(tmp_path, env={"HARBOR_ADMIN_PASSWORD": "FromEnv123"})
    store.store("admin_password", "FromFile123")
    secret = store.get("admin_password")
    assert secret.reveal() == "FromEnv123"
    assert secret.source == "env HARBOR_ADMIN_PASSWORD"


def test_empty_environment_value_counts_as_provided(tmp_path):
    secret = SecretStore(tmp_path, env={"HARBOR_DB_PASSWORD": ""}).get("db_password")
    assert secret.reveal() == ""
    assert not (tmp_path / "db_password").exists()


def test_file_is_read_without_trailing_newline_and_a_loose_mode_is_reported(tmp_path, caplog):
    (tmp_path / "db_password").write_text("FromFile123\n")
    (tmp_path / "db_password").chmod(0o644)
    secret = SecretStore(tmp_path, env={}).get("db_password")
    assert secret.reveal() == "FromFile123"
    assert secret.source.startswith("file ")
    assert "is readable by others: chmod 600" in caplog.text
    assert _mode(tmp_path / "db_password") == 0o644  # reading changes nothing


def test_generated_in_memory_and_listed_to_keep_never_written_by_loading(tmp_path):
    config = {"harbor_secrets_dir": str(tmp_path / ".secrets"), "harbor_hostname": "harbor.example"}
    loaded = load_secrets(config, env={})
    assert loaded.admin_password.source.endswith("(generated)")
    assert meets_harbor_password_rule(loaded.admin_password.reveal())
    assert {name: why for name, (_, why) in loaded.to_keep.items()} == {
        "admin_password": "generated",
        "db_password": "generated",
    }
    assert not (tmp_path / ".secrets").exists()


def server_with(**values):
    return ServerSecrets(harbor_yml=values, harbor_yml_path="/usr/local/harbor/harbor.yml", database_initialised=True)


def test_secrets_the_controller_lost_are_recovered_from_the_installed_harbor(tmp_path):
    config = {"harbor_secrets_dir": str(tmp_path), "harbor_hostname": "harbor.example"}
    loaded = load_secrets(config, env={}, server=server_with(admin_password="Adm1n-seed", db_password="Db-pass-1"))
    assert (loaded.admin_password.reveal(), loaded.db_password.reveal()) == ("Adm1n-seed", "Db-pass-1")
    assert loaded.db_password.source == "recovered from /usr/local/harbor/harbor.yml on the server"
    assert loaded.recovered("db_password") and loaded.recovered("admin_password")
    assert list(tmp_path.iterdir()) == []


def test_a_database_password_other_than_the_installed_one_is_refused(tmp_path):
    config = {"harbor_secrets_dir": str(tmp_path), "harbor_hostname": "harbor.example"}
    with pytest.raises(SecretsError) as raised:
        load_secrets(config, env={"HARBOR_DB_PASSWORD": "New-pass-2"}, server=server_with(db_password="Db-pass-1"))
    text = str(raised.value)
    assert "db_password: env HARBOR_DB_PASSWORD differs from the password the installed Harbor" in text
    assert "only at the first initdb" in text and "Db-pass-1" not in text and "New-pass-2" not in text
    external = {**config, "harbor_external_database": {"host": "db"}}
    assert (
        load_secrets(
            external, env={"HARBOR_DB_PASSWORD": "New-pass-2"}, server=server_with(db_password="Db-pass-1")
        ).db_password.reveal()
        == "New-pass-2"
    )


def test_a_database_without_a_harbor_yml_stops_with_how_to_provide_the_password(tmp_path):
    config = {"harbor_secrets_dir": str(tmp_path), "harbor_hostname": "harbor.example"}
    with pytest.raises(SecretsError) as raised:
        load_secrets(config, env={}, server=ServerSecrets(database_initialised=True))
    assert f"set HARBOR_DB_PASSWORD or put it in {tmp_path / 'harbor.example' / 'db_password'}" in str(raised.value)


def test_external_secrets_are_not_generated(tmp_path):
    store = SecretStore(tmp_path, env={})
    assert store.get("external_db_password") is None
    assert not (tmp_path / "external_db_password").exists()


def test_store_keeps_a_changed_value(tmp_path):
    store = SecretStore(tmp_path, env={})
    store.store("admin_password", "First1234")
    store.store("admin_password", Secret("Changed123", "api"))
    assert store.get("admin_password").reveal() == "Changed123"
    assert _mode(tmp_path / "admin_password") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["admin_password"]


def test_generated_passwords_are_strong_and_distinct():
    values = {generate_password() for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert len(value) >= 32
        assert meets_harbor_password_rule(value)
        assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_harbor_password_rule():
    assert meets_harbor_password_rule("Abcdefg1")
    assert not meets_harbor_password_rule("Abcdef1")
    assert not meets_harbor_password_rule("abcdefg1")
    assert not meets_harbor_password_rule("ABCDEFG1")
    assert not meets_harbor_password_rule("Abcdefgh")
    assert not meets_harbor_password_rule("A1" + "b" * 127)


def test_load_secrets_uses_the_per_hostname_dir(tmp_path):
    config = {"harbor_secrets_dir": str(tmp_path / ".secrets"), "harbor_hostname": "harbor.example"}
    assert secrets_dir(config) == tmp_path / ".secrets" / "harbor.example"
    loaded = load_secrets(config, env={"HARBOR_EXTERNAL_REDIS_PASSWORD": "redis-pw"})
    assert loaded.admin_password.source.endswith("(generated)")
    assert loaded.db_password.source.endswith("(generated)")
    assert loaded.admin_password != loaded.db_password
    assert loaded.external_db_password is None
    assert loaded.external_redis_password.reveal() == "redis-pw"
    assert VALUE not in repr(loaded) and loaded.admin_password.reveal() not in repr(loaded)


def test_two_fresh_installs_of_one_controller_keep_the_first_password_only(tmp_path):
    """Both planned a fresh install, each with a password it generated (the file was
    absent when each read it): the first to keep it decides, the second writes nothing."""
    directory = tmp_path / "harbor.example.org"
    assert write_private_files_as_read(directory, {"db_password": b"first"}, {}) == []
    assert write_private_files_as_read(directory, {"db_password": b"second", "admin_password": b"x"}, {}) == [
        "db_password"
    ]
    assert (directory / "db_password").read_bytes() == b"first" and not (directory / "admin_password").exists()
    assert _mode(directory / "db_password") == 0o600 and _mode(directory) == 0o700
    assert sorted(path.name for path in directory.iterdir()) == ["db_password"]  # the lock is beside it
    # The same value kept again (both recovered it from the server) is no change of mind.
    assert write_private_files_as_read(directory, {"db_password": b"first"}, {}) == []


def test_a_renewed_file_replaces_only_the_one_read(tmp_path):
    directory = tmp_path / "harbor.example.org"
    write_private_files_as_read(directory, {"server.crt": b"old", "robots/ci+push": b"r"}, {})
    assert write_private_files_as_read(directory, {"server.crt": b"renewed"}, {"server.crt": b"old"}) == []
    assert write_private_files_as_read(directory, {"server.crt": b"again"}, {"server.crt": b"old"}) == ["server.crt"]
    assert (directory / "server.crt").read_bytes() == b"renewed"
    assert (directory / "robots" / "ci+push").read_bytes() == b"r"
