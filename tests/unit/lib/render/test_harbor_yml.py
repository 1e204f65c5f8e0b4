"""harbor.yml: complete against Harbor's template, quoted safely, deterministic, maskable."""

import pytest
import yaml
from pyinfra.api.util import get_template

from harbor_deploy.lib.config.defaults import SERVER_TLS_CERTIFICATE, SERVER_TLS_PRIVATE_KEY, merged
from harbor_deploy.lib.config.secrets import MASK, HarborSecrets, Secret
from harbor_deploy.lib.render import harbor_yml
from lab.standin.tests.support import load_runtime
from tests.conftest import ROOT

prepare = load_runtime("prepare")

TEMPLATE = ROOT / "lab" / "standin" / "upstream" / "harbor.yml.tmpl"
HOST = "harbor.lab.internal"
SECRETS = HarborSecrets(Secret("Adm1nPassword", "t"), Secret("Db1Password", "t"))
NASTY = [
    "p: w#d",
    "'\"quoted\"'",
    "- dash",
    "*star",
    "&amp",
    "!tag",
    "%pct",
    "@at",
    "`tick`",
    "{brace}",
    "[bracket]",
    "line\nbreak",
    " lead and trail ",
    "yes",
    "null",
    "0123",
    "1e3",
    "~",
    "$dollar{x}",
    "back\\slash",
    "ünïcødé 🐳",
    "tab\there",
    ":",
    "#",
]


def _config(**data):
    return merged({"harbor_hostname": HOST, **data})


def _load(text):
    return yaml.safe_load(text)


def _paths(tree, prefix=()):
    found = set()
    for key, value in tree.items():
        found.add(prefix + (key,))
        if isinstance(value, dict):
            found |= _paths(value, prefix + (key,))
    return found


def test_every_uncommented_template_key_is_rendered():
    wanted = _paths(_load(TEMPLATE.read_text()))
    rendered = _paths(_load(harbor_yml.render(_config(), SECRETS)))
    assert wanted - rendered == set()


def test_keys_that_crash_prepare_when_missing_are_always_there():
    for mode in ("generate", "http"):
        loaded = _load(harbor_yml.render(_config(harbor_tls_mode=mode), SECRETS))
        assert loaded["hostname"] == HOST
        assert loaded["data_volume"] == "/data"
        assert loaded["harbor_admin_password"] == "Adm1nPassword"
        assert loaded["jobservice"]["max_job_workers"] == 10
        assert loaded["jobservice"]["job_loggers"] == ["STD_OUTPUT", "FILE"]
        assert loaded["jobservice"]["logger_sweeper_duration"] == 1
        assert loaded["notification"] == {"webhook_job_max_retry": 3, "webhook_job_http_client_timeout": 3}
        assert loaded["log"]["level"] == "info"


def test_defaults_render_harbors_template_values():
    loaded = _load(harbor_yml.render(_config(), SECRETS))
    template = _load(TEMPLATE.read_text())
    for section in ("trivy", "jobservice", "notification", "log", "proxy", "upload_purging", "cache"):
        assert loaded[section] == template[section], section
    # The template's conn_max_idle_time 0 is rendered "0": prepare keeps that string and
    # replaces an integer 0 by its default, which is "0" too.
    assert {k: v for k, v in loaded["database"].items() if k != "password"} == {
        **{k: v for k, v in template["database"].items() if k != "password"},
        "conn_max_idle_time": "0",
    }
    assert loaded["http"] == {"port": 8081}
    assert loaded["metric"] == {"enabled": False, "port": 9090, "path": "/metrics"}


@pytest.mark.parametrize(
    "version, expected", [("v2.13.1", "2.13.0"), ("v2.13.5", "2.13.0"), ("v2.12.0", "2.12.0"), ("v10.2.33", "10.2.0")]
)
def test_config_version_is_x_y_0(version, expected):
    loaded = _load(harbor_yml.render(_config(harbor_version=version), SECRETS))
    assert loaded["_version"] == expected
    assert isinstance(loaded["_version"], str)


def test_latest_needs_the_resolved_version():
    with pytest.raises(ValueError, match="resolve"):
        harbor_yml.render(_config(harbor_version="latest"), SECRETS)
    loaded = _load(harbor_yml.render(_config(harbor_version="latest"), SECRETS, version="v2.14.0"))
    assert loaded["_version"] == "2.14.0"


