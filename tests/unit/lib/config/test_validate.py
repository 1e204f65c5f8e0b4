"""Validation collects every problem at once, by key, and never shows a secret."""

import datetime

import pytest
import yaml

from harbor_deploy.lib.config import readers, validate
from harbor_deploy.lib.config.defaults import with_controller_paths
from harbor_deploy.lib.config.secrets import HarborSecrets, Secret, load_secrets
from harbor_deploy.lib.config.validate import ConfigError, problems, validated
from harbor_deploy.lib.render import harbor_yml, tls
from tests.conftest import ROOT

HOST = "harbor.lab.internal"
GOOD_SECRETS = HarborSecrets(Secret("Str0ngAdminPass", "generated"), Secret("Str0ngDbPass", "generated"))


def _keys(data, secrets=None, **kwargs):
    return [key for key, _ in problems({"harbor_hostname": HOST, **data}, secrets, **kwargs)]


def _why(data, key, secrets=None):
    return [why for k, why in problems({"harbor_hostname": HOST, **data}, secrets) if k == key]


def test_minimal_data_is_valid_and_merged():
    config = validated({"harbor_hostname": HOST, "ssh_user": "root"}, GOOD_SECRETS)
    assert config["harbor_hostname"] == HOST
    assert config["harbor_https_port"] == 8443


def test_full_custom_data_is_valid(tmp_path):
    installer = tmp_path / "harbor-offline-installer-v2.12.2.tgz"
    installer.write_bytes(b"x")
    data = {
        "harbor_hostname": "10.1.2.3",
        "harbor_version": "v2.12.2",
        "harbor_installer_source": "file",
        "harbor_installer_file": str(installer),
        "harbor_installer_sha256": "a" * 64,
        "harbor_tls_mode": "http",
        "harbor_http_port": 80,
        "harbor_https_port": 80,
        "harbor_external_url": "https://registry.example.com",
        "harbor_log_external_endpoint": {"protocol": "udp", "host": "syslog", "port": 514},
        "harbor_metric": {"enabled": True, "port": 9091},
        "harbor_cache": {"enabled": True},
        "harbor_upload_purging": {"age": "2h", "interval": "2h"},
        "harbor_storage_service": {"s3": {"bucket": "b", "region": "r"}, "redirect": {"disable": True}},
        "harbor_external_database": {
            "host": "db",
            "port": 5432,
            "db_name": "registry",
            "username": "harbor",
            "password": "pw",
            "ssl_mode": "require",
        },
        "harbor_external_redis": {"host": "redis:6379"},
        "harbor_db_conn_max_idle_time": "10m",
        "harbor_db_conn_max_lifetime": 0,
        "harbor_log_rotate_size": 1048576,
        "harbor_tls_extra_sans": ["*.example.com", "::1"],
        "harbor_proxy": {"http_proxy": "http://proxy:3128", "components": ["core"]},
    }
    assert problems(data, GOOD_SECRETS) == []


def test_every_problem_is_reported_at_once_naming_each_key():
    data = {
        "harbor_hostname": "localhost",
        "harbor_version": "2.13",
        "harbor_http_port": 0,
        "harbor_log_level": "verbose",
        "harbor_data_volume": "data",
    }
    with pytest.raises(ConfigError) as raised:
        validated(data)
    keys = [key for key, _ in raised.value.problems]
    assert sorted(keys) == sorted(
        ["harbor_hostname", "harbor_version", "harbor_http_port", "harbor_data_volume", "harbor_log_level"]
    )
    for key in keys:
        assert key in str(raised.value)
    assert str(raised.value).startswith("5 problem(s)")


@pytest.mark.parametrize(
    "hostname, why",
    [
        (None, "required"),
        ("", "required"),
        ("localhost", "loopback"),
        ("127.0.0.1", "loopback"),
        ("127.0.1.1", "loopback"),
        ("::1", "IPv6"),
        ("fd00::5", "without brackets"),
        ("reg.mydomain.com", "placeholder"),
        ("https://harbor.example", "without scheme"),
        ("harbor.example:8443", "without scheme, port"),
        ("under_score.example", "not a valid DNS name"),
        ("-bad.example", "not a valid DNS name"),
    ],
)
def test_bad_hostnames(hostname, why):
    found = problems({"harbor_hostname": hostname})
    assert len(found) == 1 and found[0][0] == "harbor_hostname"
    assert why in found[0][1]


@pytest.mark.parametrize("hostname", ["harbor.lab.internal", "10.0.0.5", "harbor"])
def test_good_hostnames(hostname):
    assert problems({"harbor_hostname": hostname}) == []


@pytest.mark.parametrize(
    "version, ok",
    [
        ("v2.13.1", True),
        ("latest", True),
        ("v2.0.0", True),
        ("v10.1.0", True),
        ("v1.10.17", False),
        ("2.13.1", False),
        ("v2.13", False),
        ("v2.13.1-rc1", False),
        ("", False),
    ],
)
def test_versions(version, ok):
    assert (_keys({"harbor_version": version}) == []) is ok


def test_ports_must_be_valid_and_distinct():
    assert _why({"harbor_http_port": 70000}, "harbor_http_port") == ["must be an integer from 1 to 65535"]
    assert _why({"harbor_http_port": True}, "harbor_http_port") == ["must be an integer from 1 to 65535"]
    assert _why({"harbor_https_port": 8081}, "harbor_https_port") == ["port 8081 is also used by harbor_http_port"]
    assert _why({"harbor_metric": {"enabled": True, "port": 8443}}, "harbor_metric") == [
        "port 8443 is also used by harbor_https_port"
    ]
    assert _why({"harbor_http_port": 1514}, "harbor_http_port") == ["port 1514 is taken by harbor-log (127.0.0.1:1514)"]


def test_https_port_is_irrelevant_without_tls():
    assert _keys({"harbor_tls_mode": "http", "harbor_https_port": 8081}) == []
    assert _keys({"harbor_metric": {"enabled": False, "port": 8081}}) == []


