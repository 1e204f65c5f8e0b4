"""How images move, converged against stand-in Harbors (core, registry and front in
process): immutable tag rules, webhooks, replication policies, the default scanner and
the scan-all schedule, retention rules with excludes and per-rule disable; a rotated
registry secret sent, a project with repositories refused unless purged. Each kind:
from nothing, a re-run sends no write request, one changed field is one write,
removal; every request body valid against the v2.13.1 swagger spec; no secret in any
change shown."""

import json

import pytest

from harbor_deploy.lib.config import validate
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.client import ApiError, HarborClient
from harbor_deploy.lib.harbor_api.resources import ResourceError
from lab.standin.tests.in_process import (
    INITIAL_ADMIN_PASSWORD,
    UPSTREAM_CREDENTIAL,
    Receiver,
    StandinHarborWithRegistry,
    UpstreamRegistry,
    push_image,
)
from lab.standin.tests.support import load_runtime
from tests.unit.lib.harbor_api.converging import converge

ADMIN = ("admin", INITIAL_ADMIN_PASSWORD)
HEADER = "Bearer hook-S3cret"


@pytest.fixture
def harbor(tmp_path, core_backing, rsa_key_pem):
    running = StandinHarborWithRegistry(
        tmp_path / "one",
        core_backing,
        rsa_key_pem,
        env={"WITH_TRIVY": "true", "TRIVY_ADAPTER_URL": "http://127.0.0.1:9"},
    )
    yield running
    running.stop()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


def manifest_digest(harbor, repository, tag):
    registry = load_runtime("harbor_core.distribution").Registry(harbor.url, credential=ADMIN)
    found = registry.manifest(repository, tag)
    return found[2] if found else None


# --- immutable tag rules --------------------------------------------------------------


def immutable(*rules):
    return {"harbor_projects": [{"name": "apps", "immutable_tags": list(rules)}]}


def test_immutable_rules_from_nothing_then_nothing_then_one_write_per_field(client, store, harbor, monkeypatch):
    config = immutable({"tags": "v*"}, {"repositories": "base/**", "exclude_tags": "latest", "disabled": True})
    done, writes = converge(client, store, config, monkeypatch)
    assert done == [
        "create project apps",
        "create immutable rule apps (tags v*)",
        "create immutable rule apps (repositories base/**, exclude_tags latest)",
    ]
    # Harbor stores a new rule enabled: the disabled one takes a second write.
    assert [method for method, _ in writes] == ["POST", "POST", "POST", "PUT"]
    assert converge(client, store, config, monkeypatch) == ([], [])

    changed = immutable({"tags": "release-*"}, {"repositories": "base/**", "exclude_tags": "latest", "disabled": True})
    done, writes = converge(client, store, changed, monkeypatch)
    assert done == ["update immutable rule apps (tags v*) (selects: 'tags v*' -> 'tags release-*')"]
    assert len(writes) == 1
    enabled = immutable({"tags": "release-*"}, {"repositories": "base/**", "exclude_tags": "latest"})
    done, writes = converge(client, store, enabled, monkeypatch)
    assert done == ["update immutable rule apps (repositories base/**, exclude_tags latest) (disabled: True -> False)"]
    assert len(writes) == 1

    # The rule is enforced: an existing release tag can't be pushed over.
    push_image(harbor.url, ADMIN, "apps/web", "release-1", b"one")
    with pytest.raises(Exception, match="configured as immutable"):
        push_image(harbor.url, ADMIN, "apps/web", "release-1", b"two")

    done, writes = converge(client, store, immutable(), monkeypatch)
    assert [change.split(" (")[0] for change in done] == ["delete immutable rule apps"] * 2
    assert converge(client, store, immutable(), monkeypatch) == ([], [])


def test_a_rule_whose_selectors_and_switch_changed_takes_two_writes(client, store, monkeypatch):
    converge(client, store, immutable({"tags": "v*"}), monkeypatch)
    done, writes = converge(client, store, immutable({"tags": "rc-*", "disabled": True}), monkeypatch)
    assert [change.split(") (")[1] for change in done] == [
        "selects: 'tags v*' -> 'tags rc-*')",
        "disabled: False -> True)",
    ]
    [rule] = client.list(f"/projects/{resources.find_project(client, 'apps')['project_id']}/immutabletagrules", "rules")
    assert rule["disabled"] is True and rule["tag_selectors"][0]["pattern"] == "rc-*"
    assert converge(client, store, immutable({"tags": "rc-*", "disabled": True}), monkeypatch) == ([], [])


# --- webhooks ---------------------------------------------------------------------------