def test_https_block_points_at_the_uploaded_files():
    loaded = _load(harbor_yml.render(_config(harbor_https_port=443), SECRETS))
    assert loaded["https"] == {
        "port": 443,
        "certificate": SERVER_TLS_CERTIFICATE,
        "private_key": SERVER_TLS_PRIVATE_KEY,
        "strong_ssl_ciphers": False,
    }
    strong = _load(harbor_yml.render(_config(harbor_tls_strong_ssl_ciphers=True), SECRETS))
    assert strong["https"]["strong_ssl_ciphers"] is True
    provided = _load(harbor_yml.render(_config(harbor_tls_mode="provided"), SECRETS))
    assert provided["https"]["certificate"] == SERVER_TLS_CERTIFICATE


def test_http_mode_has_no_https_block():
    loaded = _load(harbor_yml.render(_config(harbor_tls_mode="http", harbor_http_port=80), SECRETS))
    assert "https" not in loaded
    assert loaded["http"] == {"port": 80}


def test_optional_sections_appear_only_when_set():
    plain = _load(harbor_yml.render(_config(), SECRETS))
    for key in ("external_url", "storage_service", "external_database", "external_redis"):
        assert key not in plain
    assert "external_endpoint" not in plain["log"]
    loaded = _load(
        harbor_yml.render(
            _config(
                harbor_external_url="https://registry.example.com",
                harbor_log_external_endpoint={"protocol": "tcp", "host": "syslog", "port": 5140},
                harbor_storage_service={
                    "s3": {"bucket": "b", "region": "eu", "secretkey": "k"},
                    "redirect": {"disable": True},
                },
                harbor_metric={"enabled": True},
                harbor_cache={"enabled": True, "expire_hours": 12},
                harbor_upload_purging={"dryrun": True},
                harbor_proxy={"http_proxy": "http://proxy:3128", "no_proxy": "a,b", "components": ["core"]},
            ),
            SECRETS,
        )
    )
    assert loaded["external_url"] == "https://registry.example.com"
    assert loaded["log"]["external_endpoint"] == {"protocol": "tcp", "host": "syslog", "port": 5140}
    assert loaded["storage_service"] == {
        "s3": {"bucket": "b", "region": "eu", "secretkey": "k"},
        "redirect": {"disable": True},
    }
    assert loaded["metric"]["enabled"] is True
    assert loaded["cache"] == {"enabled": True, "expire_hours": 12}
    assert loaded["upload_purging"] == {"enabled": True, "age": "168h", "interval": "24h", "dryrun": True}
    assert loaded["proxy"] == {
        "http_proxy": "http://proxy:3128",
        "https_proxy": None,
        "no_proxy": "a,b",
        "components": ["core"],
    }


def test_external_database_and_redis_take_secrets_when_not_inline():
    secrets = HarborSecrets(
        SECRETS.admin_password, SECRETS.db_password, Secret("ext-db", "env"), Secret("ext-redis", "env")
    )
    loaded = _load(
        harbor_yml.render(
            _config(
                harbor_external_database={"host": "db", "port": 5432, "db_name": "registry", "username": "h"},
                harbor_external_redis={"host": "redis:6379", "sentinel_master_set": None},
            ),
            secrets,
        )
    )
    assert loaded["external_database"] == {
        "harbor": {
            "host": "db",
            "port": 5432,
            "db_name": "registry",
            "username": "h",
            "password": "ext-db",
            "ssl_mode": "disable",
            "max_idle_conns": 2,
            "max_open_conns": 0,
            # prepare reads an external database's pool lifetimes from its own section.
            "conn_max_lifetime": "5m",
            "conn_max_idle_time": "0",
        }
    }
    assert loaded["external_redis"] == {"host": "redis:6379", "password": "ext-redis", "sentinel_master_set": None}
    inline = _load(
        harbor_yml.render(
            _config(
                harbor_external_database={
                    "host": "db",
                    "port": 5432,
                    "db_name": "r",
                    "username": "h",
                    "password": "inline",
                }
            ),
            secrets,
        )
    )
    assert inline["external_database"]["harbor"]["password"] == "inline"


@pytest.mark.parametrize("value", NASTY)
def test_special_character_values_round_trip(value):
    secrets = HarborSecrets(Secret(value, "t"), Secret(value, "t"))
    loaded = _load(
        harbor_yml.render(
            _config(harbor_proxy={"no_proxy": value}, harbor_storage_service={"s3": {"secretkey": value}}), secrets
        )
    )
    assert loaded["harbor_admin_password"] == value
    assert loaded["database"]["password"] == value
    assert loaded["proxy"]["no_proxy"] == value
    assert loaded["storage_service"]["s3"]["secretkey"] == value


