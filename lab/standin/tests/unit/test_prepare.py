"""The stand-in prepare: real v2.13 validation rules, generated files, migrate."""

import os

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lab.standin.tests.support import HARBOR_TEMPLATE, load_runtime

prepare = load_runtime("prepare")


@pytest.fixture(autouse=True)
def small_token_key(monkeypatch):
    monkeypatch.setattr(prepare, "TOKEN_KEY_BITS", 2048)


@pytest.fixture
def paths(tmp_path):
    paths = prepare.Paths(
        input_dir=tmp_path / "bundle" / "input",
        data_dir=tmp_path / "data",
        compose_dir=tmp_path / "bundle",
        config_dir=tmp_path / "bundle" / "common" / "config",
        hostfs=tmp_path / "hostfs",
    )
    for directory in (paths.input_dir, paths.data_dir, paths.config_dir):
        directory.mkdir(parents=True)
    tls = paths.hostfs / "etc" / "harbor" / "tls"
    tls.mkdir(parents=True)
    (tls / "server.crt").write_text("CERT\n")
    (tls / "server.key").write_text("KEY\n")
    return paths


@pytest.fixture
def https_yml(harbor_yml):
    harbor_yml["https"]["port"] = 8443
    harbor_yml["https"]["certificate"] = "/etc/harbor/tls/server.crt"
    harbor_yml["https"]["private_key"] = "/etc/harbor/tls/server.key"
    harbor_yml["data_volume"] = "/srv/harbor-data"
    return harbor_yml


def run(paths, config, with_trivy=False, release="v2.13.1"):
    config_file = paths.input_dir / "harbor.yml"
    config_file.write_text(yaml.safe_dump(config))
    return prepare.prepare(paths, config_file, with_trivy, release)


def assert_rejected(paths, config, capsys, message):
    assert run(paths, config) == 255
    out, err = capsys.readouterr()
    assert "Error happened in config validation..." in out
    assert message in err
    assert not (paths.compose_dir / "docker-compose.yml").exists()


def test_the_shipped_template_is_rejected_for_its_placeholder_hostname(paths, capsys):
    config = yaml.safe_load(HARBOR_TEMPLATE.read_text())
    assert_rejected(paths, config, capsys, "Please specify hostname")


def test_loopback_hostname_is_rejected(paths, https_yml, capsys):
    https_yml["hostname"] = "127.0.0.1"
    assert_rejected(paths, https_yml, capsys, "127.0.0.1 can not be the hostname")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("certificate", "/your/certificate/path", "ssl_cert is not set"),
        ("certificate", "", "ssl_cert is not set"),
        ("private_key", "/your/private/key/path", "ssl_cert_key is not set"),
        ("private_key", None, "ssl_cert_key is not set"),
    ],
)
def test_https_needs_a_real_certificate_and_key(paths, https_yml, capsys, field, value, message):
    https_yml["https"][field] = value
    assert_rejected(paths, https_yml, capsys, message)


@pytest.mark.parametrize(
    "endpoint, message",
    [
        ({"protocol": "http", "host": "logs.example", "port": 5140}, "must be one of 'udp' or 'tcp'"),
        ({"protocol": "tcp", "host": "", "port": 5140}, "must set log endpoint host"),
        ({"protocol": "udp", "host": "logs.example", "port": None}, "must set log endpoint port"),
    ],
)
def test_external_log_endpoint_rules(paths, https_yml, capsys, endpoint, message):
    https_yml["log"]["external_endpoint"] = endpoint
    assert_rejected(paths, https_yml, capsys, message)


@pytest.mark.parametrize("storage", [{"ftp": {"host": "x"}}, {"s3": ""}, {"s3": {}}])
def test_an_unknown_driver_or_an_empty_configuration_silently_means_filesystem(paths, https_yml, storage):
    # Like real prepare (configs.py picks the first of its six drivers with a truthy
    # configuration): nothing refuses these, which is why the deploy's validation does.
    https_yml["storage_service"] = storage
    assert run(paths, https_yml) == 0
    registry = yaml.safe_load((paths.config_dir / "registry" / "config.yml").read_text())
    assert registry["storage"]["filesystem"]["rootdirectory"] == "/storage"


