"""The stand-in core on how images move, each behaviour against Harbor v2.13.1's:
immutable tag rules and the push they refuse, webhooks delivered over HTTP when a
client pushes, replication policies whose executions copy artifacts through the
registry API between two Harbors, repositories deleted, scanners and the scan-all
schedule. Each Harbor is core with a registry behind its front (nginx's routing), in
process, on the session's PostgreSQL and Redis."""

import time

import pytest
import requests

from lab.standin.tests.in_process import INITIAL_ADMIN_PASSWORD, Receiver, StandinHarborWithRegistry, push_image
from lab.standin.tests.support import load_runtime

ADMIN = ("admin", INITIAL_ADMIN_PASSWORD)
JSON = {"Accept": "application/json"}
distribution = load_runtime("harbor_core.distribution")


@pytest.fixture
def harbor(tmp_path, core_backing, rsa_key_pem):
    running = StandinHarborWithRegistry(tmp_path / "one", core_backing, rsa_key_pem)
    yield running
    running.stop()


def api(harbor, method, path, body=None, **headers):
    return requests.request(
        method,
        f"{harbor.url}/api/v2.0{path}",
        json=body,
        auth=ADMIN,
        headers={**JSON, **headers},
        timeout=30,
    )


def make_project(harbor, name, public=False):
    answer = api(harbor, "POST", "/projects", {"project_name": name, "metadata": {"public": str(public).lower()}})
    assert answer.status_code == 201, answer.text


IMMUTABLE_ALL = {
    "action": "immutable",
    "template": "immutable_template",
    "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
    "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
}


# --- immutable tag rules -------------------------------------------------------------


def test_an_immutable_rule_is_created_enabled_and_a_changed_switch_is_all_an_update_applies(harbor):
    make_project(harbor, "apps")
    created = api(harbor, "POST", "/projects/apps/immutabletagrules", {**IMMUTABLE_ALL, "disabled": True})
    assert created.status_code == 201
    rule_id = int(created.headers["Location"].rsplit("/", 1)[1])
    [rule] = api(harbor, "GET", "/projects/apps/immutabletagrules").json()
    assert "disabled" not in rule  # dao.CreateImmutableRule stores it enabled (false left out)
    # The same request again: UNIQUE(project_id, tag_filter), the rule's JSON as it was sent.
    again = api(harbor, "POST", "/projects/apps/immutabletagrules", {**IMMUTABLE_ALL, "disabled": True})
    assert again.status_code == 409 and "immutable rule already exists" in again.text
    # The path's id must be the body's.
    assert api(harbor, "PUT", f"/projects/apps/immutabletagrules/{rule_id}", IMMUTABLE_ALL).status_code == 400
    # Switch and pattern changed together: only the switch is applied.
    changed = {
        **IMMUTABLE_ALL,
        "id": rule_id,
        "disabled": True,
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "release-*"}],
    }
    assert api(harbor, "PUT", f"/projects/apps/immutabletagrules/{rule_id}", changed).status_code == 200
    [rule] = api(harbor, "GET", "/projects/apps/immutabletagrules").json()
    assert rule["disabled"] is True and rule["tag_selectors"][0]["pattern"] == "v*"
    assert api(harbor, "PUT", f"/projects/apps/immutabletagrules/{rule_id}", changed).status_code == 200
    [rule] = api(harbor, "GET", "/projects/apps/immutabletagrules").json()
    assert rule["tag_selectors"][0]["pattern"] == "release-*"
    assert api(harbor, "DELETE", f"/projects/apps/immutabletagrules/{rule_id}").status_code == 200
    assert api(harbor, "GET", "/projects/apps/immutabletagrules").json() == []


def test_an_existing_immutable_tag_cannot_be_pushed_over(harbor):
    make_project(harbor, "apps")
    assert api(harbor, "POST", "/projects/apps/immutabletagrules", IMMUTABLE_ALL).status_code == 201
    push_image(harbor.url, ADMIN, "apps/web", "v1", b"first")
    push_image(harbor.url, ADMIN, "apps/web", "latest", b"first")
    with pytest.raises(distribution.RegistryError, match="412.*'web:v1' configured as immutable"):
        push_image(harbor.url, ADMIN, "apps/web", "v1", b"second")
    push_image(harbor.url, ADMIN, "apps/web", "latest", b"second")  # not matched: pushed over
    push_image(harbor.url, ADMIN, "apps/web", "v2", b"second")  # a new tag: pushed


# --- webhooks ---------------------------------------------------------------------------


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