def test_storage_numbers_reach_the_registry_as_the_same_numbers_through_prepare():
    # prepare writes each driver setting raw but turns one that "== True" (1, 1.0) into
    # true (make/photon/prepare/utils/registry.py); numbers are rendered as strings, which
    # it writes as they are. The stand-in prepare's own function writes the lines here.
    settings = {"multipartcopymaxconcurrency": 1, "chunksize": 5242880, "ratio": 1.0, "encrypt": True, "v4auth": False}
    loaded = _load(harbor_yml.render(_config(harbor_storage_service={"s3": settings}), SECRETS))
    assert loaded["storage_service"]["s3"]["multipartcopymaxconcurrency"] == "1"
    registry = yaml.safe_load("  " + prepare.storage_provider_info("s3", loaded["storage_service"]["s3"]))
    assert registry == {"s3": settings}
    assert {name: type(value) for name, value in registry["s3"].items()} == {
        name: type(value) for name, value in settings.items()
    }


@pytest.mark.parametrize("key", ["harbor_trivy_timeout", "harbor_db_conn_max_lifetime", "harbor_db_conn_max_idle_time"])
def test_durations_are_rendered_as_strings_prepare_keeps(key):
    # prepare replaces an integer 0 by its default ("or '5m'"), keeps the string "0".
    loaded = _load(harbor_yml.render(_config(**{key: 0}), SECRETS))
    section, field = {
        "harbor_trivy_timeout": ("trivy", "timeout"),
        "harbor_db_conn_max_lifetime": ("database", "conn_max_lifetime"),
        "harbor_db_conn_max_idle_time": ("database", "conn_max_idle_time"),
    }[key]
    assert loaded[section][field] == "0"


def test_trace_is_rendered_with_its_secret_and_masked():
    trace = {
        "enabled": True,
        "sample_rate": 0.5,
        "namespace": "lab",
        "attributes": {"application": "harbor"},
        "jaeger": {
            "endpoint": "http://jaeger.example.org:14268/api/traces",
            "username": "u",
            "password": {"secret": "jaeger"},
        },
    }
    secrets = HarborSecrets(SECRETS.admin_password, SECRETS.db_password, referenced={"jaeger": Secret("Ja3gerPw", "t")})
    text = harbor_yml.render(_config(harbor_trace=trace), secrets)
    assert _load(text)["trace"] == {**trace, "jaeger": {**trace["jaeger"], "password": "Ja3gerPw"}}
    assert "Ja3gerPw" not in harbor_yml.masked(text)
    assert "trace" not in _load(harbor_yml.render(_config(), SECRETS))


def test_rendering_is_deterministic():
    first = harbor_yml.render(_config(harbor_storage_service={"s3": {"b": 1, "a": 2}}), SECRETS)
    second = harbor_yml.render(_config(harbor_storage_service={"s3": {"a": 2, "b": 1}}), SECRETS)
    assert first == second
    assert first.endswith("\n") and not first.endswith("\n\n")


@pytest.mark.parametrize("value", NASTY[:12] + ["Adm1nPassword"])
def test_masked_copy_hides_every_secret(value):
    secrets = HarborSecrets(
        Secret(value + "A", "t"), Secret(value + "D", "t"), Secret(value + "E", "t"), Secret(value + "R", "t")
    )
    text = harbor_yml.render(
        _config(
            harbor_external_database={"host": "db", "port": 5432, "db_name": "r", "username": "h"},
            harbor_external_redis={"host": "redis:6379"},
            harbor_storage_service={
                "s3": {"accesskey": "AKIA", "secretkey": value + "S"},
                "azure": {"accountkey": value + "K"},
            },
        ),
        secrets,
    )
    shown = harbor_yml.masked(text)
    for suffix in "ADERSK":
        assert (value + suffix) not in shown
    assert shown.count(MASK) == 7  # 4 passwords, every storage credential (accesskey too)
    assert "accesskey: AKIA" not in shown
    assert f"private_key: {SERVER_TLS_PRIVATE_KEY}" in shown
    assert len(shown.splitlines()) == len(text.splitlines())


def test_masked_copy_keeps_empty_values_visible():
    text = "external_redis:\n  host: r:6379\n  password: null\n"
    assert harbor_yml.masked(text) == text


HAND_MADE = """hostname: reg.example.org
harbor_admin_password: >-
  Adm1nFolded
  SecondLine

database:
  password: |
    Db1Literal
  max_idle_conns: 100
external_redis:
  host: redis:6379
  password: |2-
      Red1sIndented
storage_service:
  s3:
    secretkey: "S3cr3t
      QuotedGoesOn"
    bucket: b
proxy_token:
  T0kenNextLine
log:
  level: info
"""