def test_unreadable_storage_ca_bundle_is_rejected(paths, https_yml, capsys):
    https_yml["storage_service"] = {"ca_bundle": "/etc/harbor/missing-ca.crt", "filesystem": {"maxthreads": 100}}
    assert_rejected(paths, https_yml, capsys, "Can not get file info")


def test_readable_storage_ca_bundle_is_accepted(paths, https_yml):
    (paths.hostfs / "etc" / "harbor" / "storage-ca.crt").write_text("CA\n")
    https_yml["storage_service"] = {"ca_bundle": "/etc/harbor/storage-ca.crt", "filesystem": {"maxthreads": 100}}
    assert run(paths, https_yml) == 0


def test_the_storage_ca_bundle_reaches_every_go_components_trust_folder(paths, https_yml):
    """utils/cert.py prepare_trust_ca: the bundle copied as storage_ca_bundle.crt into
    shared/trust-certificates, which core (and the others) mount at /harbor_cust_cert."""
    (paths.hostfs / "etc" / "harbor" / "storage-ca.crt").write_text("CA\n")
    https_yml["storage_service"] = {"ca_bundle": "/etc/harbor/storage-ca.crt", "filesystem": {"maxthreads": 100}}
    assert run(paths, https_yml) == 0
    trusted = paths.config_dir / "shared" / "trust-certificates"
    assert [path.name for path in trusted.iterdir()] == ["storage_ca_bundle.crt"]
    assert (trusted / "storage_ca_bundle.crt").read_text() == "CA\n"
    services = compose(paths)["services"]
    mount = "./common/config/shared/trust-certificates:/harbor_cust_cert"
    assert {name for name, service in services.items() if mount in service.get("volumes", [])} == {
        "registry",
        "registryctl",
        "core",
        "jobservice",
        "proxy",
    }
    del https_yml["storage_service"]
    assert run(paths, https_yml) == 0
    assert list(trusted.iterdir()) == []  # made afresh on every run


@pytest.mark.parametrize(
    "field, value",
    [("age", "1h"), ("age", "168"), ("age", "7d"), ("interval", "1h"), ("interval", 24)],
)
def test_upload_purging_needs_hours_of_at_least_two(paths, https_yml, capsys, field, value):
    https_yml["upload_purging"][field] = value
    assert_rejected(paths, https_yml, capsys, f"purge upload {field} should set with with nh")


def test_upload_purging_rules_do_not_apply_when_disabled(paths, https_yml):
    https_yml["upload_purging"] = {"enabled": False, "age": "1h", "interval": "1h", "dryrun": False}
    assert run(paths, https_yml) == 0


@pytest.mark.parametrize("hours", [0, -3, "24"])
def test_enabled_cache_needs_positive_expire_hours(paths, https_yml, capsys, hours):
    https_yml["cache"] = {"enabled": True, "expire_hours": hours}
    assert_rejected(paths, https_yml, capsys, "cache expire hours should be number")


def test_disabled_cache_ignores_expire_hours(paths, https_yml):
    https_yml["cache"] = {"enabled": False, "expire_hours": 0}
    assert run(paths, https_yml) == 0


def test_unknown_log_level_is_rejected(paths, https_yml, capsys):
    https_yml["log"]["level"] = "verbose"
    assert_rejected(paths, https_yml, capsys, "log level must be one of debug, info, warning, error, fatal")


@pytest.mark.parametrize(
    "keys",
    [
        ("hostname",),
        ("data_volume",),
        ("harbor_admin_password",),
        ("https", "certificate"),
        ("https", "private_key"),
        ("jobservice", "max_job_workers"),
        ("jobservice", "job_loggers"),
        ("jobservice", "logger_sweeper_duration"),
        ("notification", "webhook_job_max_retry"),
        ("notification", "webhook_job_http_client_timeout"),
        ("log", "level"),
    ],
)
def test_missing_required_keys_crash_with_key_error(paths, https_yml, keys):
    parent = https_yml
    for key in keys[:-1]:
        parent = parent[key]
    del parent[keys[-1]]
    with pytest.raises(KeyError):
        run(paths, https_yml)


