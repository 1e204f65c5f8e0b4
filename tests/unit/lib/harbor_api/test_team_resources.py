"""What a team manages beyond a first project, converged against a stand-in Harbor core:
system settings, user groups and group members, the admin flag, system robots with
system permissions, CVE allowlists (system and project), the audit-log purge schedule.
Each kind: from nothing, a re-run sends no write request, one changed field is one
write, removal where Harbor allows it; every request body valid against the v2.13.1
swagger spec."""

import pytest

from harbor_deploy.lib.config import validate
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.resources import ResourceError
from lab.standin.tests.in_process import StandinHarbor
from tests.unit.lib.harbor_api.converging import converge


@pytest.fixture
def harbor(tmp_path, core_backing):
    running = StandinHarbor(tmp_path / "data", core_backing)
    yield running
    running.stop()


def test_system_settings_only_given_keys_drift_corrected_one_put(client, store, monkeypatch):
    config = {
        "harbor_system_settings": {
            "project_creation_restriction": "adminonly",
            "robot_token_duration": 90,
            "storage_per_project": "10G",
            "banner_message": {"message": "maintenance", "type": "warning", "closable": True},
            "session_timeout": 120,
        }
    }
    done, writes = converge(client, store, config, monkeypatch)
    assert writes == [("PUT", "/configurations")]
    assert done[0].startswith("update system settings (project_creation_restriction: 'everyone' -> 'adminonly'")
    assert converge(client, store, config, monkeypatch) == ([], [])
    # Drift made by hand (the UI) is put back with one write of that key only.
    client.put("/configurations", "by hand", {"session_timeout": 30, "read_only": True})
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["update system settings (session_timeout: 30 -> 120)"]
    assert writes == [("PUT", "/configurations")]
    values = resources.configurations.current_values(resources.configurations.read_configuration(client))
    assert values["read_only"] is True  # not managed: left as it is
    assert values["storage_per_project"] == 10 * 1024**3


def test_harbor_refusals_of_settings_are_refused_before_any_change():
    data = {
        "harbor_hostname": "harbor.example.org",
        "harbor_system_settings": {"skip_audit_log_database": True, "audit_log_forward_endpoint": ""},
    }
    assert "needs audit_log_forward_endpoint" in dict(resources.problems(data))["harbor_system_settings"]
    data["harbor_system_settings"] = {"token_expiration": 0, "pull_time_update_disable": True}
    shapes = dict(validate.problems(data))
    assert "unknown field 'pull_time_update_disable'" in shapes["harbor_system_settings"]


def test_groups_and_group_members_converge_rerun_rename_and_removal(client, store, monkeypatch):
    config = {
        "harbor_groups": [{"name": "ops", "type": "http"}, {"name": "auditors", "type": "oidc"}],
        "harbor_projects": [{"name": "apps", "members": [{"group": "ops", "role": "maintainer"}]}],
    }
    done, _ = converge(client, store, config, monkeypatch)
    assert done == ["create group ops", "create group auditors", "create project apps", "create member apps/group ops"]
    assert converge(client, store, config, monkeypatch) == ([], [])
    members = client.list("/projects/apps/members", "members")
    assert {(m["entity_type"], m["entity_name"], m["role_id"]) for m in members} >= {("g", "ops", 4)}

    config["harbor_projects"][0]["members"][0]["role"] = "developer"
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["update member apps/group ops (role: 'maintainer' -> 'developer')"]
    assert len(writes) == 1

    config["harbor_groups"][0]["state"] = "absent"
    config["harbor_projects"][0]["members"] = []
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["delete group ops"] and len(writes) == 1
    # Harbor removes a deleted group's memberships.
    assert [m["entity_type"] for m in client.list("/projects/apps/members", "members")] == ["u"]


def test_an_ldap_group_needs_ldap_auth_and_a_member_group_must_exist(client, store, monkeypatch):
    config = {"harbor_groups": [{"name": "devs", "ldap_group_dn": "cn=Devs,ou=groups,dc=example,dc=org"}]}
    with pytest.raises(Exception, match="LDAP Group DN is not found"):
        converge(client, store, config, monkeypatch)
    monkeypatch.undo()
    config = {"harbor_projects": [{"name": "apps", "members": [{"group": "nobody"}]}]}
    with pytest.raises(ResourceError, match="group nobody: no group of that name in Harbor"):
        converge(client, store, config, monkeypatch)