def test_masked_copy_hides_block_scalars_and_values_over_several_lines():
    """A hand-made harbor.yml: a value in a block scalar, quoted over two lines, or on
    the line after its key, masked on every line; what follows is shown as it is."""
    assert yaml.safe_load(HAND_MADE)["harbor_admin_password"] == "Adm1nFolded SecondLine"
    shown = harbor_yml.masked(HAND_MADE)
    for secret in ("Adm1nFolded", "SecondLine", "Db1Literal", "Red1sIndented", "S3cr3t", "QuotedGoesOn", "T0ken"):
        assert secret not in shown
    assert shown.splitlines() == [
        "hostname: reg.example.org",
        f"harbor_admin_password: {MASK}",
        f"  {MASK}",
        f"  {MASK}",
        "",
        "database:",
        f"  password: {MASK}",
        f"    {MASK}",
        "  max_idle_conns: 100",
        "external_redis:",
        "  host: redis:6379",
        f"  password: {MASK}",
        f"      {MASK}",
        "storage_service:",
        "  s3:",
        f"    secretkey: {MASK}",
        f"      {MASK}",
        "    bucket: b",
        "proxy_token:",
        f"  {MASK}",
        "log:",
        "  level: info",
    ]


def test_a_list_item_after_a_masked_key_is_not_taken_for_its_value():
    text = "items:\n- password: S3cret\n  name: visible\n"
    assert harbor_yml.masked(text) == f"items:\n- password: {MASK}\n  name: visible\n"


def test_pyinfra_files_template_renders_the_same_bytes():
    config = _config(harbor_storage_service={"s3": {"bucket": "b"}})
    template = get_template(str(harbor_yml.TEMPLATE), dict(harbor_yml.JINJA_ENV_KWARGS))
    assert template.render(harbor_yml.context(config, SECRETS)) == harbor_yml.render(config, SECRETS)


def test_masking_covers_credential_sections_by_structure_and_urls_anywhere():
    text = harbor_yml.render(
        _config(
            harbor_storage_service={
                "gcs": {"bucket": "b", "encodedkey": "ENCODED", "keyfile": "/k.json"},
                "redirect": {"disable": True},
            },
            harbor_proxy={
                "http_proxy": "http://me:Pr0xy@proxy:3128",
                "https_proxy": "http://proxy:3128",
                "no_proxy": "127.0.0.1",
                "components": ["core"],
            },
            harbor_log_external_endpoint={"protocol": "tcp", "host": "logs", "port": 514},
            harbor_external_url="https://user:T0ken@harbor.example.org",
        ),
        SECRETS,
    )
    shown = harbor_yml.masked(text)
    for secret in ("ENCODED", "/k.json", "Pr0xy", "T0ken"):
        assert secret not in shown
    for visible in (
        "bucket: b",
        "disable: true",
        "http://*****@proxy:3128",
        "https_proxy: http://proxy:3128",
        "no_proxy: 127.0.0.1",
        "- core",
        "host: logs",
        "port: 514",
        "external_url: https://*****@harbor.example.org",
    ):
        assert visible in shown, visible


def test_a_database_brought_offline_turns_its_downloads_off_and_scans_offline():
    # goharbor/harbor#17623: skip_update alone leaves a first run without a database;
    # with the bundle placed, nothing is downloaded and nothing looked up.
    plain = _load(harbor_yml.render(_config(), SECRETS, "v2.13.1"))["trivy"]
    assert (plain["skip_update"], plain["skip_java_db_update"], plain["offline_scan"]) == (False, False, False)
    offline = _load(harbor_yml.render(_config(harbor_trivy_offline_db="/tmp/db.tar.gz"), SECRETS, "v2.13.1"))["trivy"]
    assert (offline["skip_update"], offline["skip_java_db_update"], offline["offline_scan"]) == (True, False, True)
    both = _config(harbor_trivy_offline_db="/tmp/db.tar.gz", harbor_trivy_offline_java_db="/tmp/javadb.tar.gz")
    assert _load(harbor_yml.render(both, SECRETS, "v2.13.1"))["trivy"]["skip_java_db_update"] is True


@pytest.mark.parametrize(
    ("loggers", "nodes", "rendered"),
    [
        (["STD_OUTPUT", "FILE"], 1, ["STD_OUTPUT", "FILE"]),
        # Several nodes: a FILE log stays on the node that ran the job; DB is read from any node.
        (["STD_OUTPUT", "FILE"], 2, ["STD_OUTPUT", "FILE", "DB"]),
        (["DB"], 3, ["DB"]),
    ],
)
def test_several_nodes_log_jobs_in_the_database_too(loggers, nodes, rendered):
    config = _config(harbor_jobservice_job_loggers=loggers)
    assert _load(harbor_yml.render(config, SECRETS, nodes=nodes))["jobservice"]["job_loggers"] == rendered