def test_installer_source_rules(tmp_path):
    assert _keys({"harbor_installer_source": "ftp"}) == ["harbor_installer_source"]
    assert _why({"harbor_installer_source": "mirror"}, "harbor_mirror_url") == [
        "required when harbor_installer_source is mirror"
    ]
    assert _keys({"harbor_installer_source": "mirror", "harbor_mirror_url": "mirror.local"}) == ["harbor_mirror_url"]
    assert _keys({"harbor_installer_source": "mirror", "harbor_mirror_url": "https://mirror.local/github"}) == []
    assert _why({"harbor_installer_source": "file"}, "harbor_installer_file") == [
        "required when harbor_installer_source is file"
    ]
    missing = tmp_path / "nope.tgz"
    assert _why(
        {"harbor_installer_source": "file", "harbor_installer_file": str(missing)}, "harbor_installer_file"
    ) == [f"no such file on the controller: {missing}"]
    assert _keys({"harbor_github_token_env": "MY TOKEN"}) == ["harbor_github_token_env"]
    bundle = tmp_path / "harbor-offline-installer-v2.13.1.tgz"
    bundle.write_bytes(b"x")
    [why] = _why({"harbor_installer_source": "file", "harbor_installer_file": str(bundle)}, "harbor_installer_sha256")
    assert why.startswith("required as harbor_installer_source is file: nothing else vouches for the bundle")
    assert (
        _keys(
            {
                "harbor_installer_source": "file",
                "harbor_installer_file": str(bundle),
                "harbor_installer_sha256": "a" * 64,
            }
        )
        == []
    )


@pytest.mark.parametrize(
    "pin", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, 123, {}, {"2.13.1": "a" * 64}, {"v2.13.1": "a" * 63}]
)
def test_sha256_pin_must_be_full_lowercase_hex_alone_or_by_release(pin):
    assert _why({"harbor_installer_sha256": pin}, "harbor_installer_sha256") == [
        "must be the full sha256 (64 lowercase hex digits) of the offline installer, or "
        "{vX.Y.Z: sha256} of each release allowed"
    ]
    assert _keys({"harbor_installer_sha256": {"v2.13.1": "a" * 64, "v2.14.0": "b" * 64}}) == []


@pytest.mark.parametrize(
    "source, why",
    [
        ({"harbor_installer_source": "mirror", "harbor_mirror_url": "http://127.0.0.1:8000"}, "harbor_mirror_url "
         "http://127.0.0.1:8000 is plain HTTP"),
        ({"harbor_installer_source": "file", "harbor_installer_file": "README.md"}, "harbor_installer_source is file"),
    ],
)  # fmt: skip
def test_an_installer_over_plain_http_or_from_a_file_needs_a_sha256_pin(source, why, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert _why(source, "harbor_installer_sha256") == [
        f"required as {why}: nothing else vouches for the bundle (an md5sum would come the same way); pin the "
        "sha256 of the offline installer you trust, or {vX.Y.Z: sha256} of each release allowed"
    ]
    assert _keys({**source, "harbor_installer_sha256": "a" * 64}) == []
    assert _keys({**source, "harbor_installer_sha256": {"v2.13.1": "a" * 64}}) == []
    assert _keys({**source, "harbor_version": "latest", "harbor_installer_sha256": {"v2.13.1": "a" * 64}}) == []
    assert _why({**source, "harbor_installer_sha256": {"v2.12.0": "a" * 64}}, "harbor_installer_sha256") == [
        f"pins no sha256 for harbor_version v2.13.1, and {why}: add it"
    ]


def test_offline_trivy_databases_are_files_of_a_harbor_with_trivy(tmp_path):
    bundle = tmp_path / "db.tar.gz"
    bundle.write_bytes(b"bundle")
    assert _keys({"harbor_trivy_offline_db": str(bundle)}) == []
    assert _why({"harbor_trivy_offline_db": str(tmp_path / "none.tar.gz")}, "harbor_trivy_offline_db") == [
        f"no such file on the controller: {tmp_path / 'none.tar.gz'}"
    ]
    assert _why({"harbor_trivy_offline_db": str(bundle), "harbor_with_trivy": False}, "harbor_trivy_offline_db") == [
        "needs harbor_with_trivy: without Trivy no adapter reads it"
    ]
    assert _why({"harbor_trivy_offline_java_db": str(bundle)}, "harbor_trivy_offline_java_db") == [
        "needs harbor_trivy_offline_db: Trivy scans with its vulnerability database"
    ]


def _write_pair(directory, hostname, now=None):
    _, files = tls.plan_generated({}, hostname, now=now)
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return str(directory / "server.crt"), str(directory / "server.key")


def test_provided_tls_needs_certificate_and_key():
    found = problems({"harbor_hostname": HOST, "harbor_tls_mode": "provided"})
    assert found == [
        ("harbor_tls_certificate", "required when harbor_tls_mode is provided"),
        ("harbor_tls_private_key", "required when harbor_tls_mode is provided"),
    ]


def test_provided_tls_pair_is_checked(tmp_path):
    cert, key = _write_pair(tmp_path / "a", HOST)
    good = {"harbor_tls_mode": "provided", "harbor_tls_certificate": cert, "harbor_tls_private_key": key}
    assert _keys(good) == []
    assert _keys({**good, "harbor_tls_chain": str(tmp_path / "a" / "ca.crt")}) == []
    _, other_key = _write_pair(tmp_path / "b", HOST)
    assert _why({**good, "harbor_tls_private_key": other_key}, "harbor_tls_certificate") == [
        "private key does not match the certificate"
    ]
    long_ago = datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC)
    old_cert, old_key = _write_pair(tmp_path / "c", HOST, now=long_ago)
    assert _why(
        {**good, "harbor_tls_certificate": old_cert, "harbor_tls_private_key": old_key}, "harbor_tls_certificate"
    )[0].startswith("certificate expired on")
    wrong_cert, wrong_key = _write_pair(tmp_path / "d", "other.example")
    assert _why(
        {**good, "harbor_tls_certificate": wrong_cert, "harbor_tls_private_key": wrong_key}, "harbor_tls_certificate"
    ) == [f"certificate subjectAltName does not cover {HOST}"]
    (tmp_path / "junk.pem").write_text("junk")
    assert _why({**good, "harbor_tls_chain": str(tmp_path / "junk.pem")}, "harbor_tls_chain") == [
        "not a PEM certificate chain"
    ]
    # The chain is what clients trust: another CA's is refused before any change.
    assert _why({**good, "harbor_tls_chain": str(tmp_path / "b" / "ca.crt")}, "harbor_tls_chain") == [
        f"does not verify the certificate: nothing in it signed CN={HOST}"
    ]


