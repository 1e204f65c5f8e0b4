"""The stand-in core's system configuration, sign-in checks, user groups, group members,
CVE allowlists and audit-log purge schedule, each answering as Harbor v2.13.1 does
(the facts are in the handlers' docstrings: lab/standin/runtime/harbor_core/api/)."""

import pytest

from lab import ldap_directory as lab_ldap
from lab.standin.tests.unit.test_core import ADMIN, Harbor, assert_list_of, assert_matches, make_project, make_user


@pytest.fixture
def harbor(tmp_path, core_backing):
    running = Harbor({"HARBOR_ADMIN_PASSWORD": ADMIN[1], "DATA_DIR": str(tmp_path / "data"), **core_backing})
    yield running
    running.stop()


def put_configuration(harbor, body, auth=ADMIN):
    return harbor.call("PUT", "/configurations", auth=auth, json=body)


def test_configurations_answer_every_user_key_typed_without_passwords(harbor):
    answer = harbor.call("GET", "/configurations", auth=ADMIN).json()
    assert_matches("ConfigurationsResponse", answer)
    assert answer["auth_mode"] == {"value": "db_auth", "editable": True}
    assert answer["ldap_scope"] == {"value": 2, "editable": True}
    assert answer["ldap_uid"]["value"] == "cn" and answer["ldap_url"]["value"] == ""
    assert answer["oidc_extra_redirect_parms"]["value"] == "{}"  # a map, as JSON text
    # Passwords are write-only; keys the response model lacks are dropped.
    for key in ("ldap_search_password", "oidc_client_secret", "pull_time_update_disable"):
        assert key not in answer
    assert harbor.call("GET", "/configurations").status_code == 401


@pytest.mark.parametrize(
    "body, message",
    [
        ({"read_only": "true"}, "cannot unmarshal string into Go struct field Configurations.read_only of type bool"),
        ({"ldap_url": " "}, "item name ldap_url: the configure value can not be empty"),
        ({"ldap_scope": 3}, "item name ldap_scope: invalid scope, should be 0, 1 or 2"),
        ({"auth_mode": "ad_auth"}, "invalid auth_mode, shoud be one of db_auth, ldap_auth, uaa_auth, http_auth"),
        ({"project_creation_restriction": "nobody"}, "should be adminonly or everyone"),
        ({"storage_per_project": 0}, "invalid non-positive value for quota limit, value=0"),
        ({"session_timeout": 0}, "the session_timeout value must be positive"),
        ({"robot_token_duration": 10_000_000_000}, "over the limit value: 9999999999"),
        ({"skip_audit_log_database": True}, "audit log forward endpoint should be configured before enable skip"),
        ({"ldap_group_search_filter": "(objectClass=groupOfNames)"}, "ldap group name attribute can not be empty"),
        ({"pull_time_update_disable": True}, "Missing configure item"),
    ],
)
def test_a_configuration_harbor_refuses_is_refused_with_its_message(harbor, body, message):
    answer = put_configuration(harbor, body)
    assert answer.status_code == 400
    assert message in answer.json()["errors"][0]["message"]


