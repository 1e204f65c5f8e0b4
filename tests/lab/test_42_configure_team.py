"""What a team manages, by the configure deploy against the lab's Harbor (session fixture
``harbor_server``): system settings, user groups and a group as project member, the
admin flag, a system robot with system permissions, CVE allowlists, the audit-log
purge schedule. Each kind from nothing, a re-run that changes nothing, one changed
field that is one change, removal; then an export of the whole Harbor and a configure
run with that file alone that changes nothing.

The lab's Harbor has users (test_40), so its auth mode is locked: a change of it is
refused while planning, nothing changed. Signing in through LDAP needs the lab's
slapd (lab/ldap_directory.py) on a lab host: see docs/configure-team.md.
"""

import json

import pytest
import yaml

from tests.lab.conftest import api_changes, changed_count, configure, run_pyinfra

PROJECT = "team"
TEAM = {
    "harbor_system_settings": {"robot_token_duration": 60, "banner_message": "lab maintenance"},
    "harbor_groups": [{"name": "lab-ops", "type": "http"}],
    "harbor_users": [{"username": "team-dev", "email": "team-dev@lab.internal", "admin": True}],
    "harbor_projects": [
        {
            "name": PROJECT,
            "members": [{"group": "lab-ops", "role": "maintainer"}],
            "cve_allowlist": {"items": ["CVE-2024-3094"], "expires_at": "2030-01-31"},
        }
    ],
    "harbor_robots": [{"name": "team-ops", "projects": [], "system_access": ["registry:list", "project:list"]}],
    "harbor_cve_allowlist": {"items": ["CVE-2023-44487"]},
    "harbor_audit_log_purge": {"schedule": "Weekly", "retention_hours": 720, "event_types": ["create_artifact"]},
}


@pytest.fixture(scope="module")
def scratch(harbor_server):
    """The lab Harbor without this test's resources (removed through the deploy)."""
    absent = {"state": "absent"}
    configure(
        harbor_projects=[{"name": PROJECT, **absent}],
        harbor_groups=[{"name": "lab-ops", "type": "http", **absent}],
        harbor_users=[{"username": "team-dev", **absent}],
        harbor_robots=[{"name": "team-ops", **absent}],
        harbor_cve_allowlist={"items": []},
        harbor_audit_log_purge={**TEAM["harbor_audit_log_purge"], "schedule": "None"},
        harbor_system_settings={"robot_token_duration": 30, "banner_message": ""},
    )
    return harbor_server


def test_team_keys_from_nothing_then_nothing_then_one_field(scratch):
    first = configure(**TEAM)
    assert sorted(api_changes(first)) == sorted(
        [
            "update system settings (robot_token_duration: 30 -> 60, banner_message: '' -> 'lab maintenance')",
            "create user team-dev",
            "create group lab-ops",
            "create project team",
            "create member team/group lab-ops",
            "create robot team-ops",
            "update cve allowlist system (items: [] -> ['CVE-2023-44487'])",
            "create audit log purge schedule",
        ]
    ), first.stderr
    client = scratch["admin"]()
    assert [u["sysadmin_flag"] for u in client.list("/users", "users") if u["username"] == "team-dev"] == [True]
    assert changed_count(configure(**TEAM)) == 0

    changed = json.loads(json.dumps(TEAM))
    changed["harbor_audit_log_purge"]["retention_hours"] = 168
    again = configure(**changed)
    assert changed_count(again) == 1
    assert api_changes(again) == ["update audit log purge schedule (audit_retention_hour: 720 -> 168)"]


def test_export_then_configure_with_the_export_changes_nothing(scratch, tmp_path):
    configure(**TEAM)
    export = tmp_path / "harbor.yml"
    run_pyinfra(
        "-y", "inventories/lab.py", "deploys/export.py", "--limit", "harbor-1", "--data", f"harbor_export_file={export}"
    )
    exported = yaml.safe_load(export.read_text())
    assert exported["harbor_groups"] == [{"name": "lab-ops", "type": "http"}]
    rerun = configure("--data", f"harbor_config_file={export}")
    assert changed_count(rerun) == 0, rerun.stderr


def test_a_locked_auth_mode_is_refused_while_planning(scratch):
    ldap = {
        "mode": "ldap",
        "ldap_url": "ldap://ldap.lab.internal",
        "ldap_search_dn": "cn=harbor,ou=services,dc=harbor,dc=test",
        "ldap_base_dn": "ou=people,dc=harbor,dc=test",
    }
    run = configure(check=False, harbor_auth=ldap)
    assert run.returncode != 0
    assert "Harbor refuses to change the auth mode from db to ldap once users other than admin exist" in (
        run.stdout + run.stderr
    )
    assert scratch["admin"]().get("/configurations", "configuration")["auth_mode"]["value"] == "db_auth"