@pytest.mark.parametrize("hostname", [["harbor.lab.internal"], 5, True])
def test_a_hostname_that_is_not_a_string_is_named_once_even_beside_a_provided_certificate(tmp_path, hostname):
    cert, key = _write_pair(tmp_path, HOST)
    data = {"harbor_tls_mode": "provided", "harbor_tls_certificate": cert, "harbor_tls_private_key": key}
    assert problems({**data, "harbor_hostname": hostname}) == [("harbor_hostname", "must be a string")]


def test_tls_mode_and_sans():
    assert _keys({"harbor_tls_mode": "self-signed"}) == ["harbor_tls_mode"]
    assert _keys({"harbor_tls_extra_sans": ["ok.example", "bad name"]}) == ["harbor_tls_extra_sans"]
    assert _keys({"harbor_tls_extra_sans": "ok.example"}) == ["harbor_tls_extra_sans"]


def test_storage_service_rules():
    key = "harbor_storage_service"
    assert _keys({key: {"filesystem": {"maxthreads": 100}}}) == []
    assert _keys({key: {"filesystem": {}}}) == []
    assert _why({key: {"minio": {"x": 1}}}, key) == [
        "storage driver 'minio' is not one of filesystem, azure, gcs, s3, swift, oss"
    ]
    assert _why({key: {"s3": {}}}, key) == ["driver s3 needs its configuration"]
    assert _why({key: {"s3": {"a": 1}, "gcs": {"b": 1}}}, key) == [
        "must name exactly one storage driver of filesystem, azure, gcs, s3, swift, oss"
    ]
    assert _why({key: {"s3": {"a": 1}, "ca_bundle": "ca.pem"}}, key) == [
        "ca_bundle must be an absolute path on the server"
    ]


def test_a_storage_driver_setting_must_be_one_value_prepare_can_write_on_one_line():
    # prepare writes "<name>: <value>" per setting, the value as Python prints it
    # (make/photon/prepare/utils/registry.py get_storage_provider_info).
    key = "harbor_storage_service"
    found = dict(problems({"harbor_hostname": HOST, key: {"s3": {"bucket": "b", "tags": ["a"], "x": {"y": 1}}}}))
    assert list(found) == [f"{key}.s3.tags", f"{key}.s3.x"]
    assert "must be a single value" in found[f"{key}.s3.tags"]
    assert _why({key: {"s3": {"bucket": "b", "bad name": 1}}}, f"{key}.s3") == [
        "setting 'bad name' must be a name of letters, digits and _ (prepare writes it raw)"
    ]
    assert _keys({key: {"s3": {"bucket": "b", "secretkey": {"secret": "s3_secretkey"}}}}) == []  # a reference


@pytest.mark.parametrize(
    "value", ["1e3", "1.5e3", "0o17", "0x1f", "017", "1_000", "y", "n", "on", "Off", "~", "2024-01-31"]
)
def test_a_storage_string_the_registry_reads_as_another_type_is_refused(value):
    # The registry resolves its config.yml with Go's yaml.v2 (YAML 1.1), prepare writes
    # the value unquoted: "1e3" arrives as the number 1000, "y" as true.
    found = dict(problems({"harbor_hostname": HOST, "harbor_storage_service": {"s3": {"bucket": value}}}))
    assert "registry's config.yml" in found["harbor_storage_service.s3.bucket"]


@pytest.mark.parametrize("value", ["bucket-1", "10.0.0.5:9000", "1a", "eu-west-1", "0.5.2", "+x", "yesterday"])
def test_a_storage_string_the_registry_reads_as_a_string_is_accepted(value):
    assert _keys({"harbor_storage_service": {"s3": {"bucket": value}}}) == []


def test_external_database_needs_its_fields():
    key = "harbor_external_database"
    why = _why({key: {"host": "db", "password": "pw"}}, key)
    assert why == ["port is required", "db_name is required", "username is required"]
    complete = {"host": "db", "port": 5432, "db_name": "registry", "username": "harbor"}
    assert _why({key: {**complete, "prot": 1}}, key) == ["unknown field 'prot' (did you mean port?)"]
    assert _why({key: complete}, key, GOOD_SECRETS)[0].startswith(
        "password is required: in the dict, in HARBOR_EXTERNAL_DB_PASSWORD"
    )
    with_secret = HarborSecrets(
        GOOD_SECRETS.admin_password, GOOD_SECRETS.db_password, external_db_password=Secret("pw", "env")
    )
    assert _why({key: complete}, key, with_secret) == []


def test_external_database_values_docker_compose_would_change_are_refused_naming_the_field():
    database = {"host": "db", "port": 5432, "db_name": "registry", "username": "harbor", "password": "Pw-1"}
    for field, value in (("username", "u$er"), ("db_name", "reg#1$"), ("host", " db"), ("password", "'Pw-1'")):
        found = problems({"harbor_hostname": HOST, "harbor_external_database": {**database, field: value}})
        assert [key for key, _ in found] == [f"harbor_external_database.{field}"]
        assert value not in str(ConfigError(found))


@pytest.mark.parametrize(
    "field, value, why",
    [
        ("password", "Pass word1", "contains a blank"),
        ("password", "Pass\tword1", "contains a blank"),
        ("password", "back\\slash1", "contains a backslash"),
        ("password", "trailing1\\", "contains a backslash"),
        ("password", "q\\'uote1", "contains a backslash"),
        ("username", "har bor", "contains a blank"),
        ("db_name", "reg\\istry", "contains a backslash"),
        ("host", "db1,db2", "must be a DNS name or an IP address"),
        ("host", "/var/run/postgresql", "must be a DNS name or an IP address"),
    ],
)
def test_a_value_harbors_database_connection_string_would_split_or_unescape_is_refused(field, value, why):
    # Harbor builds "host=%s port=%s user=%s password=%s dbname=%s sslmode=%s" unquoted
    # (src/common/dao/pgsql.go): pgx reads "Pass word1" as "Pass", "a\\b" as "a\b".
    database = {"host": "db", "port": 5432, "db_name": "registry", "username": "harbor", "password": "Pw-1"}
    found = dict(problems({"harbor_hostname": HOST, "harbor_external_database": {**database, field: value}}))
    assert list(found) == [f"harbor_external_database.{field}"]
    assert why in found[f"harbor_external_database.{field}"] and value not in str(found)