def hooks(url, **fields):
    hook = {"name": "ci", "url": url, "events": ["PUSH_ARTIFACT"], "auth_header": True, **fields}
    return {"harbor_projects": [{"name": "apps", "webhooks": [hook]}]}


def test_a_webhook_from_nothing_delivers_with_its_header_then_nothing_then_one_write(
    client, store, harbor, receiver, monkeypatch, caplog
):
    store.store("webhooks/apps+ci", HEADER)
    config = hooks(receiver.url + "/hook")
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["create project apps", "create webhook apps/ci"]
    assert converge(client, store, config, monkeypatch) == ([], [])

    digest = push_image(harbor.url, ADMIN, "apps/web", "1.0")
    assert receiver.arrived.wait(10)
    [(_, headers, payload)] = receiver.received
    assert headers["Authorization"] == HEADER
    assert payload["event_data"]["resources"][0]["digest"] == digest

    store.store("webhooks/apps+ci", "Bearer rotated-S3cret")
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["update webhook apps/ci (auth_header: *****)"] and len(writes) == 1
    done, writes = converge(
        client, store, hooks(receiver.url + "/hook", events=["PUSH_ARTIFACT", "PULL_ARTIFACT"]), monkeypatch
    )
    assert done == ["update webhook apps/ci (events: ['PUSH_ARTIFACT'] -> ['PULL_ARTIFACT', 'PUSH_ARTIFACT'])"]
    assert len(writes) == 1
    assert "S3cret" not in caplog.text + " ".join(done)

    absent = {"harbor_projects": [{"name": "apps", "webhooks": [{"name": "ci", "state": "absent"}]}]}
    assert converge(client, store, absent, monkeypatch)[0] == ["delete webhook apps/ci"]
    assert converge(client, store, absent, monkeypatch) == ([], [])


def test_a_webhook_header_that_is_nowhere_is_refused_naming_where_it_goes(client, store, monkeypatch):
    with pytest.raises(ResourceError, match="auth header is in neither the secrets file webhooks/apps\\+ci"):
        converge(client, store, hooks("https://ci.example.org/hook"), monkeypatch)


@pytest.mark.parametrize(
    "hook, message",
    [
        ({"type": "slack"}, "a slack webhook takes no auth header"),
        ({"url": "https://ci.example.org/hook?token=1"}, "drops a query or fragment"),
        ({"events": ["PUSH_IMAGE"]}, "must be one of PUSH_ARTIFACT"),
        ({"url": None}, "url is required"),
    ],
)
def test_webhooks_harbor_would_refuse_are_refused_before_any_call(hook, message):
    project = {
        "name": "apps",
        "webhooks": [{"name": "ci", "url": "https://ci.example.org", "events": ["PUSH_ARTIFACT"], "auth_header": True}],
    }
    project["webhooks"][0].update(hook)
    project["webhooks"][0] = {key: value for key, value in project["webhooks"][0].items() if value is not None}
    data = {"harbor_hostname": "h.example.org", "harbor_projects": [project]}
    found = dict(validate.problems(data)) or dict(resources.problems(data))
    assert message in found["harbor_projects[0]"]


# --- replication ------------------------------------------------------------------------


def replication(second_url, *policies):
    return {
        "harbor_registries": [{"name": "second", "type": "harbor", "url": second_url, "access_key": "admin"}],
        "harbor_projects": [{"name": "apps"}],
        "harbor_replication_policies": list(policies),
    }


EVENT = {"name": "to-second", "push_to": "second", "repositories": "apps/**", "trigger": "event_based"}


def test_replication_from_nothing_copies_a_push_then_nothing_then_one_write(
    client, store, harbor, second_harbor, monkeypatch
):
    store.store("registries/second", INITIAL_ADMIN_PASSWORD)
    config = replication(second_harbor.url, EVENT)
    done, writes = converge(client, store, config, monkeypatch)
    assert done == ["create registry second", "create project apps", "create replication policy to-second"]
    assert converge(client, store, config, monkeypatch) == ([], [])

    digest = push_image(harbor.url, ADMIN, "apps/web", "1.0", b"event")
    harbor.settle()
    assert manifest_digest(second_harbor, "apps/web", "1.0") == digest

    changed = replication(second_harbor.url, {**EVENT, "override": False})
    done, writes = converge(client, store, changed, monkeypatch)
    assert done == ["update replication policy to-second (override: True -> False)"]
    assert [method for method, _ in writes] == ["PUT"]

    absent = replication(second_harbor.url, {"name": "to-second", "state": "absent"})
    assert converge(client, store, absent, monkeypatch)[0] == ["delete replication policy to-second"]


