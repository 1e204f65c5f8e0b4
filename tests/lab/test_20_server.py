"""The server deploy on real lab hosts: fresh install, no-op re-run, reconfigure,
docker restart, bad data, secrets, dry run, and docker installed on a bare host."""

import datetime
import json

import pytest

from lab.labctl import PREFIX
from tests.lab.conftest import changed_count, host_exec, reset_harbor_server, run_pyinfra

SERVER = f"{PREFIX}-harbor-1"
DEPLOY = ("inventories/lab.py", "deploys/server.py", "--limit", "harbor-1")


def started_at():
    names = host_exec(SERVER, "docker ps -q --filter label=com.docker.compose.project=harbor")
    return dict(
        line.split()
        for line in host_exec(
            SERVER, f"docker inspect --format '{{{{.Name}}}} {{{{.State.StartedAt}}}}' {names.replace(chr(10), ' ')}"
        ).splitlines()
    )


def health():
    return json.loads(host_exec(SERVER, "curl -sk https://127.0.0.1:8443/api/v2.0/health"))


def secrets(lab):
    directory = f"{lab['key'].rsplit('/', 1)[0]}/secrets/{lab['harbor_dns_name']}"
    return {name: open(f"{directory}/{name}").read().strip() for name in ("admin_password", "db_password")}


@pytest.fixture(scope="module")
def fresh_server(lab):
    reset_harbor_server(SERVER)
    assert host_exec(SERVER, "ls /usr/local | grep harbor || true") == ""
    return lab


def test_dry_run_on_a_fresh_server_plans_and_changes_nothing(fresh_server):
    result = run_pyinfra("--dry", *DEPLOY)
    output = result.stdout + result.stderr
    assert "Install Harbor v2.13.1 (install.sh)" in output
    engine = host_exec(SERVER, "docker version --format '{{.Server.Version}}'")
    assert "CPUs" in output and f"docker {engine}, compose 2." in output  # preflight facts
    assert host_exec(SERVER, "ls /usr/local | grep harbor || true") == ""
    assert host_exec(SERVER, "docker ps -aq") == ""