def test_settings_saved_passwords_kept_unread_and_the_auth_mode_locked_by_users(harbor):
    assert put_configuration(harbor, {"robot_token_duration": 90, "ldap_search_password": "Pw-1"}).status_code == 200
    answer = harbor.call("GET", "/configurations", auth=ADMIN).json()
    assert answer["robot_token_duration"]["value"] == 90 and "ldap_search_password" not in answer
    make_user(harbor, "alice")
    answer = harbor.call("GET", "/configurations", auth=ADMIN).json()
    assert answer["auth_mode"] == {"value": "db_auth", "editable": False}
    refused = put_configuration(harbor, {"auth_mode": "ldap_auth"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == (
        "the auth mode cannot be modified as new users have been inserted into database"
    )
    assert put_configuration(harbor, {"auth_mode": "db_auth"}).status_code == 200  # unchanged: allowed
    assert put_configuration(harbor, {"robot_token_duration": 1}, auth=("alice", "Secret123")).status_code == 403


def test_a_dead_audit_log_endpoint_is_saved_and_answered_400(harbor):
    answer = put_configuration(harbor, {"audit_log_forward_endpoint": "127.0.0.1:1"})
    assert answer.status_code == 400
    assert "could not connect to the audit endpoint: 127.0.0.1:1" in answer.json()["errors"][0]["message"]
    saved = harbor.call("GET", "/configurations", auth=ADMIN).json()["audit_log_forward_endpoint"]["value"]
    assert saved == "127.0.0.1:1"


def test_the_ldap_ping_binds_for_real(harbor, slapd):
    body = {"ldap_url": slapd.url, "ldap_search_dn": lab_ldap.SEARCH_DN, "ldap_base_dn": lab_ldap.PEOPLE}
    ping = lambda extra: harbor.call("POST", "/ldap/ping", auth=ADMIN, json={**body, **extra}).json()  # noqa: E731
    assert ping({"ldap_search_password": lab_ldap.SEARCH_PASSWORD}) == {"success": True}
    # success false is left out of the answer (go-swagger omitempty).
    assert ping({"ldap_search_password": "wrong"}) == {"message": "error: invalid credential"}
    assert ping({}) == {"message": "error: empty password"}
    assert ping({"ldap_search_password": "x", "ldap_search_dn": ""})["message"] == "error: empty search dn"
    dead = {"ldap_url": "ldap://127.0.0.1:1", "ldap_search_password": "x"}
    assert ping(dead)["message"] == "error: ldap server network timeout"
    assert ping({"ldap_url": "http://x", "ldap_search_password": "x"})["message"] == "error: fail to ping LDAP server"


def test_user_groups_as_harbor_serves_them(harbor):
    created = harbor.call("POST", "/usergroups", auth=ADMIN, json={"group_name": "ops", "group_type": 2})
    assert created.status_code == 201
    group_id = int(created.headers["Location"].rsplit("/", 1)[1])
    duplicate = harbor.call("POST", "/usergroups", auth=ADMIN, json={"group_name": "ops", "group_type": 3})
    assert duplicate.status_code == 409  # a name an HTTP group has is taken for every type
    assert harbor.call("POST", "/usergroups", auth=ADMIN, json={"group_type": 2}).status_code == 400
    ldap = harbor.call(
        "POST", "/usergroups", auth=ADMIN, json={"group_name": "devs", "group_type": 1, "ldap_group_dn": "cn=devs"}
    )
    assert ldap.status_code == 400 and "LDAP Group DN is not found" in ldap.json()["errors"][0]["message"]
    listed = harbor.call("GET", "/usergroups", auth=ADMIN).json()
    assert_list_of("UserGroup", listed)
    assert [(item["id"], item["group_name"]) for item in listed] == [(group_id, "ops")]
    one = harbor.call("GET", f"/usergroups/{group_id}", auth=ADMIN).json()
    assert one == {"group_name": "ops", "group_type": 2}  # no id, the empty DN left out
    assert harbor.call("PUT", f"/usergroups/{group_id}", auth=ADMIN, json={"group_name": "sre"}).status_code == 200
    make_project(harbor, ADMIN, "apps")
    member = {"role_id": 2, "member_group": {"id": group_id}}
    assert harbor.call("POST", "/projects/apps/members", auth=ADMIN, json=member).status_code == 201
    assert harbor.call("POST", "/projects/apps/members", auth=ADMIN, json=member).status_code == 409
    members = harbor.call("GET", "/projects/apps/members", auth=ADMIN).json()
    assert_list_of("ProjectMemberEntity", members)
    assert [(m["entity_type"], m["entity_name"]) for m in members] == [("u", "admin"), ("g", "sre")]
    assert harbor.call("DELETE", f"/usergroups/{group_id}", auth=ADMIN).status_code == 200
    assert [m["entity_type"] for m in harbor.call("GET", "/projects/apps/members", auth=ADMIN).json()] == ["u"]
    make_user(harbor, "bob")
    assert harbor.call("GET", "/usergroups", auth=("bob", "Secret123")).status_code == 403


def test_cve_allowlists_system_and_project(harbor):
    empty = harbor.call("GET", "/system/CVEAllowlist", auth=ADMIN).json()
    assert empty == {"items": []}  # project_id 0 left out (omitempty)
    body = {"items": [{"cve_id": "CVE-2024-3094"}], "expires_at": 1900000000}
    assert harbor.call("PUT", "/system/CVEAllowlist", auth=ADMIN, json=body).status_code == 200
    saved = harbor.call("GET", "/system/CVEAllowlist", auth=ADMIN).json()
    assert_matches("CVEAllowlist", saved)
    assert saved["items"] == [{"cve_id": "CVE-2024-3094"}] and saved["expires_at"] == 1900000000
    twice = {"items": [{"cve_id": "CVE-1"}, {"cve_id": "CVE-1"}]}
    assert harbor.call("PUT", "/system/CVEAllowlist", auth=ADMIN, json=twice).status_code == 500
    make_project(harbor, ADMIN, "apps")
    # A project starts with an empty list of its own.
    assert harbor.call("GET", "/projects/apps", auth=ADMIN).json()["cve_allowlist"]["items"] == []
    wrong = {"cve_allowlist": {"project_id": 99, "items": []}}
    assert harbor.call("PUT", "/projects/apps", auth=ADMIN, json=wrong).status_code == 400
    own = {"metadata": {"reuse_sys_cve_allowlist": "false"}, "cve_allowlist": {"items": [{"cve_id": "CVE-2"}]}}
    assert harbor.call("PUT", "/projects/apps", auth=ADMIN, json=own).status_code == 200
    project = harbor.call("GET", "/projects/apps", auth=ADMIN).json()
    assert project["cve_allowlist"]["items"] == [{"cve_id": "CVE-2"}]
    assert project["metadata"]["reuse_sys_cve_allowlist"] == "false"


def test_the_audit_log_purge_schedule(harbor):
    path = "/system/purgeaudit/schedule"
    assert harbor.call("GET", path, auth=ADMIN).content == b""
    parameters = {"audit_retention_hour": 168, "include_event_types": "create_artifact", "dry_run": False}
    body = {"schedule": {"type": "Daily", "cron": "0 0 0 * * *"}, "parameters": parameters}
    assert harbor.call("POST", path, auth=ADMIN, json=body).status_code == 201
    found = harbor.call("GET", path, auth=ADMIN).json()
    assert_matches("ExecHistory", found)
    assert found["schedule"]["type"] == "Daily" and '"audit_retention_hour": 168' in found["job_parameters"]
    for parameters, message in (
        ({}, "schedule parameter cann't be empty"),
        ({"include_event_types": "x"}, "audit_retention_hour should provide"),
        ({"audit_retention_hour": 240001, "include_event_types": "x"}, "should be less than 240000"),
        ({"audit_retention_hour": 1}, "include_event_types should provide"),
    ):
        answer = harbor.call("PUT", path, auth=ADMIN, json={**body, "parameters": parameters})
        assert answer.status_code == 400 and message in answer.json()["errors"][0]["message"]
    bad_cron = {**body, "schedule": {"type": "Custom", "cron": "5 0 0 * * *"}}
    answer = harbor.call("PUT", path, auth=ADMIN, json=bad_cron)
    assert answer.status_code == 400 and "scheduled log rotation purge" in answer.json()["errors"][0]["message"]
    removed = {**body, "schedule": {"type": "None"}}
    assert harbor.call("PUT", path, auth=ADMIN, json=removed).status_code == 200
    assert harbor.call("GET", path, auth=ADMIN).content == b""


def test_local_users_only_in_db_auth_and_the_admin_flag(harbor):
    user_id = make_user(harbor, "alice")
    assert harbor.call("PUT", f"/users/{user_id}/sysadmin", auth=ADMIN, json={"sysadmin_flag": True}).status_code == 200
    assert harbor.call("GET", "/configurations", auth=("alice", "Secret123")).status_code == 200
    harbor.app.save_configurations({"auth_mode": "oidc_auth"})  # as if set before alice existed
    answer = harbor.call(
        "POST", "/users", auth=ADMIN, json={"username": "bob", "password": "Secret123", "email": "b@example.com"}
    )
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["message"] == "creating local user is not allowed under auth mode: oidc_auth"
    profile = {"email": "a@example.com", "realname": "Alice"}
    assert harbor.call("PUT", f"/users/{user_id}", auth=ADMIN, json=profile).status_code == 403