@pytest.mark.parametrize("name", ["db_password", "external_db_password"])
def test_a_database_password_the_connection_string_would_change_is_refused_from_the_secrets_too(name):
    database = {"host": "db.example", "port": 5432, "db_name": "registry", "username": "harbor"}
    data = {"harbor_hostname": HOST}
    if name == "external_db_password":
        data["harbor_external_database"] = database
    for value, why in (("Pass word1", "contains a blank"), ("Pass\\word1", "contains a backslash")):
        found = dict(problems(data, secrets_with(**{name: Secret(value, "env X")})))
        assert why in found[f"{name} (env X)"] and value not in str(found)


def test_the_same_redis_password_is_judged_alike_inline_and_from_the_secrets():
    # It reaches Harbor URL-quoted in Redis URLs and raw in the registry's config.yml,
    # never raw in an env file: "$" is fine, a YAML indicator is not, from any source.
    redis = {"host": "redis:6379"}
    for value, ok in (("Red1s$ecret", True), ("'quoted'", False), ("a #b", False)):
        inline = dict(problems({"harbor_hostname": HOST, "harbor_external_redis": {**redis, "password": value}}))
        secret = dict(
            problems(
                {"harbor_hostname": HOST, "harbor_external_redis": redis},
                secrets_with(external_redis_password=Secret(value, "env X")),
            )
        )
        assert (inline == {}) is ok and (secret == {}) is ok, value
        assert list(inline) in ([], ["harbor_external_redis.password"])


def test_a_redis_username_is_refused_as_the_registry_never_gets_it():
    found = dict(problems({"harbor_hostname": HOST, "harbor_external_redis": {"host": "r:6379", "username": "u"}}))
    assert "goharbor/harbor#18892" in found["harbor_external_redis.username"]


def test_redis_tls_needs_its_root_ca_as_prepare_reads_it():
    key = "harbor_external_redis.tlsOptions"
    redis = {"host": "r:6379"}
    assert "KeyError: 'rootCA'" in _why({"harbor_external_redis": {**redis, "tlsOptions": {"enable": True}}}, key)[0]
    assert _why({"harbor_external_redis": {**redis, "tlsOptions": {"enable": True, "rootCA": "ca.crt"}}}, key) == [
        "rootCA must be an absolute path on the server"
    ]
    assert _keys({"harbor_external_redis": {**redis, "tlsOptions": {"enable": True, "rootCA": "/etc/r/ca.crt"}}}) == []
    assert _keys({"harbor_external_redis": {**redis, "tlsOptions": {"enable": False}}}) == []


@pytest.mark.parametrize(
    "data, key, why",
    [
        ({"harbor_db_max_idle_conns": 0}, "harbor_db_max_idle_conns", "prepare replaces 0 by 2"),
        (
            {
                "harbor_external_database": {
                    "host": "db",
                    "port": 1,
                    "db_name": "r",
                    "username": "u",
                    "password": "p",
                    "max_idle_conns": 0,
                }
            },
            "harbor_external_database.max_idle_conns",
            "prepare replaces 0 by 2",
        ),
        (
            {"harbor_external_redis": {"host": "r:1", "registry_db_index": 0}},
            "harbor_external_redis.registry_db_index",
            "by 1",
        ),
        (
            {"harbor_external_redis": {"host": "r:1", "jobservice_db_index": 0}},
            "harbor_external_redis.jobservice_db_index",
            "by 2",
        ),
        (
            {"harbor_external_redis": {"host": "r:1", "trivy_db_index": 0}},
            "harbor_external_redis.trivy_db_index",
            "by 5",
        ),
        (
            {"harbor_external_redis": {"host": "r:1", "idle_timeout_seconds": 0}},
            "harbor_external_redis.idle_timeout_seconds",
            "by 30",
        ),
        (
            {"harbor_jobservice_max_job_duration_hours": 23},
            "harbor_jobservice_max_job_duration_hours",
            "raises a smaller value to 24",
        ),
    ],
)
def test_a_value_prepare_replaces_is_refused(data, key, why):
    # make/photon/prepare/utils/configs.py: "x or default" drops a 0; job durations under 24 become 24.
    assert why in " ".join(_why(data, key))


def test_values_prepare_keeps_are_accepted():
    assert _keys({"harbor_db_max_idle_conns": -1, "harbor_jobservice_max_job_duration_hours": 24}) == []
    # harbor_db_index and cache_layer_db_index: 0 is Harbor's default for them anyway.
    assert _keys({"harbor_external_redis": {"host": "r:1", "harbor_db_index": 0, "cache_layer_db_index": 0}}) == []


@pytest.mark.parametrize(
    "value, ok",
    [
        ("5m", True),
        ("1h30m", True),
        ("0", True),
        (0, True),
        ("-1.5h", True),
        (".5s", True),
        ("300µs", True),
        (600, False),
        ("600", False),
        ("5 m", False),
        ("", False),
        ("5m\n", False),
        (False, False),
    ],
)
def test_durations_are_what_gos_parse_duration_reads(value, ok):
    for key in ("harbor_trivy_timeout", "harbor_db_conn_max_lifetime", "harbor_db_conn_max_idle_time"):
        assert (_keys({key: value}) == []) is ok, key


def test_strong_ciphers_need_tls():
    assert _why(
        {"harbor_tls_mode": "http", "harbor_tls_strong_ssl_ciphers": True}, "harbor_tls_strong_ssl_ciphers"
    ) == ["has no effect without TLS (harbor_tls_mode is http)"]
    assert _keys({"harbor_tls_strong_ssl_ciphers": True}) == []