def webhook(url, **target):
    return {
        "name": "ci",
        "enabled": True,
        "event_types": ["PUSH_ARTIFACT"],
        "targets": [{"type": "http", "address": url, **target}],
    }


def test_webhooks_are_checked_as_harbor_checks_them(harbor, receiver):
    make_project(harbor, "apps")
    path = "/projects/apps/webhook/policies"
    refused = [
        ({**webhook(receiver.url), "event_types": []}, "empty event type"),
        ({**webhook(receiver.url), "event_types": ["PUSH_IMAGE"]}, "unsupported event type PUSH_IMAGE"),
        ({**webhook(receiver.url), "targets": []}, "empty notification target with policy ci"),
        (webhook(receiver.url, type="email"), "unsupported target type email"),
        (webhook(receiver.url, type="slack", payload_format="Default"), "payload format is not allowed for slack"),
        (webhook(receiver.url, payload_format="XML"), "unsupported payload format type: XML"),
    ]
    for body, message in refused:
        answer = api(harbor, "POST", path, body)
        assert answer.status_code == 400 and message in answer.text, (body, answer.text)
    assert api(harbor, "POST", path, webhook(receiver.url + "/hook/?token=x")).status_code == 201
    [policy] = api(harbor, "GET", path).json()
    # ParseEndpoint (a trailing "/" of the whole text trimmed), then scheme://host/path: the
    # query goes; payload_format defaults for http.
    assert policy["targets"] == [{"type": "http", "address": receiver.url + "/hook/", "payload_format": "Default"}]
    assert api(harbor, "POST", path, webhook(receiver.url)).status_code == 409  # UNIQUE(name, project_id)


def test_a_push_is_delivered_to_the_webhook_with_its_auth_header(harbor, receiver):
    make_project(harbor, "apps")
    body = webhook(receiver.url + "/hook", auth_header="Bearer s3cr3t-hook")
    assert api(harbor, "POST", "/projects/apps/webhook/policies", body).status_code == 201
    digest = push_image(harbor.url, ADMIN, "apps/web", "1.0")
    assert receiver.arrived.wait(10)
    [(path, headers, payload)] = receiver.received
    assert path == "/hook" and headers["Authorization"] == "Bearer s3cr3t-hook"
    assert payload["type"] == "PUSH_ARTIFACT" and payload["operator"] == "admin"
    assert payload["event_data"]["repository"]["repo_full_name"] == "apps/web"
    assert payload["event_data"]["repository"]["repo_type"] == "private"
    assert payload["event_data"]["resources"] == [
        {"digest": digest, "tag": "1.0", "resource_url": "harbor.test.internal/apps/web:1.0"}
    ]


def test_no_webhook_fires_while_notifications_are_off_or_the_policy_is_disabled(harbor, receiver):
    make_project(harbor, "apps")
    assert api(harbor, "POST", "/projects/apps/webhook/policies", webhook(receiver.url)).status_code == 201
    assert api(harbor, "PUT", "/configurations", {"notification_enable": False}).status_code == 200
    push_image(harbor.url, ADMIN, "apps/web", "1")
    api(harbor, "PUT", "/configurations", {"notification_enable": True})
    [policy] = api(harbor, "GET", "/projects/apps/webhook/policies").json()
    disabled = {**webhook(receiver.url), "enabled": False}
    assert api(harbor, "PUT", f"/projects/apps/webhook/policies/{policy['id']}", disabled).status_code == 200
    push_image(harbor.url, ADMIN, "apps/web", "2")
    harbor.settle()
    assert receiver.received == []


# --- repositories and projects ------------------------------------------------------------


def test_a_project_with_repositories_is_deleted_once_they_are(harbor):
    make_project(harbor, "old")
    push_image(harbor.url, ADMIN, "old/tools/web", "1")
    refused = api(harbor, "DELETE", "/projects/old")
    assert refused.status_code == 412
    assert "the project contains repositories, can not be deleted" in refused.text
    assert api(harbor, "GET", "/projects/old", **{"X-Is-Resource-Name": "true"}).json()["repo_count"] == 1
    # The repository's name within the project, its "/" encoded twice.
    assert api(harbor, "DELETE", "/projects/old/repositories/tools%252Fweb").status_code == 200
    assert api(harbor, "DELETE", "/projects/old").status_code == 200


# --- replication ------------------------------------------------------------------------------


