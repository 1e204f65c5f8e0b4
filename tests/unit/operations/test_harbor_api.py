"""operations.harbor_api through deploys/configure.py, run by the pyinfra CLI on
@local against an in-process stand-in Harbor core: --dry lists the changes and
applies none, a run converges, a re-run reports zero changes, one quota change is
one changed operation, and no secret appears in pyinfra's output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.standin.tests.in_process import INITIAL_ADMIN_PASSWORD, StandinHarbor, UpstreamRegistry
from tests.conftest import ROOT

PYINFRA = Path(sys.executable).parent / "pyinfra"
HOSTNAME = "harbor.test.internal"


@pytest.fixture
def harbor(tmp_path, core_backing):
    running = StandinHarbor(tmp_path / "data", core_backing)
    running.upstream = UpstreamRegistry()
    yield running
    running.upstream.stop()
    running.stop()


def write_inventory(tmp_path, harbor, quota="10G", registries=None):
    data = {
        "harbor_hostname": HOSTNAME,
        "harbor_tls_mode": "http",
        "harbor_api_url": harbor.url,
        "harbor_secrets_dir": str(tmp_path / "secrets"),
        "harbor_registries": registries or [{"name": "upstream", "type": "harbor", "url": harbor.upstream.url}],
        "harbor_users": [{"username": "alice", "email": "alice@example.org"}],
        "harbor_projects": [
            {
                "name": "ci",
                "storage_quota": quota,
                "auto_scan": True,
                "members": [{"user": "alice", "role": "developer"}],
                "retention": {"schedule": "Daily", "rules": [{"template": "latestPushedK", "count": 10}]},
            },
            {"name": "hub", "public": True, "proxy_cache": "upstream"},
        ],
        "harbor_robots": [{"name": "jenkins", "project": "ci"}],
        "harbor_gc_schedule": {"schedule": "Weekly"},
    }
    path = tmp_path / "inventory.py"
    path.write_text(f"harbor_servers = [('@local', {data!r})]\n")
    return path


@pytest.fixture
def secrets(tmp_path):
    directory = tmp_path / "secrets" / HOSTNAME
    directory.mkdir(parents=True, mode=0o700)
    (directory / "admin_password").write_text(INITIAL_ADMIN_PASSWORD)
    (directory / "admin_password").chmod(0o600)
    return directory


# On @local no SSH session lives as long as the run: the run names itself, the
# pyinfra process, as the session holding the host's deploy lock.
AS_ITS_OWN_SESSION = ["sh", "-c", 'HARBOR_DEPLOY_SESSION=$$ exec "$0" "$@"']


def pyinfra(inventory, *flags, session=AS_ITS_OWN_SESSION, check=True):
    run = subprocess.run(
        [*session, str(PYINFRA), *flags, str(inventory), "deploys/configure.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(inventory.parent)},
        check=False,
    )
    assert not check or run.returncode == 0, run.stdout + run.stderr
    return run


def totals(run):
    counts = json.loads(run.stdout)["results"]["totals"]
    return {key: counts[key] for key in ("success", "no_change", "error")}


def assert_no_secret(run, secrets):
    output = run.stdout + run.stderr
    for path in secrets.rglob("*"):
        if path.is_file():
            assert path.read_text() not in output, path.name


def test_dry_run_lists_changes_and_applies_nothing(tmp_path, harbor, secrets):
    inventory = write_inventory(tmp_path, harbor)
    run = pyinfra(inventory, "--dry")
    for line in (
        "rotate admin password",
        "create registry upstream",
        "create user alice",
        "create project ci",
        "create project hub",
        "create member ci/alice",
        "create robot ci+jenkins",
        "create retention ci",
        "create gc schedule",
    ):
        assert f"Harbor API: {line}" in run.stdout + run.stderr
    assert sorted(path.name for path in secrets.iterdir()) == ["admin_password"]
    again = pyinfra(inventory, "--dry")
    assert "create project ci" in again.stdout + again.stderr


def test_converge_rerun_and_one_quota_change(tmp_path, harbor, secrets):
    inventory = write_inventory(tmp_path, harbor)
    first = pyinfra(inventory, "-y", "--json")
    # 8 changed operations; harbor_groups and harbor_replication_policies (empty), the
    # immutable tag rules and webhooks of projects without them: nothing to do.
    assert totals(first) == {"success": 8, "no_change": 4, "error": 0}
    for name in ("admin_password_managed", "users/alice", "robots/ci+jenkins"):
        assert (secrets / name).stat().st_mode & 0o777 == 0o600
    assert_no_secret(first, secrets)

    second = pyinfra(inventory, "-y", "--json")
    assert totals(second) == {"success": 0, "no_change": 12, "error": 0}

    third = pyinfra(write_inventory(tmp_path, harbor, quota="20G"), "-y", "--json")
    assert totals(third) == {"success": 1, "no_change": 11, "error": 0}
    assert "update project ci (storage_quota: 10737418240 -> 21474836480)" in third.stderr
    assert_no_secret(third, secrets)


def test_a_change_on_local_without_its_session_named_changes_nothing(tmp_path, harbor, secrets):
    """The lock's shell cannot tell whether another run holds the host: no change."""
    inventory = write_inventory(tmp_path, harbor)
    refused = pyinfra(inventory, "-y", session=[], check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "cannot tell this run's session" in output and "set HARBOR_DEPLOY_SESSION" in output
    assert sorted(path.name for path in secrets.iterdir()) == ["admin_password"]  # not rotated
    assert "create project ci" in pyinfra(inventory, "--dry").stderr  # nothing created


def test_only_harbor_servers_are_configured_and_bad_data_stops_the_run(tmp_path, harbor, secrets):
    inventory = tmp_path / "inventory.py"
    inventory.write_text("docker_clients = ['@local']\n")
    run = pyinfra(inventory, "--dry")
    assert "Harbor API" not in run.stdout + run.stderr

    inventory = write_inventory(tmp_path, harbor)
    inventory.write_text(inventory.read_text().replace("'latestPushedK'", "'keepAll'"))
    failed = subprocess.run(
        [str(PYINFRA), "--dry", str(inventory), "deploys/configure.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode != 0
    assert "harbor_projects[0]: retention.rules[0].template must be one of" in failed.stdout + failed.stderr


def test_an_endpoint_harbor_cannot_reach_fails_the_host_with_harbors_reason(tmp_path, harbor, secrets):
    inventory = write_inventory(tmp_path, harbor, registries=[{"name": "hub", "type": "docker-hub"}])
    failed = pyinfra(inventory, "-y", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "registry hub: Harbor checks an endpoint whenever it is created or changed" in output
    assert "registry-1.docker.io" in output
    assert "Traceback" not in output and "Unexpected error" not in output


def test_a_weak_password_from_the_environment_stops_the_run_before_any_change(tmp_path, harbor, secrets):
    inventory = write_inventory(tmp_path, harbor)
    inventory.write_text(
        inventory.read_text().replace(
            "'email': 'alice@example.org'", "'email': 'alice@example.org', 'password_env': 'ALICE_PW'"
        )
    )
    failed = subprocess.run(
        [str(PYINFRA), "-y", str(inventory), "deploys/configure.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ALICE_PW": "weakpass1"},
        check=False,
    )
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "harbor_users[0]: the password from env ALICE_PW must be 8-128 characters" in output
    assert "Traceback" not in output and "weakpass1" not in output
    assert sorted(path.name for path in secrets.iterdir()) == ["admin_password"]


TEAM_KEYS = {
    "harbor_groups": [{"name": "ops", "type": "http"}],
    "harbor_system_settings": {"robot_token_duration": 90, "banner_message": "maintenance on Friday"},
    "harbor_cve_allowlist": {"items": ["CVE-2024-3094"], "expires_at": "2030-01-31"},
    "harbor_audit_log_purge": {"schedule": "Daily", "retention_hours": 168, "event_types": ["create_artifact"]},
}


def write_data(tmp_path, harbor, data, name="inventory.py"):
    """An inventory of @local with the connection keys and ``data``."""
    connection = {
        "harbor_hostname": HOSTNAME,
        "harbor_tls_mode": "http",
        "harbor_api_url": harbor.url,
        "harbor_secrets_dir": str(tmp_path / "secrets"),
    }
    path = tmp_path / name
    path.write_text(f"harbor_servers = [('@local', {({**connection, **data})!r})]\n")
    return path


def run_deploy(inventory, deploy, *flags, env=None):
    return subprocess.run(
        [str(PYINFRA), *flags, str(inventory), deploy],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(inventory.parent), **(env or {})},
        check=False,
    )


def test_export_then_configure_with_the_export_sends_no_write(tmp_path, harbor, secrets):
    inventory = write_inventory(tmp_path, harbor)
    inventory.write_text(
        inventory.read_text().replace("'harbor_gc_schedule'", f"**{TEAM_KEYS!r}, 'harbor_gc_schedule'")
    )
    pyinfra(inventory, "-y")
    export_file = tmp_path / "exports" / "harbor.yml"
    exporter = write_data(tmp_path, harbor, {"harbor_export_file": str(export_file)}, "export.py")
    harbor.received.clear()
    run = run_deploy(exporter, "deploys/export.py", "-y")
    assert run.returncode == 0, run.stdout + run.stderr
    assert harbor.writes() == []
    text = export_file.read_text()
    assert export_file.stat().st_mode & 0o777 == 0o600
    exported = yaml.safe_load(text)
    assert set(exported) == {
        "harbor_auth",
        "harbor_system_settings",
        "harbor_registries",
        "harbor_users",
        "harbor_groups",
        "harbor_projects",
        "harbor_robots",
        "harbor_gc_schedule",
        "harbor_cve_allowlist",
        "harbor_audit_log_purge",
    }
    assert exported["harbor_system_settings"] == {"robot_token_duration": 90, "banner_message": "maintenance on Friday"}
    for path in secrets.rglob("*"):
        if path.is_file():
            assert path.read_text().strip() not in text, path.name

    # Configure from the export alone: every kind read, nothing written.
    configure = write_data(tmp_path, harbor, {"harbor_config_file": str(export_file)}, "from-export.py")
    harbor.received.clear()
    again = pyinfra(configure, "-y", "--json")
    assert totals(again)["success"] == 0 and totals(again)["error"] == 0
    assert harbor.writes() == []
    # The export is current: a second one writes nothing.
    rerun = run_deploy(exporter, "deploys/export.py", "-y", "--json")
    assert json.loads(rerun.stdout)["results"]["totals"]["success"] == 0
    # Inventory keys win over the file's.
    overridden = write_data(
        tmp_path,
        harbor,
        {"harbor_config_file": str(export_file), "harbor_system_settings": {"robot_token_duration": 60}},
        "override.py",
    )
    run = pyinfra(overridden, "--dry")
    assert "Harbor API: update system settings (robot_token_duration: 90 -> 60)" in run.stdout + run.stderr


def test_dry_run_lists_the_fields_that_differ_with_secrets_masked(tmp_path, harbor, secrets):
    data = {
        "harbor_system_settings": {"session_timeout": 120, "read_only": False},
        "harbor_auth": {
            "mode": "oidc",
            "oidc_name": "corp",
            "oidc_endpoint": "https://id.example.org",
            "oidc_client_id": "harbor",
            "oidc_client_secret_env": "CORP_OIDC_SECRET",
        },
    }
    run = run_deploy(
        write_data(tmp_path, harbor, data), "deploys/configure.py", "--dry", env={"CORP_OIDC_SECRET": "S3cr3t-Value"}
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Harbor API: update system settings (session_timeout: 60 -> 120)" in output
    assert "oidc_endpoint: '' -> 'https://id.example.org'" in output
    assert "oidc_client_secret: *****" in output
    assert "S3cr3t-Value" not in output


def test_an_auth_mode_harbor_locked_is_refused_while_planning(tmp_path, harbor, secrets):
    pyinfra(write_inventory(tmp_path, harbor), "-y")  # alice exists now
    data = {
        "harbor_auth": {
            "mode": "ldap",
            "ldap_url": "ldap://ldap.example.org",
            "ldap_search_dn": "cn=harbor,dc=example,dc=org",
            "ldap_base_dn": "dc=example,dc=org",
        }
    }
    harbor.received.clear()
    run = run_deploy(write_data(tmp_path, harbor, data, "ldap.py"), "deploys/configure.py", "-y")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert (
        "harbor_auth: Harbor refuses to change the auth mode from db to ldap once users other than admin exist (alice)"
        in output
    )
    assert harbor.writes() == []