@pytest.mark.parametrize(
    "trace, why",
    [
        ({"enabled": True}, "needs exactly one exporter"),
        ({"enabled": True, "jaeger": {"endpoint": "http://j:14268"}, "otel": {"endpoint": "o:4318"}}, "exactly one"),
        ({"enabled": True, "jaeger": {"endpoint": "http://j:14268", "agent_host": "j"}}, "one of them"),
        ({"enabled": True, "jaeger": {"username": "u"}}, "one of them"),
        ({"enabled": True, "otel": {"endpoint": "o:4318"}}, "its endpoint and its url_path"),
        ({"otel": {"endpoint": "o:4318", "timeout": 0}}, "timeout must be an integer >= 1"),
        ({"sample_rate": 2}, "sample_rate must be a number from 0 to 1"),
    ],
)
def test_trace_is_refused_as_prepare_would_refuse_or_replace_it(trace, why):
    # make/photon/prepare/models.py Trace.validate; OtelExporter's "timeout or '10'".
    assert why in " ".join(_why({"harbor_trace": trace}, "harbor_trace"))


def test_trace_values_go_through_env_files():
    trace = {"enabled": True, "jaeger": {"agent_host": "j", "agent_port": 6831, "password": "pa$s"}}
    found = dict(problems({"harbor_hostname": HOST, "harbor_trace": trace}))
    assert "'$'" in found["harbor_trace.jaeger.password"] and "pa$s" not in str(found)
    attributes = {"enabled": False, "attributes": {"team": "a #b"}}
    assert "comment" in dict(problems({"harbor_hostname": HOST, "harbor_trace": attributes}))["harbor_trace.attributes"]
    good = {"enabled": True, "otel": {"endpoint": "otel.example.org:4318", "url_path": "/v1/traces", "timeout": 5}}
    assert _keys({"harbor_trace": good}) == []


def test_external_redis_needs_a_host():
    assert _why({"harbor_external_redis": {"password": "x"}}, "harbor_external_redis") == ["host is required"]


@pytest.mark.parametrize("host", ["redis:6379", "s1.example:26379,s2.example:26379,10.0.0.3:26379"])
def test_external_redis_host_is_host_and_port(host):
    assert _keys({"harbor_external_redis": {"host": host}}) == []


@pytest.mark.parametrize("host", ["redis", "redis:6379 #main", "a: b", "redis:6379/0", "redis:port"])
def test_external_redis_host_that_is_not_host_and_port_is_refused(host):
    assert _why({"harbor_external_redis": {"host": host}}, "harbor_external_redis") == [
        "host must be <host>:<port> (Sentinel: <host>:<port>,<host>:<port>,...)"
    ]


def test_external_redis_fields_are_checked_where_prepare_writes_them_raw():
    redis = {"host": "redis:6379"}
    assert _why({"harbor_external_redis": {**redis, "registry_db_index": "1: x"}}, "harbor_external_redis") == [
        "registry_db_index must be an integer"
    ]
    assert _why({"harbor_external_redis": {**redis, "db_index": 1}}, "harbor_external_redis") == [
        "unknown field 'db_index' (did you mean trivy_db_index?)"
    ]
    found = dict(problems({"harbor_hostname": HOST, "harbor_external_redis": {**redis, "password": "a: b"}}))
    assert "registry's config.yml" in found["harbor_external_redis.password"]
    assert _why({"harbor_external_redis": {**redis, "sentinel_master_set": "m 1"}}, "harbor_external_redis") == [
        "sentinel_master_set must be a name of letters, digits and . _ -"
    ]


def test_log_rules():
    assert _why({"harbor_log_level": "INFO"}, "harbor_log_level") == [
        "must be one of debug, info, warning, error, fatal"
    ]
    key = "harbor_log_external_endpoint"
    assert _why({key: {"protocol": "http", "host": "", "port": "514"}}, key) == [
        "host must not be empty",
        "port must be an integer from 1 to 65535",
        "protocol must be one of tcp, udp",
    ]
    assert _keys({"harbor_log_rotate_size": "200MB"}) == ["harbor_log_rotate_size"]
    assert _why({key: {"protocol": "tcp", "host": "logs #1", "port": 514}}, key) == [
        "host must be a DNS name or an IP address"
    ]


def test_a_log_rotation_of_0_is_refused_as_harbor_would_take_its_default():
    assert _why({"harbor_log_rotate_count": 0}, "harbor_log_rotate_count") == [
        "must be how many rotated files to keep: 1 or more, or -1 for all"
    ]
    assert _keys({"harbor_log_rotate_count": -1}) == []
    assert _keys({"harbor_log_rotate_size": 0}) == ["harbor_log_rotate_size"]
    assert _keys({"harbor_log_rotate_size": "0"}) == []  # a string: Harbor keeps it


@pytest.mark.parametrize(
    "key, value",
    [
        ("harbor_jobservice_max_job_workers", 10.0),
        ("harbor_log_rotate_count", 5.0),
        ("harbor_cache", {"expire_hours": 24.0}),
        ("harbor_external_redis", {"host": "redis:6379", "registry_db_index": 1.0}),
    ],
)
def test_a_float_is_not_an_integer(key, value):
    # harbor.yml would hold 10.0, which Harbor's Go programs refuse for an integer.
    assert _keys({key: value}) == [key]


@pytest.mark.parametrize("path, ok", [("/metrics", True), ("/m/x-1.2_~", True), ("/a b", False), ("/a;b", False)])
def test_metric_path_is_a_plain_url_path_nginx_takes_as_it_is(path, ok):
    assert (_keys({"harbor_metric": {"enabled": True, "path": path}}) == []) is ok


@pytest.mark.parametrize("age, ok", [("168h", True), ("2h", True), ("1h", False), ("7d", False), (168, False)])
def test_upload_purging_hours(age, ok):
    assert (_keys({"harbor_upload_purging": {"age": age}}) == []) is ok


def test_cache_expiry_must_be_positive_when_enabled():
    assert _keys({"harbor_cache": {"enabled": True, "expire_hours": 0}}) == ["harbor_cache"]
    assert _keys({"harbor_cache": {"enabled": False, "expire_hours": 0}}) == []