def test_a_policy_run_after_its_change_pulls_into_a_flattened_namespace(
    client, store, harbor, second_harbor, monkeypatch
):
    store.store("registries/second", INITIAL_ADMIN_PASSWORD)
    second_client = HarborClient(second_harbor.url, *ADMIN, retries=0)
    second_client.post("/projects", "project", {"project_name": "upstream", "metadata": {"public": "true"}})
    digest = push_image(second_harbor.url, ADMIN, "upstream/tools/base", "3", b"pulled")
    pull = {
        "name": "from-second",
        "pull_from": "second",
        "repositories": "upstream/**",
        "tags": "3*",
        "dest_namespace": "mirror",
        "flatten": 1,
        "run_after_change": True,
    }
    done, _ = converge(client, store, replication(second_harbor.url, pull), monkeypatch)
    assert done[-2:] == ["create replication policy from-second", "run replication policy from-second"]
    harbor.settle()
    assert manifest_digest(harbor, "mirror/tools/base", "3") == digest
    [execution] = client.get("/replication/executions", "executions")
    assert (execution["status"], execution["trigger"]) == ("Succeed", "manual")
    assert converge(client, store, replication(second_harbor.url, pull), monkeypatch) == ([], [])


@pytest.mark.parametrize(
    "policy, message",
    [
        ({"push_to": "a", "pull_from": "b"}, "push_to or pull_from"),
        ({}, "push_to or pull_from"),
        ({"push_to": "a", "trigger": "0 * * * * *"}, "minutes field"),
        ({"push_to": "a", "flatten": 4}, "must be all, 0, 1, 2 or 3"),
        ({"push_to": "a", "tags": "v*", "exclude_tags": "dev"}, "can't both be given"),
    ],
)
def test_replication_policies_harbor_would_refuse_are_refused_before_any_call(policy, message):
    data = {"harbor_hostname": "h.example.org", "harbor_replication_policies": [{"name": "p", **policy}]}
    found = dict(validate.problems(data)) or dict(resources.problems(data))
    assert message in found["harbor_replication_policies[0]"]


# --- a rotated registry secret ----------------------------------------------------------


def test_a_rotated_registry_secret_is_sent_once_and_harbor_checks_it(client, store, monkeypatch, caplog):
    upstream = UpstreamRegistry()
    try:
        config = {"harbor_registries": [{"name": "up", "type": "harbor", "url": upstream.url, "access_key": "puller"}]}
        store.store("registries/up", UPSTREAM_CREDENTIAL[1])
        assert converge(client, store, config, monkeypatch)[0] == ["create registry up"]
        assert converge(client, store, config, monkeypatch) == ([], [])
        sent = store.path("registries/up.sent")
        assert sent.stat().st_mode & 0o777 == 0o600 and UPSTREAM_CREDENTIAL[1] not in sent.read_text()

        upstream.expect(("puller", "R0tated-Secret"))  # the upstream changed it
        store.store("registries/up", "R0tated-Secret")
        done, writes = converge(client, store, config, monkeypatch)
        # Harbor health-checks the endpoint with what it is sent: the new secret passes.
        assert done == ["update registry up (access_secret: *****)"] and len(writes) == 1
        assert converge(client, store, config, monkeypatch) == ([], [])
        assert "R0tated" not in caplog.text
    finally:
        upstream.stop()


# --- deleting a project that holds images -------------------------------------------------


def test_a_project_with_repositories_is_refused_while_planning_unless_purged(client, store, harbor, monkeypatch):
    converge(client, store, {"harbor_projects": [{"name": "old"}]}, monkeypatch)
    push_image(harbor.url, ADMIN, "old/a", "1", b"a")
    push_image(harbor.url, ADMIN, "old/tools/b", "1", b"b")
    absent = {"harbor_projects": [{"name": "old", "state": "absent"}]}
    [(key, why)] = resources.harbor_problems(absent, lambda: client)
    assert key == "harbor_projects[0]" and "holds 2 repositories" in why and "purge: true" in why
    with pytest.raises(ResourceError, match="holds 2 repositories"):
        converge(client, store, absent, monkeypatch)
    purged = {"harbor_projects": [{"name": "old", "state": "absent", "purge": True}]}
    assert list(resources.harbor_problems(purged, lambda: client)) == []
    done, writes = converge(client, store, purged, monkeypatch)
    assert done == ["delete project old (purge: 2 repositories first)"]
    assert [method for method, _ in writes] == ["DELETE"] * 3
    assert resources.find_project(client, "old") is None


# --- scanning ---------------------------------------------------------------------------