def test_the_admin_flag_of_a_user(client, store, monkeypatch):
    config = {"harbor_users": [{"username": "dana", "email": "dana@example.org", "admin": True}]}
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["create user dana"]
    assert writes == [("POST", "/users"), ("PUT", "/users/2/sysadmin")]
    assert converge(client, store, config, monkeypatch) == ([], [])
    done, writes = converge(client, store, {"harbor_users": [{"username": "dana", "admin": False}]}, monkeypatch)
    assert done == ["update user dana (admin: True -> False)"] and len(writes) == 1
    with pytest.raises(ResourceError, match="an entry without email manages an existing user's admin flag only"):
        converge(client, store, {"harbor_users": [{"username": "erin", "admin": True}]}, monkeypatch)


def test_a_system_robot_with_system_permissions(client, store, monkeypatch):
    config = {
        "harbor_robots": [
            {"name": "ops", "projects": [], "system_access": ["registry:create", "garbage-collection:read"]},
        ]
    }
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["create robot ops"] and writes == [("POST", "/robots")]
    robot = next(item for item in client.list("/robots", "robots") if item["name"] == "robot$ops")
    assert robot["permissions"] == [
        {
            "kind": "system",
            "namespace": "/",
            "access": [
                {"resource": "garbage-collection", "action": "read"},
                {"resource": "registry", "action": "create"},
            ],
        }
    ]
    assert converge(client, store, config, monkeypatch) == ([], [])
    config["harbor_robots"][0]["system_access"].append("scan-all:create")
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["update robot ops (permissions)"] and len(writes) == 1
    # Harbor grants user:create (NolimitProvider), never user:push (src/common/rbac/const.go).
    assert dict(resources.problems({"harbor_robots": [{"name": "x", "system_access": ["user:create"]}]})) == {}
    refused = dict(resources.problems({"harbor_robots": [{"name": "x", "system_access": ["user:push"]}]}))
    assert "user:push: not a system permission Harbor grants" in refused["harbor_robots[0]"]


def test_cve_allowlists_system_and_project_with_expiry(client, store, monkeypatch):
    config = {
        "harbor_cve_allowlist": {"items": ["CVE-2024-3094", "CVE-2023-44487"], "expires_at": "2030-01-31"},
        "harbor_projects": [{"name": "apps", "cve_allowlist": {"items": ["CVE-2021-44228"]}}],
    }
    done, writes = converge(client, store, config, monkeypatch)
    assert done == [
        "create project apps",
        "update cve allowlist system (items: [] -> ['CVE-2023-44487', 'CVE-2024-3094'], "
        "expires_at: (unset) -> 1896048000)",
    ]
    # Harbor ignores a new project's list: it is set right after the creation.
    assert writes == [("POST", "/projects"), ("PUT", "/projects/2"), ("PUT", "/system/CVEAllowlist")]
    assert converge(client, store, config, monkeypatch) == ([], [])
    apps = resources.find_project(client, "apps")
    assert apps["metadata"]["reuse_sys_cve_allowlist"] == "false"
    assert [item["cve_id"] for item in apps["cve_allowlist"]["items"]] == ["CVE-2021-44228"]

    config["harbor_projects"][0]["cve_allowlist"]["expires_at"] = 1900000000
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["update project apps (cve_allowlist.expires_at: (unset) -> 1900000000)"] and len(writes) == 1
    # Back to the system's list; a system list emptied is its removal.
    config = {"harbor_cve_allowlist": {"items": []}, "harbor_projects": [{"name": "apps", "cve_allowlist": "system"}]}
    done, writes = converge(client, store, config, monkeypatch)
    assert len(done) == 2 and len(writes) == 2
    assert converge(client, store, config, monkeypatch) == ([], [])
    assert (
        "listed twice"
        in dict(resources.problems({"harbor_cve_allowlist": {"items": ["A", "A"]}}))["harbor_cve_allowlist"]
    )


def test_the_audit_log_purge_schedule(client, store, monkeypatch):
    config = {
        "harbor_audit_log_purge": {
            "schedule": "Daily",
            "retention_hours": 168,
            "event_types": ["create_artifact", "delete_artifact"],
        }
    }
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["create audit log purge schedule"] and writes == [("POST", "/system/purgeaudit/schedule")]
    assert converge(client, store, config, monkeypatch) == ([], [])
    config["harbor_audit_log_purge"]["retention_hours"] = 720
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["update audit log purge schedule (audit_retention_hour: 168 -> 720)"]
    assert writes == [("PUT", "/system/purgeaudit/schedule")]
    config["harbor_audit_log_purge"]["schedule"] = "None"
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["delete audit log purge schedule"] and len(writes) == 1
    assert client.get("/system/purgeaudit/schedule", "purge") is None
    assert converge(client, store, config, monkeypatch) == ([], [])