def test_bad_data_is_refused_with_every_problem_before_any_change(fresh_server):
    result = run_pyinfra(
        "-y",
        *DEPLOY,
        "--data",
        "harbor_hostname=reg.mydomain.com",
        "--data",
        "harbor_https_port=8081",
        "--data",
        "harbor_tls_mode=sometimes",
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for key in ("harbor_hostname", "harbor_https_port", "harbor_tls_mode"):
        assert key in output
    assert host_exec(SERVER, "ls /usr/local /etc/systemd/system | grep harbor || true") == ""


def test_a_database_password_harbor_db_cannot_take_is_refused_before_any_change(fresh_server):
    """harbor-db's first start puts database.password into SQL as it is: a quote in it
    would leave PostgreSQL without the password and core locked out."""
    result = run_pyinfra("-y", *DEPLOY, env={"HARBOR_DB_PASSWORD": "Db'Quote9a"}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "db_password (env HARBOR_DB_PASSWORD): contains a single quote" in output
    assert "Db'Quote9a" not in output
    assert host_exec(SERVER, "ls /usr/local /etc/systemd/system | grep harbor || true") == ""


def test_fresh_install_brings_harbor_up_healthy_under_systemd(fresh_server):
    installed = run_pyinfra("-y", *DEPLOY)
    # The installer went through the controller's scp, not pyinfra's SFTP fallback.
    assert "sending it by SFTP" not in installed.stdout + installed.stderr
    assert health()["status"] == "healthy"
    containers = host_exec(SERVER, "docker ps --format '{{.Names}} {{.Status}}'").splitlines()
    assert {line.split()[0] for line in containers} >= {
        "nginx",
        "registry",
        "harbor-core",
        "harbor-log",
        "harbor-db",
        "redis",
        "trivy-adapter",
    }
    assert all("(healthy)" in line for line in containers)
    assert (
        host_exec(SERVER, "systemctl is-enabled harbor.service; systemctl is-active harbor.service")
        == "enabled\nactive"
    )
    assert host_exec(SERVER, "readlink /usr/local/harbor") == "/usr/local/harbor-v2.13.1"
    assert host_exec(SERVER, "stat -c %a /usr/local/harbor/harbor.yml /etc/harbor/tls/server.key") == "600\n600"
    assert "_version: 2.13.0" in host_exec(SERVER, "cat /usr/local/harbor/harbor.yml")
    assert set(host_exec(SERVER, "firewall-cmd --permanent --service=harbor --get-ports").split()) == {
        "8081/tcp",
        "8443/tcp",
    }
    for scope in ("--permanent ", ""):
        assert "harbor" in host_exec(SERVER, f"firewall-cmd {scope}--list-services").split()
        assert not {"8081/tcp", "8443/tcp"} & set(host_exec(SERVER, f"firewall-cmd {scope}--list-ports").split())


def test_second_run_changes_nothing_and_restarts_nothing(fresh_server):
    before = started_at()
    upload = host_exec(SERVER, "stat -c %Y /var/cache/harbor-deploy/harbor-offline-installer-v2.13.1.tgz")
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0
    assert started_at() == before
    assert host_exec(SERVER, "stat -c %Y /var/cache/harbor-deploy/harbor-offline-installer-v2.13.1.tgz") == upload


def test_dry_diff_shows_the_harbor_yml_change_with_secrets_masked(fresh_server):
    # The database pool setting sits next to the database password: the diff's context shows it.
    result = run_pyinfra(
        "--dry", "--diff", *DEPLOY, "--data", "harbor_log_level=warning", "--data", "harbor_db_max_idle_conns=99"
    )
    output = result.stdout + result.stderr
    assert "level: warning" in output and "level: info" in output
    assert "password: *****" in output
    for value in secrets(fresh_server).values():
        assert value not in output
    assert "level: info" in host_exec(SERVER, "cat /usr/local/harbor/harbor.yml")


def test_config_change_runs_prepare_and_restarts_without_leaking_secrets(fresh_server):
    before = started_at()
    changed = run_pyinfra("-y", "-vv", "--diff", *DEPLOY, "--data", "harbor_log_level=warning")
    as_json = run_pyinfra("-y", "--json", *DEPLOY, "--data", "harbor_log_level=warning")
    for value in secrets(fresh_server).values():
        for output in (changed.stdout, changed.stderr, as_json.stdout, as_json.stderr):
            assert value not in output
    assert "Regenerate Harbor config (prepare) and restart Harbor" in changed.stdout + changed.stderr
    assert changed_count(as_json) == 0
    assert "level: warning" in host_exec(SERVER, "cat /usr/local/harbor/harbor.yml")
    after = started_at()
    assert all(after[name] != before[name] for name in before)
    assert health()["status"] == "healthy"
    run_pyinfra("-y", *DEPLOY)  # back to the inventory's own settings
    assert "level: info" in host_exec(SERVER, "cat /usr/local/harbor/harbor.yml")


def test_harbor_comes_back_after_a_docker_restart(fresh_server):
    host_exec(SERVER, "systemctl restart docker")
    host_exec(
        SERVER,
        "for i in $(seq 90); do curl -sk https://127.0.0.1:8443/api/v2.0/health "
        '| grep -q \'^{"status": "healthy"\' && [ "$(docker ps -q | wc -l)" -ge 10 ] '
        "&& ! docker ps --format '{{.Status}}' | grep -qv '(healthy)' && exit 0; "
        "sleep 2; done; exit 1",
    )
    assert host_exec(SERVER, "systemctl is-active harbor.service") == "active"
    assert changed_count(run_pyinfra("-y", "--json", *DEPLOY)) == 0


def test_docker_engine_is_installed_on_a_bare_host(lab):
    bare = next(h for h in lab["hosts"] if h["group"] == "bare_hosts")
    assert host_exec(bare["container"], "command -v dockerd || true") == ""
    run_pyinfra("-y", "inventories/lab.py", "deploys/docker.py", "--limit", bare["name"])
    assert host_exec(bare["container"], "systemctl is-active docker; systemctl is-enabled docker") == "active\nenabled"
    assert host_exec(bare["container"], "docker compose version --short").startswith("2.")
    assert (
        changed_count(run_pyinfra("-y", "--json", "inventories/lab.py", "deploys/docker.py", "--limit", bare["name"]))
        == 0
    )


def test_status_reports_version_health_certificate_and_firewall(fresh_server):
    result = run_pyinfra("-y", "inventories/lab.py", "deploys/status.py", "--limit", "harbor-1")
    line = next(
        line.strip()
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip().startswith("harbor-status harbor-1 ")
    )
    status = json.loads(line.split(" ", 2)[2])
    assert status["running_version"] == "v2.13.1" and status["service"] == "enabled/active"
    assert status["health"] == "healthy"
    assert set(status["containers"]) == {name.lstrip("/") for name in started_at()}
    assert all(state == "running/healthy" for state in status["containers"].values())
    expiry = host_exec(SERVER, "openssl x509 -in /etc/harbor/tls/server.crt -noout -enddate")
    assert status["certificate_not_after"].startswith(
        datetime.datetime.strptime(expiry.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z").date().isoformat()
    )
    assert status["firewalld"]["enabled"] is True
    assert set(status["firewalld"]["service_ports"]) == {"8081/tcp", "8443/tcp"}
    # The lab's Debian hosts have no SELinux: reported as such.
    assert status["selinux"] == {"mode": None, "labels": {"/data": None, "/var/log/harbor": None}}