@pytest.mark.parametrize("version", ["2.12.0", "2.13.1", "nonsense", None])
def test_prepare_never_reads_the_config_version(paths, https_yml, version):
    # Only migrate reads _version; an Ansible role writing 2.13.1 installs fine.
    https_yml["_version"] = version
    assert run(paths, https_yml) == 0
    assert run(paths, https_yml, release="v2.14.0") == 0


def test_each_release_migrates_to_its_minor():
    assert prepare.config_version("v2.14.0") == "2.14.0"
    assert prepare.config_version("v2.13.1") == "2.13.0"


def compose(paths):
    return yaml.safe_load((paths.compose_dir / "docker-compose.yml").read_text())


def test_https_compose_project_matches_the_real_layout(paths, https_yml):
    assert run(paths, https_yml) == 0
    services = compose(paths)["services"]
    assert {name: service["container_name"] for name, service in services.items()} == {
        "log": "harbor-log",
        "registry": "registry",
        "registryctl": "registryctl",
        "postgresql": "harbor-db",
        "core": "harbor-core",
        "portal": "harbor-portal",
        "jobservice": "harbor-jobservice",
        "redis": "redis",
        "proxy": "nginx",
    }
    for name, service in services.items():
        assert service["restart"] == "always"
        assert service["image"].endswith(":v2.13.1")
        if name != "log":
            assert service["logging"] == {
                "driver": "syslog",
                "options": {"syslog-address": "tcp://localhost:1514", "tag": name},
            }
    assert services["log"]["ports"] == ["127.0.0.1:1514:10514"]
    assert services["proxy"]["ports"] == ["80:8080", "8443:8443"]
    assert "/srv/harbor-data/secret/cert:/etc/cert:z" in services["proxy"]["volumes"]
    assert "/srv/harbor-data/registry:/storage:z" in services["registry"]["volumes"]
    assert "/srv/harbor-data/database:/var/lib/postgresql/data:z" in services["postgresql"]["volumes"]
    assert "/srv/harbor-data/:/data/:z" in services["core"]["volumes"]
    assert "/var/log/harbor/:/var/log/docker/:z" in services["log"]["volumes"]
    assert services["core"]["depends_on"] == ["log", "registry", "redis", "postgresql"]
    assert all(
        "log" in service["depends_on"] for name, service in services.items() if name not in ("log", "jobservice")
    )


def test_trivy_and_metrics_add_their_services(paths, https_yml):
    https_yml["metric"] = {"enabled": True, "port": 9090, "path": "/metrics"}
    assert run(paths, https_yml, with_trivy=True) == 0
    services = compose(paths)["services"]
    assert services["trivy-adapter"]["container_name"] == "trivy-adapter"
    assert services["trivy-adapter"]["image"] == "goharbor/trivy-adapter-photon:v2.13.1"
    assert services["exporter"]["container_name"] == "harbor-exporter"
    assert services["proxy"]["ports"] == ["80:8080", "8443:8443", "9090:9090"]
    nginx = (paths.config_dir / "nginx" / "nginx.conf").read_text()
    assert "listen 9090;" in nginx
    assert "WITH_TRIVY=true" in (paths.config_dir / "core" / "env").read_text()
    # utils/trivy_adapter.py: the cache and reports owned by the scanner user (uid 10000);
    # templates/trivy-adapter/env.jinja: where the adapter reads its database.
    for folder in ("trivy", "reports"):
        found = (paths.data_dir / "trivy-adapter" / folder).stat()
        assert (found.st_uid, found.st_gid) == (10000, 10000)
    assert "SCANNER_TRIVY_CACHE_DIR=/home/scanner/.cache/trivy" in env_lines(paths, "trivy-adapter")


def test_nginx_terminates_tls_and_redirects_http(paths, https_yml):
    assert run(paths, https_yml) == 0
    nginx = (paths.config_dir / "nginx" / "nginx.conf").read_text()
    assert "listen 8443 ssl;" in nginx
    assert "ssl_certificate /etc/cert/server.crt;" in nginx
    assert "ssl_certificate_key /etc/cert/server.key;" in nginx
    assert "return 308 https://$host:8443$request_uri;" in nginx
    for setting in (
        "client_max_body_size 0;",
        "chunked_transfer_encoding on;",
        "proxy_set_header X-Forwarded-Proto $x_forwarded_proto;",
        "proxy_buffering off;",
        "proxy_pass http://registry/v2/;",
        "proxy_pass http://core/api/;",
        "proxy_pass http://core/service/;",
        "proxy_pass http://core/c/;",
        "proxy_pass http://portal/;",
    ):
        assert setting in nginx
    assert (paths.data_dir / "secret" / "cert" / "server.crt").read_text() == "CERT\n"
    assert (paths.data_dir / "secret" / "cert" / "server.key").read_text() == "KEY\n"