@pytest.mark.parametrize("checks, ok", [("vuln", True), ("vuln,secret,config", True), ("vuln, secret", False)])
def test_trivy_security_checks_are_a_list_of_known_checks(checks, ok):
    assert (_keys({"harbor_trivy_security_check": checks}) == []) is ok


def test_paths_and_durations():
    assert _keys({"harbor_data_volume": "data"}) == ["harbor_data_volume"]
    assert _keys({"harbor_trivy_timeout": "5 minutes"}) == ["harbor_trivy_timeout"]
    assert _keys({"harbor_external_url": "registry.example.com"}) == ["harbor_external_url"]


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://registry.example.com", True),
        ("http://10.0.0.5:8080/", True),
        ("https://[fd00::5]:8443", True),
        ("https://reg$istry.example.com", False),
        ("https://registry.example.com:99999", False),
        ("https://user@registry.example.com", False),
        ("https://registry.example.com #x", False),
        ("https://registry.example.com/harbor", False),
    ],
)
def test_external_url_is_scheme_host_and_port(url, ok):
    # Harbor writes it raw into env files, the registry's config.yml and nginx.
    assert (_keys({"harbor_external_url": url}) == []) is ok


def test_unknown_keys_suggest_the_closest_known_key():
    assert problems({"harbor_hostname": HOST, "harbor_htps_port": 443}) == [
        ("harbor_htps_port", "unknown key (did you mean harbor_https_port?)")
    ]
    assert _why({"harbor_zzz": 1}, "harbor_zzz") == ["unknown key"]
    assert _why({"harbor_metric": {"enable": True}}, "harbor_metric") == [
        "unknown field 'enable' (did you mean enabled?)"
    ]


def test_other_deploys_keys_can_be_declared_known():
    assert _keys({"harbor_client_users": ["jenkins"]}, other_keys=["harbor_client_users"]) == []


def test_type_mistakes_are_reported_once():
    assert problems(
        {
            "harbor_hostname": HOST,
            "harbor_installer_source": "file",
            "harbor_installer_file": 42,
            "harbor_installer_sha256": "a" * 64,
        }
    ) == [("harbor_installer_file", "must be a string")]
    assert problems({"harbor_hostname": HOST, "harbor_with_trivy": "yes"}) == [
        ("harbor_with_trivy", "must be true or false")
    ]
    assert problems({"harbor_hostname": HOST, "harbor_metric": True}) == [("harbor_metric", "must be a dict")]


SECRET = "Pa55:w0rd#\"'$"


def test_secrets_in_inventory_are_refused_without_echo():
    found = problems({"harbor_hostname": HOST, "harbor_admin_password": SECRET})
    assert found[0][0] == "harbor_admin_password"
    assert "HARBOR_ADMIN_PASSWORD" in found[0][1]
    assert SECRET not in str(ConfigError(found))


@pytest.mark.parametrize(
    "admin, db, bad",
    [
        ("Harbor12345", "Str0ngDbPass", ["admin_password"]),
        ("", "Str0ngDbPass", ["admin_password"]),
        ("Str0ngAdminPass", "root123", ["db_password"]),
        ("Str0ngAdminPass", "", ["db_password"]),
        ("alllowercase1", "x", ["admin_password"]),
    ],
)
def test_explicit_default_or_empty_passwords_are_rejected(admin, db, bad):
    secrets = HarborSecrets(Secret(admin, "env HARBOR_ADMIN_PASSWORD"), Secret(db, "env HARBOR_DB_PASSWORD"))
    with pytest.raises(ConfigError) as raised:
        validated({"harbor_hostname": HOST}, secrets)
    assert [key for key, _ in raised.value.problems] == bad
    message = str(raised.value)
    for value in (admin, db):
        if value:
            assert f"{value} " not in message and not message.endswith(value)
    assert "env HARBOR_" in message


def test_no_secret_value_appears_in_any_message(tmp_path):
    data = {
        "harbor_hostname": HOST,
        "harbor_external_database": {"host": "db", "password": SECRET},
        "harbor_external_redis": {"password": SECRET},
        "harbor_storage_service": {"s3": {"secretkey": SECRET}, "swift": {"password": SECRET}},
        "harbor_db_password": SECRET,
    }
    secrets = HarborSecrets(Secret(SECRET, "env HARBOR_ADMIN_PASSWORD"), Secret(SECRET, "file x"))
    message = str(ConfigError(problems(data, secrets)))
    assert SECRET not in message
    assert "harbor_external_database" in message and "harbor_db_password" in message


# --- values that must reach Harbor unchanged --------------------------------------


@pytest.mark.parametrize(
    "value, why",
    [
        ("pa$word1A", "'$'"),
        ("Abc #def1", "blank followed by '#'"),
        ("'Quoted1a'", "starts with a quote"),
        ('"Open1abc', "starts with a quote"),
        (" Padded1a", "starts or ends with a blank"),
        ("Line1a\nbreak", "line break"),
        ("Nul1a\x00byte", "NUL"),
    ],
)
def test_env_file_values_docker_compose_would_change_are_refused(value, why):
    assert why in readers.env_file_problem(value)


@pytest.mark.parametrize(
    "value", ["Qu'ote\"d1a", "at@bang!pct%", "ünïcødé-Pass1", "x" * 127 + "A", "hash#inside1A", "back\\slash1A"]
)
def test_awkward_but_safe_values_pass_the_env_file_rules(value):
    assert readers.env_file_problem(value) is None


@pytest.mark.parametrize(
    "value, ok",
    [
        ("Plain-Secret_1", True),
        ("with:colon", True),
        ("*alias", False),
        ("a #b", False),
        ("yes", False),
        ("123", False),
        ("key: v", False),
        ("[list", False),
        ("@at", False),
        ("!tag", False),
    ],
)
def test_raw_yaml_values_must_read_back_unchanged(value, ok):
    assert (readers.raw_yaml_problem(value) is None) is ok


def secrets_with(**values):
    base = {
        "admin_password": Secret("Adm1nSecret", "env HARBOR_ADMIN_PASSWORD"),
        "db_password": Secret("Db-Secret-1", "file x"),
    }
    return HarborSecrets(**{**base, **values})


