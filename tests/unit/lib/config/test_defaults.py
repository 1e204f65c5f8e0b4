"""The key registry: complete, documented, and equal to Harbor's own defaults."""

import yaml

from harbor_deploy.lib.config import defaults
from harbor_deploy.lib.config.defaults import KEYS, KEYS_BY_NAME, merged
from tests.conftest import ROOT

TEMPLATE = ROOT / "lab" / "standin" / "upstream" / "harbor.yml.tmpl"

# Inventory key -> path of the same setting in harbor.yml.
HARBOR_YML_PATHS = {
    "harbor_data_volume": ("data_volume",),
    "harbor_trivy_ignore_unfixed": ("trivy", "ignore_unfixed"),
    "harbor_trivy_skip_update": ("trivy", "skip_update"),
    "harbor_trivy_skip_java_db_update": ("trivy", "skip_java_db_update"),
    "harbor_trivy_offline_scan": ("trivy", "offline_scan"),
    "harbor_trivy_security_check": ("trivy", "security_check"),
    "harbor_trivy_insecure": ("trivy", "insecure"),
    "harbor_trivy_timeout": ("trivy", "timeout"),
    "harbor_db_max_idle_conns": ("database", "max_idle_conns"),
    "harbor_db_max_open_conns": ("database", "max_open_conns"),
    "harbor_db_conn_max_lifetime": ("database", "conn_max_lifetime"),
    "harbor_db_conn_max_idle_time": ("database", "conn_max_idle_time"),
    "harbor_jobservice_max_job_workers": ("jobservice", "max_job_workers"),
    "harbor_jobservice_max_job_duration_hours": ("jobservice", "max_job_duration_hours"),
    "harbor_jobservice_job_loggers": ("jobservice", "job_loggers"),
    "harbor_jobservice_logger_sweeper_duration": ("jobservice", "logger_sweeper_duration"),
    "harbor_notification_webhook_job_max_retry": ("notification", "webhook_job_max_retry"),
    "harbor_notification_webhook_job_http_client_timeout": ("notification", "webhook_job_http_client_timeout"),
    "harbor_log_level": ("log", "level"),
    "harbor_log_rotate_count": ("log", "local", "rotate_count"),
    "harbor_log_rotate_size": ("log", "local", "rotate_size"),
    "harbor_log_location": ("log", "local", "location"),
    "harbor_proxy": ("proxy",),
    "harbor_upload_purging": ("upload_purging",),
    "harbor_cache": ("cache",),
}


def _lookup(tree, path):
    for part in path:
        tree = tree[part]
    return tree


def test_harbor_yml_level_defaults_equal_the_shipped_template():
    template = yaml.safe_load(TEMPLATE.read_text())
    for key, path in HARBOR_YML_PATHS.items():
        assert KEYS_BY_NAME[key].default == _lookup(template, path), key


def test_commented_out_template_blocks_keep_harbors_values():
    assert KEYS_BY_NAME["harbor_metric"].default == {"enabled": False, "port": 9090, "path": "/metrics"}
    for key in (
        "harbor_storage_service",
        "harbor_external_database",
        "harbor_external_redis",
        "harbor_log_external_endpoint",
        "harbor_external_url",
    ):
        assert KEYS_BY_NAME[key].default is None


def test_deploy_level_defaults():
    assert KEYS_BY_NAME["harbor_version"].default == "v2.13.1"
    assert KEYS_BY_NAME["harbor_http_port"].default == 8081
    assert KEYS_BY_NAME["harbor_https_port"].default == 8443
    assert KEYS_BY_NAME["harbor_tls_mode"].default == "generate"
    assert KEYS_BY_NAME["harbor_installer_source"].default == "official"
    assert KEYS_BY_NAME["harbor_install_dir"].default == "/usr/local/harbor"
    assert KEYS_BY_NAME["harbor_secrets_dir"].default == ".secrets"
    assert KEYS_BY_NAME["harbor_with_trivy"].default is True


def test_every_key_is_prefixed_unique_and_explained():
    names = [key.name for key in KEYS]
    assert len(names) == len(set(names))
    for key in KEYS:
        assert key.name.startswith("harbor_")
        assert key.meaning.strip()
    assert [key.name for key in KEYS if key.required] == ["harbor_hostname"]


def test_merged_overlays_harbor_keys_and_ignores_the_rest():
    config = merged({"harbor_hostname": "h.example", "harbor_http_port": 80, "ssh_user": "root"})
    assert config["harbor_hostname"] == "h.example"
    assert config["harbor_http_port"] == 80
    assert config["harbor_https_port"] == 8443
    assert "ssh_user" not in config


def test_record_keys_merge_field_by_field():
    config = merged({"harbor_metric": {"enabled": True}, "harbor_cache": {"expire_hours": 48}})
    assert config["harbor_metric"] == {"enabled": True, "port": 9090, "path": "/metrics"}
    assert config["harbor_cache"] == {"enabled": False, "expire_hours": 48}


def test_merged_configs_do_not_share_mutable_defaults():
    first = merged({})
    first["harbor_proxy"]["components"].append("core")
    first["harbor_tls_extra_sans"].append("x")
    second = merged({})
    assert second["harbor_proxy"]["components"] == ["core", "jobservice", "trivy"]
    assert second["harbor_tls_extra_sans"] == []


def test_release_dir_sits_beside_the_symlink():
    assert defaults.release_dir("/usr/local/harbor", "v2.13.1") == "/usr/local/harbor-v2.13.1"
    assert defaults.release_dir("/opt/harbor/", "v2.12.0") == "/opt/harbor-v2.12.0"


def test_server_tls_paths_are_constants_under_one_dir():
    assert defaults.SERVER_TLS_CERTIFICATE == "/etc/harbor/tls/server.crt"
    assert defaults.SERVER_TLS_PRIVATE_KEY == "/etc/harbor/tls/server.key"
    assert defaults.SERVER_TLS_CA.startswith(defaults.SERVER_TLS_DIR + "/")


def test_key_table_lists_every_key_once():
    table = defaults.key_table_markdown()
    for key in KEYS:
        assert table.count(f"| `{key.name}` |") == 1
    assert "| `harbor_hostname` | **required** |" in table


def test_key_table_escapes_what_markdown_would_read_as_a_tag_or_a_column():
    table = defaults.key_table_markdown()
    assert "robot$\\<project>+\\<name>" in table
    assert "Hourly\\|Daily\\|Weekly" in table


def test_docs_keys_md_is_the_page_generated_from_keys():
    assert defaults.KEYS_PAGE == ROOT / "docs" / "keys.md"
    page = defaults.KEYS_PAGE.read_text()
    stale = f"docs/keys.md is stale: regenerate it with .venv/bin/{defaults.REGENERATE}"
    assert page == defaults.keys_page(), stale
    assert all(f"`{key.name}`" in page for key in KEYS)


def test_every_key_has_a_json_schema_and_the_defaults_fit_it():
    from harbor_deploy.lib.config import schema
    from harbor_deploy.lib.config.defaults import defaults

    assert all(schema.key_schema(key) for key in KEYS)
    assert list(schema.problems({**defaults(), "harbor_hostname": "harbor.example.org"})) == []