def endpoint(harbor, second_harbor):
    answer = api(
        harbor,
        "POST",
        "/registries",
        {
            "name": "second",
            "type": "harbor",
            "url": second_harbor.url,
            "credential": {"type": "basic", "access_key": "admin", "access_secret": INITIAL_ADMIN_PASSWORD},
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.headers["Location"].rsplit("/", 1)[1])


def replication_policy(name, registry_id, direction="push", **fields):
    side = "dest_registry" if direction == "push" else "src_registry"
    return {"name": name, side: {"id": registry_id}, "enabled": True, "override": True, **fields}


def wait_execution(harbor, policy_id, count=1, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = api(harbor, "GET", f"/replication/executions?policy_id={policy_id}").json()
        if len(executions) >= count and all(item["status"] != "InProgress" for item in executions):
            return executions
        time.sleep(0.2)
    raise AssertionError(f"no finished execution of policy {policy_id}: {executions}")


def digest_of(harbor, repository, tag):
    registry = distribution.Registry(harbor.url, credential=ADMIN)
    found = registry.manifest(repository, tag)
    return found[2] if found else None


def test_replication_policies_are_checked_as_harbor_checks_them(harbor, second_harbor):
    registry_id = endpoint(harbor, second_harbor)
    refused = [
        ({"name": "", "dest_registry": {"id": registry_id}}, 400, "empty name"),
        ({"name": "p"}, 400, "either src_registry or dest_registry should be empty"),
        (
            {"name": "p", "src_registry": {"id": registry_id}, "dest_registry": {"id": registry_id}},
            400,
            "either src_registry or dest_registry",
        ),
        (replication_policy("p", 999), 404, "registry 999 not found"),
        (
            replication_policy("p", registry_id, filters=[{"type": "name", "value": "a/**", "decoration": "excludes"}]),
            400,
            "only tag and label filter support decoration",
        ),
        (
            replication_policy("p", registry_id, filters=[{"type": "resource", "value": "chart"}]),
            400,
            "invalid resource filter",
        ),
        (
            replication_policy(
                "p", registry_id, trigger={"type": "scheduled", "trigger_settings": {"cron": "0 * * * * *"}}
            ),
            400,
            "* is not allowed for the Minutes field",
        ),
        (
            replication_policy(
                "p", registry_id, trigger={"type": "scheduled", "trigger_settings": {"cron": "5 0 * * * *"}}
            ),
            400,
            "1st field",
        ),
        (replication_policy("p", registry_id, dest_namespace="Bad_NS"), 400, "invalid destination namespace"),
    ]
    for body, status, message in refused:
        answer = api(harbor, "POST", "/replication/policies", body)
        assert answer.status_code == status and message in answer.text, (body, answer.text)
    created = api(
        harbor, "POST", "/replication/policies", replication_policy("p", registry_id, replicate_deletion=True, speed=-5)
    )
    assert created.status_code == 201
    [policy] = api(harbor, "GET", "/replication/policies?name=p").json()
    # handler/replication.go reads "deletion" only; a speed below 0 is 0; no count is -1.
    assert "deletion" not in policy and "replicate_deletion" not in policy
    assert policy["speed"] == 0 and policy["dest_namespace_replace_count"] == -1
    assert policy["src_registry"]["name"] == "Local" and policy["dest_registry"]["name"] == "second"
    assert api(harbor, "POST", "/replication/policies", replication_policy("p", registry_id)).status_code == 409
    # An endpoint a policy uses can't be deleted.
    assert api(harbor, "DELETE", f"/registries/{registry_id}").status_code == 412


def test_a_push_replicates_to_the_second_harbor_by_event_and_by_hand(harbor, second_harbor):
    registry_id = endpoint(harbor, second_harbor)
    make_project(harbor, "apps")
    event = replication_policy(
        "to-second", registry_id, trigger={"type": "event_based"}, filters=[{"type": "name", "value": "apps/**"}]
    )
    assert api(harbor, "POST", "/replication/policies", event).status_code == 201
    [policy] = api(harbor, "GET", "/replication/policies").json()
    digest = push_image(harbor.url, ADMIN, "apps/web", "1.0", b"event")
    [execution] = wait_execution(harbor, policy["id"])
    assert (execution["status"], execution["trigger"], execution["succeed"]) == ("Succeed", "event_based", 1)
    assert digest_of(second_harbor, "apps/web", "1.0") == digest  # the project was made there too
    second_project = api(second_harbor, "GET", "/projects/apps", **{"X-Is-Resource-Name": "true"}).json()
    assert second_project["metadata"]["public"] == "false"

    manual = replication_policy(
        "by-hand",
        registry_id,
        dest_namespace="mirror",
        dest_namespace_replace_count=1,
        filters=[{"type": "tag", "value": "2.*"}],
    )
    assert api(harbor, "POST", "/replication/policies", manual).status_code == 201
    manual_id = next(p["id"] for p in api(harbor, "GET", "/replication/policies").json() if p["name"] == "by-hand")
    other = push_image(harbor.url, ADMIN, "apps/web", "2.0", b"manual")
    assert api(harbor, "POST", "/replication/executions", {"policy_id": manual_id}).status_code == 201
    [execution] = wait_execution(harbor, manual_id)
    assert (execution["status"], execution["trigger"], execution["total"]) == ("Succeed", "manual", 1)
    assert digest_of(second_harbor, "mirror/web", "2.0") == other
    assert digest_of(second_harbor, "mirror/web", "1.0") is None  # the tag filter kept 2.* only


def test_a_disabled_policy_cannot_be_run_and_a_pull_copies_from_the_other_harbor(harbor, second_harbor):
    registry_id = endpoint(harbor, second_harbor)
    make_project(second_harbor, "upstream", public=True)
    digest = push_image(second_harbor.url, ADMIN, "upstream/base", "3", b"pulled")
    disabled = replication_policy("pull", registry_id, direction="pull", enabled=False)
    assert api(harbor, "POST", "/replication/policies", disabled).status_code == 201
    [policy] = api(harbor, "GET", "/replication/policies").json()
    refused = api(harbor, "POST", "/replication/executions", {"policy_id": policy["id"]})
    assert refused.status_code == 412 and f"the policy {policy['id']} is disabled" in refused.text
    enabled = replication_policy("pull", registry_id, direction="pull")
    assert api(harbor, "PUT", f"/replication/policies/{policy['id']}", enabled).status_code == 200
    assert api(harbor, "POST", "/replication/executions", {"policy_id": policy["id"]}).status_code == 201
    [execution] = wait_execution(harbor, policy["id"])
    assert execution["status"] == "Succeed", execution
    assert digest_of(harbor, "upstream/base", "3") == digest
    local = api(harbor, "GET", "/projects/upstream", **{"X-Is-Resource-Name": "true"}).json()
    assert local["metadata"]["public"] == "true"  # PrepareForPush: public as the source


# --- scanners and scan all --------------------------------------------------------------------


def test_without_a_default_scanner_no_scan_all_call_is_answered(harbor):
    answer = api(harbor, "GET", "/system/scanAll/schedule")
    assert answer.status_code == 412 and "no scanner is configured" in answer.text


@pytest.fixture
def with_trivy(tmp_path, core_backing, rsa_key_pem):
    running = StandinHarborWithRegistry(
        tmp_path / "trivy",
        core_backing,
        rsa_key_pem,
        env={"WITH_TRIVY": "true", "TRIVY_ADAPTER_URL": "http://127.0.0.1:9"},
    )
    yield running
    running.stop()


def test_trivy_is_registered_as_the_default_and_the_scan_all_schedule_is_one(with_trivy):
    harbor = with_trivy
    [scanner] = api(harbor, "GET", "/scanners").json()
    assert (scanner["name"], scanner["is_default"], scanner["url"]) == ("Trivy", True, "http://127.0.0.1:9")
    assert api(harbor, "PATCH", f"/scanners/{scanner['uuid']}", {"is_default": True}).status_code == 200
    assert api(harbor, "GET", "/system/scanAll/schedule").content == b""
    daily = {"schedule": {"type": "Daily", "cron": "0 0 0 * * *"}}
    assert api(harbor, "POST", "/system/scanAll/schedule", daily).status_code == 201
    again = api(harbor, "POST", "/system/scanAll/schedule", daily)
    assert again.status_code == 412 and "always had one" in again.text
    weekly = {"schedule": {"type": "Weekly", "cron": "0 0 0 * * 0"}}
    assert api(harbor, "PUT", "/system/scanAll/schedule", weekly).status_code == 200
    assert api(harbor, "GET", "/system/scanAll/schedule").json()["schedule"] == weekly["schedule"]
    assert api(harbor, "PUT", "/system/scanAll/schedule", {"schedule": {"type": "Manual"}}).status_code == 400
    assert api(harbor, "PUT", "/system/scanAll/schedule", {"schedule": {"type": "None"}}).status_code == 200
    assert api(harbor, "GET", "/system/scanAll/schedule").content == b""