def test_a_password_docker_compose_would_change_is_refused_naming_the_secret_and_the_character():
    found = dict(problems({"harbor_hostname": HOST}, secrets_with(admin_password=Secret("Adm1n$ecret", "env X"))))
    assert found == {"admin_password (env X)": found["admin_password (env X)"]}
    assert "'$'" in found["admin_password (env X)"] and "Adm1n$ecret" not in str(found)


def test_a_single_quote_in_the_bundled_databases_password_is_refused():
    quoted = secrets_with(db_password=Secret("Db'Secret-1", "env HARBOR_DB_PASSWORD"))
    found = dict(problems({"harbor_hostname": HOST}, quoted))
    assert list(found) == ["db_password (env HARBOR_DB_PASSWORD)"]
    assert "single quote" in found["db_password (env HARBOR_DB_PASSWORD)"] and "Db'Secret" not in str(found)
    # An external database gets its password from its own administrator, not from initdb.
    database = {"host": "db", "port": 5432, "db_name": "registry", "username": "harbor", "password": "Ext-pw-1"}
    external = {"harbor_hostname": HOST, "harbor_external_database": database}
    assert "db_password (env HARBOR_DB_PASSWORD)" not in dict(problems(external, quoted))


def test_storage_and_proxy_values_are_checked_where_prepare_writes_them():
    data = {
        "harbor_hostname": HOST,
        "harbor_storage_service": {"s3": {"bucket": "b", "secretkey": "a #b"}},
        "harbor_proxy": {"http_proxy": "http://me:pa$s@proxy:3128"},
    }
    found = dict(problems(data, secrets_with()))
    assert "registry's config.yml" in found["harbor_storage_service.s3.secretkey"]
    assert "'$'" in found["harbor_proxy.http_proxy"]


def test_secrets_referenced_by_name_come_from_the_environment_or_the_secrets_dir(tmp_path):
    data = {
        "harbor_hostname": HOST,
        "harbor_secrets_dir": str(tmp_path),
        "harbor_storage_service": {"s3": {"bucket": "b", "accesskey": "AK", "secretkey": {"secret": "s3_secretkey"}}},
        "harbor_proxy": {"https_proxy": {"secret": "https_proxy"}},
    }
    config = validated(data)
    loaded = load_secrets(config, env={"HARBOR_SECRET_S3_SECRETKEY": "S3-Secret-1"})
    found = dict(problems(data, loaded))
    assert found == {
        "harbor_proxy": "secret https_proxy is missing: set HARBOR_SECRET_HTTPS_PROXY or put it "
        "in <harbor_secrets_dir>/<hostname>/https_proxy"
    }
    (tmp_path / HOST).mkdir()
    (tmp_path / HOST / "https_proxy").write_text("http://u:Pr0xy@proxy:3128\n")
    loaded = load_secrets(config, env={"HARBOR_SECRET_S3_SECRETKEY": "S3-Secret-1"})
    assert problems(data, loaded) == []
    text = harbor_yml.render(config, loaded)
    assert "secretkey: S3-Secret-1" in text and "https_proxy: http://u:Pr0xy@proxy:3128" in text
    assert "S3-Secret-1" not in harbor_yml.masked(text) and "Pr0xy" not in harbor_yml.masked(text)


@pytest.mark.parametrize("key", ["harbor_data_volume", "harbor_install_dir", "harbor_log_location"])
@pytest.mark.parametrize(
    "path, why",
    [
        ("/opt/my harbor", "not ' '"),
        ("/opt/x;touch /tmp/x", "';'"),
        ("/opt/$HOME", "'$'"),
        ("relative/path", "absolute"),
        ("/opt//harbor", "normalised"),
    ],
)
def test_server_paths_are_strict(key, path, why):
    found = dict(problems({"harbor_hostname": HOST, key: path}))
    assert why in found[key]


@pytest.mark.parametrize("key", validate.DEDICATED_KEYS)
@pytest.mark.parametrize("path", ["/", "/var", "/var/", "/etc", "/var/log", "/usr/local", "/home", "/opt", "/var/lib"])
def test_a_system_folder_is_never_harbors(key, path):
    found = dict(problems({"harbor_hostname": HOST, key: path}))
    assert list(found) == [key]
    assert f"{path.rstrip('/') or '/'} is a system folder other programs use" in found[key]
    assert f"(e.g. {validate.KEYS_BY_NAME[key].default})" in found[key]


def test_data_volume_var_is_refused_while_planning():
    assert _why({"harbor_data_volume": "/var"}, "harbor_data_volume") == [
        "/var is a system folder other programs use: give Harbor a folder of its own (e.g. /data); "
        "a restore, a purge or a release prune deletes what it holds"
    ]


def test_a_folder_that_a_reboot_empties_is_refused():
    assert _why({"harbor_backup_dir": "/tmp/harbor-backups"}, "harbor_backup_dir") == [
        "/tmp/harbor-backups is under /tmp, which is not kept across a reboot: give Harbor a folder on disk"
    ]
    assert _keys({"harbor_data_volume": "/run/harbor"}) == ["harbor_data_volume"]


def test_a_backup_dir_inside_the_data_volume_is_refused_naming_both():
    assert _why({"harbor_backup_dir": "/data/backups"}, "harbor_backup_dir") == [
        "/data/backups is inside harbor_data_volume (/data): each must be a folder of its own: a restore, "
        "a purge or a release prune of one would delete the other's files"
    ]


