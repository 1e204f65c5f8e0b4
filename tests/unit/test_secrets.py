"""Secrets: environment, then the controller secrets dir, then generated once; never shown."""

import copy
import pickle
import stat

import pytest

from harbor_deploy.secrets import (
    MASK, Secret, SecretStore, generate_password, load_secrets, meets_harbor_password_rule,
    secrets_dir,
)

VALUE = "S3cret-value_not-shown"


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_never_shows_its_value():
    secret = Secret(VALUE, "env HARBOR_ADMIN_PASSWORD")
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret,
                 repr([secret]), repr({"k": secret})):
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


def test_file_is_read_without_trailing_newline_and_tightened(tmp_path):
    (tmp_path / "db_password").write_text("FromFile123\n")
    (tmp_path / "db_password").chmod(0o644)
    secret = SecretStore(tmp_path, env={}).get("db_password")
    assert secret.reveal() == "FromFile123"
    assert secret.source.startswith("file ")
    assert _mode(tmp_path / "db_password") == 0o600


def test_generated_once_stored_private_and_reused(tmp_path):
    directory = tmp_path / ".secrets" / "harbor.example"
    first = SecretStore(directory, env={}).get("admin_password")
    assert first.source.endswith("(generated)")
    assert meets_harbor_password_rule(first.reveal())
    assert _mode(directory) == 0o700
    assert _mode(directory / "admin_password") == 0o600
    again = SecretStore(directory, env={}).get("admin_password")
    assert again.reveal() == first.reveal()
    assert again.source.startswith("file ")


def test_external_secrets_are_not_generated(tmp_path):
    store = SecretStore(tmp_path, env={})
    assert store.get("external_db_password") is None
    assert not (tmp_path / "external_db_password").exists()


def test_store_keeps_a_changed_value(tmp_path):
    store = SecretStore(tmp_path, env={})
    store.get("admin_password")
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
    assert sorted(p.name for p in secrets_dir(config).iterdir()) == ["admin_password", "db_password"]