def test_the_default_scanner_and_the_scan_all_schedule(client, store, monkeypatch):
    assert converge(client, store, {"harbor_default_scanner": "Trivy"}, monkeypatch) == ([], [])
    with pytest.raises(ResourceError, match="no scanner Clair \\(it has: Trivy\\)"):
        converge(client, store, {"harbor_default_scanner": "Clair"}, monkeypatch)
    daily = {"harbor_scan_all_schedule": {"schedule": "Daily"}}
    assert converge(client, store, daily, monkeypatch) == (
        ["create scan all schedule"],
        [("POST", "/system/scanAll/schedule")],
    )
    assert converge(client, store, daily, monkeypatch) == ([], [])
    done, writes = converge(client, store, {"harbor_scan_all_schedule": {"schedule": "Weekly"}}, monkeypatch)
    assert done == ["update scan all schedule (schedule: 'Daily 0 0 0 * * *' -> 'Weekly 0 0 0 * * 0')"]
    assert len(writes) == 1
    done, _ = converge(client, store, {"harbor_scan_all_schedule": {"schedule": "None"}}, monkeypatch)
    assert done == ["delete scan all schedule"]
    assert converge(client, store, {"harbor_scan_all_schedule": {"schedule": "None"}}, monkeypatch) == ([], [])


# --- retention excludes and per-rule disable, and the export of it all -----------------------


def test_everything_exported_configures_the_same_harbor_without_a_write(
    client, store, harbor, second_harbor, receiver, monkeypatch
):
    store.store("registries/second", INITIAL_ADMIN_PASSWORD)
    store.store("webhooks/apps+ci", HEADER)
    config = {
        **replication(
            second_harbor.url,
            EVENT,
            {**EVENT, "name": "nightly", "trigger": "Daily", "flatten": 0, "dest_namespace": "dr"},
        ),
        "harbor_projects": [
            {
                "name": "apps",
                "retention": {
                    "schedule": "Daily",
                    "rules": [
                        {"template": "latestPushedK", "count": 5, "exclude_tags": "keep-*"},
                        {"template": "always", "exclude_repositories": "scratch/**", "disabled": True},
                    ],
                },
                "immutable_tags": [{"tags": "v*"}],
                "webhooks": hooks(receiver.url)["harbor_projects"][0]["webhooks"],
            }
        ],
        "harbor_default_scanner": "Trivy",
        "harbor_scan_all_schedule": {"schedule": "Daily"},
    }
    converge(client, store, config, monkeypatch)
    assert converge(client, store, config, monkeypatch) == ([], [])
    exported = json.loads(json.dumps(resources.export(client)))
    [apps] = [project for project in exported["harbor_projects"] if project["name"] == "apps"]
    assert apps["retention"]["rules"][1] == {
        "template": "always",
        "exclude_repositories": "scratch/**",
        "disabled": True,
    }
    assert apps["immutable_tags"] == [{"tags": "v*"}]
    assert apps["webhooks"][0]["auth_header"] is True and HEADER not in json.dumps(exported)
    assert exported["harbor_scan_all_schedule"] == {"schedule": "Daily"}
    assert converge(client, store, exported, monkeypatch) == ([], [])


def test_scan_all_without_a_default_scanner_fails_with_harbors_reason(tmp_path, core_backing, rsa_key_pem, store):
    bare = StandinHarborWithRegistry(tmp_path / "bare", core_backing, rsa_key_pem)
    try:
        admin = HarborClient(bare.url, *ADMIN, retries=0)
        specs = [resources.scanning.scan_all_spec({"schedule": "Daily"})]
        with pytest.raises(ApiError, match="no scanner is configured"):
            resources.scanning.plan_scan_all(admin, specs)
        assert resources.scanning.export_scan_all(admin) is None
    finally:
        bare.stop()


def test_rules_and_webhooks_an_entry_cant_say_are_not_exported_so_configure_keeps_them(
    client, store, monkeypatch, caplog
):
    converge(client, store, {"harbor_projects": [{"name": "apps"}]}, monkeypatch)
    project_id = resources.find_project(client, "apps")["project_id"]
    two_selectors = {
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}] * 2,
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    }
    client.post(f"/projects/{project_id}/immutabletagrules", "by hand", two_selectors)
    target = {"type": "http", "address": "https://a.example.org"}
    by_hand = {"name": "two", "enabled": True, "event_types": ["PUSH_ARTIFACT"], "targets": [target, target]}
    client.post(f"/projects/{project_id}/webhook/policies", "by hand", by_hand)
    [apps] = [p for p in resources.export(client)["harbor_projects"] if p["name"] == "apps"]
    assert "immutable_tags" not in apps and "webhooks" not in apps
    assert (
        "a rule an entry can't say" in caplog.text and "webhook two of project apps has several targets" in caplog.text
    )