def test_http_only_serves_directly_with_an_http_realm(paths, harbor_yml):
    del harbor_yml["https"]
    harbor_yml["http"]["port"] = 8080
    harbor_yml["data_volume"] = "/srv/harbor-data"
    assert run(paths, harbor_yml) == 0
    nginx = (paths.config_dir / "nginx" / "nginx.conf").read_text()
    assert "ssl" not in nginx
    assert "return 308" not in nginx
    assert compose(paths)["services"]["proxy"]["ports"] == ["8080:8080"]
    registry = yaml.safe_load((paths.config_dir / "registry" / "config.yml").read_text())
    assert registry["auth"]["token"]["realm"] == "http://harbor.lab.internal:8080/service/token"


def test_registry_uses_token_auth_signed_by_the_kept_core_key(paths, https_yml):
    assert run(paths, https_yml) == 0
    registry = yaml.safe_load((paths.config_dir / "registry" / "config.yml").read_text())
    assert registry["auth"]["token"] == {
        "issuer": "harbor-token-issuer",
        "realm": "https://harbor.lab.internal:8443/service/token",
        "rootcertbundle": "/etc/registry/root.crt",
        "service": "harbor-registry",
    }
    assert registry["storage"]["filesystem"]["rootdirectory"] == "/storage"
    assert registry["storage"]["maintenance"]["uploadpurging"]["age"] == "168h"
    key_file = paths.data_dir / "secret" / "core" / "private_key.pem"
    key_pem = key_file.read_bytes()
    assert key_file.stat().st_mode & 0o777 == 0o600

    assert run(paths, https_yml) == 0
    assert key_file.read_bytes() == key_pem
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = x509.load_pem_x509_certificate((paths.config_dir / "registry" / "root.crt").read_bytes())
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(serialization.Encoding.DER, spki) == key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    )


def test_external_url_sets_the_realm(paths, https_yml):
    https_yml["external_url"] = "https://registry.example.org"
    assert run(paths, https_yml) == 0
    registry = yaml.safe_load((paths.config_dir / "registry" / "config.yml").read_text())
    assert registry["auth"]["token"]["realm"] == "https://registry.example.org/service/token"
    assert "EXT_ENDPOINT=https://registry.example.org\n" in (paths.config_dir / "core" / "env").read_text()


def test_core_env_and_log_rotation_carry_the_settings(paths, https_yml):
    https_yml["log"]["local"] = {"rotate_count": 3, "rotate_size": "10M", "location": "/var/log/harbor"}
    assert run(paths, https_yml) == 0
    env = (paths.config_dir / "core" / "env").read_text()
    assert "HARBOR_ADMIN_PASSWORD=Harbor12345\n" in env
    assert "EXT_ENDPOINT=https://harbor.lab.internal:8443\n" in env
    assert (paths.config_dir / "core" / "env").stat().st_mode & 0o777 == 0o600
    rotate = (paths.config_dir / "log" / "logrotate.conf").read_text()
    assert "rotate 3\n" in rotate and "size 10M\n" in rotate


def test_prepare_clears_stale_config(paths, https_yml):
    stale = paths.config_dir / "old" / "leftover.conf"
    stale.parent.mkdir()
    stale.write_text("x")
    assert run(paths, https_yml) == 0
    # Like real prepare's delfile: the file goes, its directory stays (empty).
    assert not stale.exists()
    assert stale.parent.is_dir() and not any(stale.parent.iterdir())