@pytest.mark.parametrize(
    "data, key, why",
    [
        # the key moved away from its default is the one named
        ({"harbor_data_volume": "/var/backups/harbor-deploy"}, "harbor_data_volume", "is also harbor_backup_dir"),
        ({"harbor_data_volume": "/var/log/harbor"}, "harbor_data_volume", "is also harbor_log_location"),
        ({"harbor_log_location": "/data/logs"}, "harbor_log_location", "is inside harbor_data_volume (/data)"),
        ({"harbor_install_dir": "/data/harbor"}, "harbor_install_dir", "is inside harbor_data_volume (/data)"),
        (
            {"harbor_data_volume": "/srv/h/data", "harbor_backup_dir": "/srv/h/data/b"},
            "harbor_backup_dir",
            "is inside harbor_data_volume (/srv/h/data)",
        ),
        ({"harbor_backup_dir": "/usr/local/harbor-vault"}, "harbor_backup_dir", "where the releases of"),
        ({"harbor_data_volume": "/usr/local/harbor-v2.13.1/data"}, "harbor_data_volume", "where the releases of"),
        ({"harbor_log_location": "/var/log/harbor-deploy"}, "harbor_log_location", "the deploy's upgrade logs"),
        ({"harbor_data_volume": "/etc/harbor"}, "harbor_data_volume", "overlaps /etc/harbor/tls"),
        ({"harbor_backup_dir": "/var/cache/harbor-deploy/b"}, "harbor_backup_dir", "the deploy's installer cache"),
    ],
)
def test_overlapping_folders_are_refused_naming_the_key_to_change(data, key, why):
    found = problems({"harbor_hostname": HOST, **data})
    assert [k for k, _ in found] == [key]
    assert why in found[0][1]


def test_folders_side_by_side_are_accepted():
    data = {
        "harbor_data_volume": "/srv/harbor/data",
        "harbor_log_location": "/srv/harbor/logs",
        "harbor_backup_dir": "/srv/harbor/backups",
        "harbor_install_dir": "/srv/harbor/install",
    }
    assert _keys(data) == []
    assert _keys({"harbor_backup_dir": "/usr/local/harbor-backups"}) == []  # not the releases' harbor-v*


def test_relative_controller_paths_are_taken_from_the_inventory_folder(tmp_path):
    data = with_controller_paths(
        {"harbor_hostname": HOST, "harbor_tls_chain": "/abs/chain.pem", "harbor_installer_file": "files/harbor.tgz"},
        tmp_path,
    )
    assert data["harbor_secrets_dir"] == str(tmp_path / ".secrets")
    assert data["harbor_installer_file"] == str(tmp_path / "files" / "harbor.tgz")
    assert data["harbor_tls_chain"] == "/abs/chain.pem"
    assert "harbor_client_ca_file" not in data  # None stays unset


def test_upgrades_go_forward_at_most_two_minor_versions_at_a_time():
    assert validate.upgrade_problem("v2.11.2", "v2.13.1") is None
    assert validate.upgrade_problem("v2.13.1", "v2.13.2") is None
    assert validate.upgrade_problem("v2.11.2", "v2.14.0") == (
        "v2.11.2 -> v2.14.0 skips more than 2 minor versions: upgrade in steps, v2.11 -> v2.13 -> v2.14.0 "
        "(set harbor_version to each in turn)"
    )
    assert "v2.8 -> v2.10 -> v2.12 -> v2.13.1" in validate.upgrade_problem("v2.8.4", "v2.13.1")
    assert validate.upgrade_problem("v2.13.1", "v2.11.2").startswith(
        "v2.11.2 is older than the running Harbor v2.13.1: downgrades are refused"
    )
    assert "changes the major version" in validate.upgrade_problem("v2.13.1", "v3.0.0")


# harbor.yml.tmpl edited as the manual guide says: hostname, ports, certificates, passwords.
HAND_EDITED = (
    (ROOT / "lab" / "standin" / "upstream" / "harbor.yml.tmpl")
    .read_text()
    .replace("hostname: reg.mydomain.com", f"hostname: {HOST}")
    .replace("  port: 80\n", "  port: 8081\n")
    .replace("  port: 443\n", "  port: 8443\n")
    .replace("/your/certificate/path", "/data/cert/harbor.crt")
    .replace("/your/private/key/path", "/data/cert/harbor.key")
)
PROVIDED = {"harbor_tls_mode": "provided"}


def _adoption(text=HAND_EDITED, installed="v2.13.1", target="v2.13.1", **data):
    config = {**validate.defaults(), "harbor_hostname": HOST, **PROVIDED, **data}
    return dict(validate.adoption_problems("/usr/local/harbor", text, installed, target, config))


def test_a_harbor_installed_by_hand_is_adopted_when_its_data_and_certificate_stay_where_they_are():
    assert _adoption() == {}
    plain_http = {key: value for key, value in yaml.safe_load(HAND_EDITED).items() if key != "https"}
    assert _adoption(yaml.safe_dump(plain_http), harbor_tls_mode="http") == {}


def test_adoption_is_refused_naming_the_key_that_would_hide_data_or_break_clients():
    why = _adoption(installed="v2.11.2")["harbor_version"]
    assert "holds Harbor v2.11.2" in why and "set harbor_version to v2.11.2" in why and "then to v2.13.1" in why
    assert "/data" in _adoption(harbor_data_volume="/srv/harbor")["harbor_data_volume"]
    assert set(_adoption(harbor_external_database={"host": "db"}, harbor_storage_service={"s3": {"bucket": "b"}})) == {
        "harbor_external_database",
        "harbor_storage_service",
    }
    external = HAND_EDITED + "external_database:\n  harbor:\n    host: db\n    port: 5432\n"
    assert "harbor_external_database" in _adoption(external)
    assert _adoption(external, harbor_external_database={"host": "db"}) == {}
    for mode in ("generate", "http"):
        why = _adoption(harbor_tls_mode=mode)["harbor_tls_mode"]
        assert "/data/cert/harbor.crt" in why and "harbor_tls_mode: provided" in why and "then change it" in why
    plain_http = yaml.safe_dump({key: value for key, value in yaml.safe_load(HAND_EDITED).items() if key != "https"})
    assert (
        "serves plain HTTP to its clients: set http"
        in _adoption(plain_http, harbor_tls_mode="generate")["harbor_tls_mode"]
    )
    # Where its clients reach it stays as it is.
    moved = _adoption(harbor_hostname="registry.example.org", harbor_http_port=80, harbor_https_port=443)
    assert moved["harbor_hostname"].startswith(f"is not {HOST}, which /usr/local/harbor/harbor.yml serves")
    assert moved["harbor_http_port"].startswith("is not 8081,") and moved["harbor_https_port"].startswith(
        "is not 8443,"
    )
    assert _adoption(harbor_hostname=HOST.upper()) == {}
    assert set(_adoption(None)) == {"harbor_install_dir"}
    assert "no harbor.v*.tar.gz" in _adoption(installed=None)["harbor_install_dir"]