def test_clear_dir_removes_files_and_keeps_directories(tmp_path, capsys):
    config = tmp_path / "config"
    (config / "core" / "certificates").mkdir(parents=True)
    (config / "empty").mkdir()
    for name in ("core/env", "core/certificates/ca.crt", "top.conf"):
        (config / name).write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("kept")
    (config / "link").symlink_to(outside)
    (config / "dangling").symlink_to(tmp_path / "missing")

    prepare.clear_dir(config)

    remaining = sorted(str(p.relative_to(config)) for p in config.rglob("*"))
    assert remaining == ["core", "core/certificates", "dangling", "empty"]
    assert (config / "dangling").is_symlink()
    assert outside.read_text() == "kept"
    cleared = capsys.readouterr().out.splitlines()
    assert sorted(cleared) == sorted(
        f"Clearing the configuration file: {config / name}"
        for name in ("core/env", "core/certificates/ca.crt", "link", "top.conf")
    )


def test_clear_dir_of_a_missing_directory_does_nothing(tmp_path, capsys):
    prepare.clear_dir(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()
    assert capsys.readouterr().out == ""


def test_cli_runs_prepare_from_the_mounts(paths, https_yml, monkeypatch):
    (paths.input_dir / "harbor.yml").write_text(yaml.safe_dump(https_yml))
    for name in ("input_dir", "data_dir", "compose_dir", "config_dir", "hostfs"):
        monkeypatch.setenv(f"STANDIN_{name.upper()}", str(getattr(paths, name)))
    monkeypatch.setenv("HARBOR_STANDIN_VERSION", "v2.13.1")
    assert prepare.main(["prepare", "--with-trivy"]) == 0
    assert "trivy-adapter" in compose(paths)["services"]


def test_cli_refuses_options_the_real_2_13_dropped():
    with pytest.raises(SystemExit) as exit_info:
        prepare.main(["prepare", "--with-notary"])
    assert exit_info.value.code == 2


def write_versioned(path, version):
    text = HARBOR_TEMPLATE.read_text().replace("_version: 2.13.0", f"_version: {version}")
    path.write_text(text)
    return text


def test_migrate_moves_version_forward_and_keeps_everything_else(tmp_path, capsys):
    source = tmp_path / "harbor.yml"
    original = write_versioned(source, "2.11.0")
    assert prepare.migrate(source, source, "2.13.0") == 0
    migrated = source.read_text()
    assert yaml.safe_load(migrated)["_version"] == "2.13.0"
    assert migrated == original.replace("_version: 2.11.0", "_version: 2.13.0")
    out = capsys.readouterr().out
    assert "migrating to version 2.12.0" in out and "migrating to version 2.13.0" in out


def test_migrate_refuses_more_than_two_minors(tmp_path):
    source = tmp_path / "harbor.yml"
    original = write_versioned(source, "2.10.0")
    assert prepare.migrate(source, source, "2.13.0") == 255
    assert source.read_text() == original


def test_migrate_of_current_version_changes_nothing(tmp_path, capsys):
    source = tmp_path / "harbor.yml"
    original = write_versioned(source, "2.13.0")
    assert prepare.migrate(source, source, "2.13.0") == 0
    assert source.read_text() == original
    assert "no need to upgrade" in capsys.readouterr().out


def test_migrate_cli_reads_host_paths_through_hostfs(tmp_path, monkeypatch):
    hostfs = tmp_path / "hostfs"
    bundle = hostfs / "opt" / "harbor"
    bundle.mkdir(parents=True)
    write_versioned(bundle / "harbor.yml", "2.13.0")
    monkeypatch.setenv("STANDIN_HOSTFS", str(hostfs))
    monkeypatch.setenv("HARBOR_STANDIN_VERSION", "v2.14.0")
    assert prepare.main(["migrate", "-i", "/opt/harbor/harbor.yml"]) == 0
    assert yaml.safe_load((bundle / "harbor.yml").read_text())["_version"] == "2.14.0"


# --- how values reach the services (real prepare, checked on v2.13.1) ---------------


def env_lines(paths, component):
    return (paths.config_dir / component / "env").read_text().splitlines()


@pytest.mark.parametrize("password", ["pa$$word", "a #b", "'quoted'", " padded ", "plain-Value_1"])
def test_passwords_are_written_raw_into_the_env_files(paths, https_yml, password):
    # No quoting or escaping: docker compose's env-file rules then apply to them.
    https_yml["harbor_admin_password"] = password
    https_yml["database"]["password"] = password
    assert run(paths, https_yml) == 0
    assert f"HARBOR_ADMIN_PASSWORD={password}" in env_lines(paths, "core")
    assert f"POSTGRESQL_PASSWORD={password}" in env_lines(paths, "core")
    assert env_lines(paths, "db") == [f"POSTGRES_PASSWORD={password}"]


def test_the_external_database_replaces_the_bundled_one_in_core_and_exporter(paths, https_yml):
    https_yml["external_database"] = {
        "harbor": {
            "host": "db.example",
            "port": 6432,
            "db_name": "harbor",
            "username": "harbor",
            "password": "Ext#pw",
            "ssl_mode": "require",
        }
    }
    https_yml["metric"] = {"enabled": True, "port": 9090, "path": "/metrics"}
    assert run(paths, https_yml) == 0
    core = env_lines(paths, "core")
    for line in (
        "POSTGRESQL_HOST=db.example",
        "POSTGRESQL_PORT=6432",
        "POSTGRESQL_PASSWORD=Ext#pw",
        "POSTGRESQL_SSLMODE=require",
    ):
        assert line in core
    assert "HARBOR_DATABASE_PASSWORD=Ext#pw" in env_lines(paths, "exporter")
    services = yaml.safe_load((paths.compose_dir / "docker-compose.yml").read_text())["services"]
    assert "postgresql" not in services and "postgresql" not in services["core"]["depends_on"]


def test_core_gets_the_connection_pool_settings_with_real_prepares_defaults(paths, https_yml):
    https_yml["database"] = {"password": "Db-pass1", "max_idle_conns": 50, "max_open_conns": 300}
    assert run(paths, https_yml) == 0
    core = env_lines(paths, "core")
    for line in (
        "POSTGRESQL_MAX_IDLE_CONNS=50",
        "POSTGRESQL_MAX_OPEN_CONNS=300",
        "POSTGRESQL_CONN_MAX_LIFETIME=5m",
        "POSTGRESQL_CONN_MAX_IDLE_TIME=0",
    ):
        assert line in core


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to uid 999 needs root, as prepare has in its container")
def test_the_bundled_database_and_redis_own_their_data_dirs(paths, https_yml):
    stale = paths.data_dir / "database" / "pg15"
    stale.mkdir(parents=True)
    assert run(paths, https_yml) == 0
    database = (paths.data_dir / "database").stat()
    assert (database.st_uid, database.st_gid, database.st_mode & 0o777) == (999, 999, 0o700)
    assert stale.stat().st_uid == 999  # the tree, as real prepare's recursive chown
    assert (paths.data_dir / "redis").stat().st_uid == 999


def test_proxies_go_raw_into_the_env_files_of_their_components(paths, https_yml):
    https_yml["proxy"] = {
        "http_proxy": "http://me:p@ss@proxy:3128",
        "https_proxy": "",
        "no_proxy": "10.0.0.1",
        "components": ["core", "jobservice"],
    }
    assert run(paths, https_yml, with_trivy=True) == 0
    for component in ("core", "jobservice"):
        assert "HTTP_PROXY=http://me:p@ss@proxy:3128" in env_lines(paths, component)
        assert any(
            line.startswith("NO_PROXY=") and "10.0.0.1" in line and "core" in line
            for line in env_lines(paths, component)
        )
    assert not any(line.startswith("HTTP_PROXY") for line in env_lines(paths, "trivy-adapter"))


@pytest.mark.parametrize(
    "secret, effect", [("*alias", "broken"), ("a #b", "changed"), ("yes", "changed"), ("Plain-Secret_1", "kept")]
)
def test_storage_settings_and_the_redis_password_are_written_raw_into_the_registry_config(
    paths, https_yml, secret, effect
):
    https_yml["storage_service"] = {"s3": {"region": "eu-1", "bucket": "b", "secretkey": secret}}
    https_yml["external_redis"] = {"host": "redis.example:6379", "password": secret}
    assert run(paths, https_yml) == 0
    text = (paths.config_dir / "registry" / "config.yml").read_text()
    assert f"secretkey: {secret}\n" in text and f"password: {secret}\n" in text
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        assert effect == "broken"
        return
    read = (config["storage"]["s3"]["secretkey"], config["redis"]["password"])
    assert (read == (secret, secret)) == (effect == "kept")
    # In the Redis URLs of the env files the password is URL-quoted, as real prepare does.
    assert any(line.startswith("_REDIS_URL_CORE=redis://:") for line in env_lines(paths, "core"))


def env_values(paths, component):
    return dict(line.split("=", 1) for line in env_lines(paths, component) if "=" in line)


def test_redis_zeros_and_empty_values_keep_real_prepares_defaults(paths, https_yml):
    # make/photon/prepare/utils/configs.py get_redis_configs: external_redis values
    # overwrite the defaults only when truthy, so a 0 keeps 1, 2, 5 and 30.
    https_yml["external_redis"] = {
        "host": "redis.example:6379",
        "password": "Red1s$ecret",
        "registry_db_index": 0,
        "trivy_db_index": 0,
        "idle_timeout_seconds": 0,
    }
    assert run(paths, https_yml, with_trivy=True) == 0
    core = env_values(paths, "core")
    assert core["_REDIS_URL_CORE"] == "redis://:Red1s%24ecret@redis.example:6379?idle_timeout_seconds=30"
    assert core["_REDIS_URL_REG"] == "redis://:Red1s%24ecret@redis.example:6379/1?idle_timeout_seconds=30"
    assert env_values(paths, "trivy-adapter")["SCANNER_REDIS_URL"].startswith(
        "redis://:Red1s%24ecret@redis.example:6379/5?"
    )
    registry = yaml.safe_load((paths.config_dir / "registry" / "config.yml").read_text())["redis"]
    assert registry == {"addr": "redis.example:6379", "password": "Red1s$ecret", "db": 1}


def test_redis_tls_without_its_root_ca_crashes_prepare_as_real_does(paths, https_yml):
    https_yml["external_redis"] = {"host": "redis.example:6379", "tlsOptions": {"enable": True}}
    with pytest.raises(KeyError, match="rootCA"):
        run(paths, https_yml)


def test_core_and_jobservice_share_one_core_secret_drawn_afresh_on_every_run(paths, https_yml):
    # templates/core/env.jinja and jobservice/env.jinja both write config_dict's core_secret.
    secrets = []
    for _ in range(2):
        assert run(paths, https_yml) == 0
        core, jobservice = env_values(paths, "core"), env_values(paths, "jobservice")
        assert core["CORE_SECRET"] == jobservice["CORE_SECRET"]
        assert core["JOBSERVICE_SECRET"] == jobservice["JOBSERVICE_SECRET"]
        secrets.append(core["CORE_SECRET"])
    assert secrets[0] != secrets[1]


def test_a_storage_setting_equal_to_true_is_written_true_as_real_prepare_writes_it(paths, https_yml):
    # utils/registry.py get_storage_provider_info tests "== True": 1 and 1.0 become true.
    https_yml["storage_service"] = {"s3": {"bucket": "b", "multipartcopymaxconcurrency": 1, "ratio": 1.0, "n": "1"}}
    assert run(paths, https_yml) == 0
    s3 = yaml.safe_load((paths.config_dir / "registry" / "config.yml").read_text())["storage"]["s3"]
    assert (s3["multipartcopymaxconcurrency"], s3["ratio"], s3["n"]) == (True, True, 1)


def test_tracing_is_checked_and_written_into_core_and_jobservice_as_real_prepare_does(paths, https_yml, capsys):
    # make/photon/prepare/models.py Trace and templates/{core,jobservice}/env.jinja.
    https_yml["trace"] = {"enabled": True}
    assert_rejected(paths, https_yml, capsys, "Trace enabled but no trace exporter set")
    https_yml["trace"] = {"enabled": True, "otel": {"endpoint": "otel.example.org:4318"}}
    assert_rejected(paths, https_yml, capsys, "Trace url path not set")
    https_yml["trace"] = {
        "enabled": True,
        "namespace": "lab",
        "attributes": {"application": "harbor"},
        "jaeger": {"endpoint": "http://jaeger.example.org:14268/api/traces", "password": "Ja3ger"},
    }
    assert run(paths, https_yml) == 0
    core, jobservice = env_values(paths, "core"), env_values(paths, "jobservice")
    assert (core["TRACE_SERVICE_NAME"], jobservice["TRACE_SERVICE_NAME"]) == ("harbor-core", "harbor-jobservice")
    assert core["TRACE_SAMPLE_RATE"] == "1" and core["TRACE_ATTRIBUTES"] == '{"application": "harbor"}'
    assert core["TRACE_JAEGER_PASSWORD"] == "Ja3ger" and core["TRACE_JAEGER_AGENT_HOSTNAME"] == ""
    https_yml["trace"]["enabled"] = False
    assert run(paths, https_yml) == 0
    assert "TRACE_ENABLED" not in env_values(paths, "core")


def _env(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_the_values_drawn_on_every_run_go_into_core_jobservice_and_registryctl_new_each_time(paths, https_yml):
    """Like real (utils/configs.py, utils/core.py, templates/*/env.jinja): CORE_SECRET and
    JOBSERVICE_SECRET (16) in the three env files alike, CSRF_KEY (32) and
    ROBOT_SCANNER_NAME_PREFIX (8) in core's, letters and digits, drawn afresh each run."""
    drawn = []
    for _ in range(2):
        assert run(paths, https_yml) == 0
        core = _env(paths.config_dir / "core" / "env")
        lengths = {"CORE_SECRET": 16, "JOBSERVICE_SECRET": 16, "CSRF_KEY": 32, "ROBOT_SCANNER_NAME_PREFIX": 8}
        assert {key: len(core[key]) for key in lengths} == lengths
        assert all(core[key].isalnum() for key in lengths)
        for name in ("jobservice", "registryctl"):
            env = _env(paths.config_dir / name / "env")
            assert {key: env[key] for key in ("CORE_SECRET", "JOBSERVICE_SECRET")} == {
                key: core[key] for key in ("CORE_SECRET", "JOBSERVICE_SECRET")
            }
            assert (paths.config_dir / name / "env").stat().st_mode & 0o777 == 0o600
        drawn.append({key: core[key] for key in lengths})
    assert all(drawn[0][key] != drawn[1][key] for key in drawn[0])
    compose = yaml.safe_load((paths.compose_dir / "docker-compose.yml").read_text())["services"]
    assert compose["registryctl"]["env_file"] == ["./common/config/registryctl/env"]
    assert "./common/config/jobservice/config.yml:/etc/jobservice/config.yml:z" in compose["jobservice"]["volumes"]


def test_jobservice_queues_jobs_in_the_jobservice_database_of_redis_or_external_redis(paths, https_yml):
    assert run(paths, https_yml) == 0
    config = yaml.safe_load((paths.config_dir / "jobservice" / "config.yml").read_text())
    pool = config["worker_pool"]["redis_pool"]
    assert pool["redis_url"].startswith("redis://redis:6379/2") and pool["namespace"] == "harbor_job_service_namespace"
    https_yml["external_redis"] = {"host": "10.0.0.5:6379", "password": "Redis-pass", "jobservice_db_index": 7}
    assert run(paths, https_yml) == 0
    config = yaml.safe_load((paths.config_dir / "jobservice" / "config.yml").read_text())
    assert config["worker_pool"]["redis_pool"]["redis_url"].startswith("redis://:Redis-pass@10.0.0.5:6379/7")


def test_the_instance_keys_are_made_once_and_owned_by_harbors_user_on_every_run(paths, https_yml):
    """utils/cert.py: ``get_secret_key`` makes secret/keys/secretkey (16 letters and
    digits) once, ``mark_file`` it (0600, DEFAULT_UID/GID 10000); ``prepare_registry_ca``
    chowns the token pair to 10000 on every run, whoever wrote it."""
    assert run(paths, https_yml) == 0
    secret = paths.data_dir / "secret"
    key_file = secret / "keys" / "secretkey"
    key = key_file.read_text()
    assert len(key) == 16 and key.isalnum() and key_file.stat().st_mode & 0o777 == 0o600
    pair = (secret / "core" / "private_key.pem", secret / "registry" / "root.crt")
    for path in (key_file, *pair):
        assert (path.stat().st_uid, path.stat().st_gid) == (10000, 10000)
        os.chown(path, 0, 0)  # a deploy placing them as root
    assert run(paths, https_yml) == 0
    assert key_file.read_text() == key
    assert [(path.stat().st_uid, path.stat().st_gid) for path in (key_file, *pair)] == [(10000, 10000)] * 3
