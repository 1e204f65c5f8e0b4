"""The configure deploy against what real Harbor v2.13.1 enforces, which the lab's
stand-in enforces too (each rule from Harbor's source; see lab/standin/runtime/core.py):

1. an Accept header the operation does not produce is refused (/ping is text/plain);
2. every scheduled GC type needs its cron;
3. users need an email and a real name, and a profile update replaces all three fields;
4. empty and false fields are left out of answers: a converged Harbor gets no write;
5. registry endpoints are health-checked on create and update, from the server;
6. robot names carry the system's prefix; ``disable`` is ignored on create;
7. a quota of 0, a weak password from the environment, are refused before any change;
   a registry update never blanks a stored access secret;
8. ``q=`` is unescaped a second time and split on ",": a user ``dev+ci`` and a
   registry ``a+b`` are found, so a re-run sends no write.

Every resource kind is present in one configuration; a re-run sends no POST, PUT,
PATCH or DELETE at all, counted in Harbor's own request log (core.log).
"""

import json

import pytest
import requests

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api.client import HarborClient, query_params
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from tests.lab.conftest import changed_count, configure, request_log_mark, writes_between

USER = {
    "username": "contract-dev",
    "email": "contract-dev@lab.internal",
    "realname": "Contract dev",
    "comment": "contract",
}
SELF = "self"  # a registry endpoint: the lab Harbor itself, as Harbor's core reaches it
PLUS_USER = {"username": "dev+ci", "email": "dev-ci@lab.internal", "realname": "Dev CI"}
PLUS_REGISTRY = {"name": "a+b", "type": "harbor", "insecure": True}


def resources(hostname):
    return {
        "harbor_registries": [{"name": SELF, "type": "harbor", "url": f"https://{hostname}:8443", "insecure": True}],
        "harbor_users": [USER],
        "harbor_projects": [
            {
                "name": "contract",
                "storage_quota": "1G",
                "auto_scan": True,
                "members": [{"user": USER["username"], "role": "developer"}],
                "retention": {"schedule": "Daily", "rules": [{"template": "latestPushedK", "count": 3}]},
            },
            {"name": "contract-cache", "proxy_cache": SELF},
        ],
        "harbor_robots": [
            {"name": "builder", "project": "contract"},
            {"name": "off", "project": "contract", "disable": True},
            {"name": "contract-reader", "projects": ["contract"], "access": ["pull"], "duration": 30},
        ],
        "harbor_gc_schedule": {"schedule": "Weekly", "delete_untagged": True},
    }


@pytest.fixture(scope="module")
def harbor(harbor_server):
    secrets = harbor_server["secrets_dir"] / harbor_server["hostname"]
    anonymous = HarborClient(
        f"https://{harbor_server['address']}:{harbor_server['https_port']}", verify=str(secrets / "ca.crt")
    )
    store = SecretStore(secrets)
    return {
        **harbor_server,
        "anonymous": anonymous,
        "store": store,
        "admin": lambda: AdminAccess(anonymous, store).client(),
    }


@pytest.fixture(scope="module")
def converged(harbor):
    """This test's resources removed, then configured from scratch once."""
    client = harbor["admin"]()
    for name in ("contract-cache", "contract"):
        project = client.get_or_none(f"/projects/{name}", name, headers={"X-Is-Resource-Name": "true"})
        if project:
            for robot in client.list("/robots", "robots", {"q": f"Level=project,ProjectID={project['project_id']}"}):
                client.delete(f"/robots/{robot['id']}", robot["name"])
            client.delete(f"/projects/{project['project_id']}", name)
    for robot in client.list("/robots", "robots", {"q": "Level=system"}):
        if robot["name"].endswith("contract-reader"):
            client.delete(f"/robots/{robot['id']}", robot["name"])
    for registry in client.list("/registries", "registries"):
        if registry["name"] in (SELF, "self-auth", "hub", PLUS_REGISTRY["name"]):
            client.delete(f"/registries/{registry['id']}", registry["name"])
    for username in (USER["username"], PLUS_USER["username"]):
        for user in client.list("/users", "users", query_params("username", username)):
            if user["username"] == username:
                client.delete(f"/users/{user['user_id']}", user["username"])
    for name in (
        "robots/contract+builder",
        "robots/contract+off",
        "robots/contract-reader",
        "registries/self-auth",
        f"users/{USER['username']}",
        f"users/{PLUS_USER['username']}",
    ):
        harbor["store"].path(name).unlink(missing_ok=True)
    first = configure(**resources(harbor["hostname"]))
    assert json.loads(first.stdout)["results"]["totals"]["error"] == 0, first.stderr
    return first


def test_an_accept_header_the_operation_does_not_produce_is_refused(harbor):
    url = f"{harbor['anonymous'].base_url}/api/v2.0/ping"
    refused = requests.get(
        url, headers={"Accept": "application/json"}, verify=harbor["anonymous"].session.verify, timeout=30
    )
    assert refused.status_code == 422
    assert "unsupported media type requested, only [text/plain] are available" in refused.json()["errors"][0]["message"]
    assert harbor["anonymous"].ping() == "Pong"


def test_every_resource_kind_converges_and_a_rerun_sends_no_write_request(harbor, converged):
    assert changed_count(converged) >= 6, converged.stderr  # admin and GC may be set already
    start = request_log_mark(harbor)
    again = configure(**resources(harbor["hostname"]))
    end = request_log_mark(harbor)
    assert changed_count(again) == 0, again.stderr
    assert writes_between(harbor, start, end) == []


def test_a_user_and_a_registry_named_with_a_plus_converge_and_a_rerun_sends_no_write(harbor, converged):
    data = resources(harbor["hostname"])
    data["harbor_users"] = [*data["harbor_users"], PLUS_USER]
    data["harbor_registries"] = [
        *data["harbor_registries"],
        {**PLUS_REGISTRY, "url": f"https://{harbor['hostname']}:8443"},
    ]
    first = configure(**data)
    assert changed_count(first) == 2, first.stderr  # the two new ones
    start = request_log_mark(harbor)
    again = configure(**data)
    end = request_log_mark(harbor)
    assert changed_count(again) == 0, again.stderr
    assert writes_between(harbor, start, end) == []
    client = harbor["admin"]()
    assert [u["username"] for u in client.list("/users", "users", query_params("username", "dev+ci"))] == ["dev+ci"]


def test_answers_leave_out_empty_and_false_fields_and_the_disabled_robot_is_disabled(harbor, converged):
    client = harbor["admin"]()
    contract = client.get("/projects/contract", "project contract")
    assert "registry_id" not in contract and contract["repo_count"] == 0
    cache = client.get("/projects/contract-cache", "project contract-cache")
    assert cache["registry_id"] > 0
    robots = {
        robot["name"]: robot
        for robot in client.list("/robots", "robots", {"q": f"Level=project,ProjectID={contract['project_id']}"})
    }
    assert "description" not in robots["robot$contract+builder"]
    assert robots["robot$contract+builder"]["disable"] is False
    assert robots["robot$contract+off"]["disable"] is True


def test_harbor_refuses_a_scheduled_gc_without_a_cron(harbor, converged):
    client = harbor["admin"]()
    answer = client.request(
        "PUT",
        "/system/gc/schedule",
        "gc schedule",
        ok=(400,),
        json={"schedule": {"type": "Weekly"}, "parameters": {"delete_untagged": True}},
    )
    assert answer.status_code == 400
    assert "empty cron string is invalid" in answer.json()["errors"][0]["message"]
    schedule = client.get("/system/gc/schedule", "gc schedule")["schedule"]
    assert schedule == {"type": "Weekly", "cron": "0 0 0 * * 0"}


def test_a_user_needs_an_email_and_a_profile_update_keeps_what_is_not_named(harbor, converged):
    client = harbor["admin"]()
    refused = client.request(
        "POST",
        "/users",
        "user",
        ok=(400,),
        json={"username": "noemail", "password": "Secret1234", "realname": "No email"},
    )
    assert refused.json()["errors"][0]["message"] == "email can't be empty"
    renamed = resources(harbor["hostname"])
    renamed["harbor_users"] = [{"username": USER["username"], "email": USER["email"], "realname": "Renamed dev"}]
    run = configure(**renamed)
    assert changed_count(run) == 1, run.stderr
    [user] = [u for u in client.list("/users", "users") if u["username"] == USER["username"]]
    assert (user["realname"], user["comment"]) == ("Renamed dev", "contract")
    assert changed_count(configure(**renamed)) == 0
    assert changed_count(configure(**resources(harbor["hostname"]))) == 1  # back as the other tests want it


def test_an_endpoint_harbor_cannot_reach_fails_with_the_reason_and_nothing_else(harbor, converged):
    data = resources(harbor["hostname"])
    data["harbor_registries"] = [*data["harbor_registries"], {"name": "hub", "type": "docker-hub"}]
    start = request_log_mark(harbor)
    failed = configure(check=False, **data)
    end = request_log_mark(harbor)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "registry hub: Harbor checks an endpoint whenever it is created or changed" in output
    assert "registry-1.docker.io" in output and "Traceback" not in output
    # The one write tried is the refused endpoint; the run stopped there.
    [write] = writes_between(harbor, start, end)
    assert '"POST /api/v2.0/registries HTTP/1.1" 400' in write


def test_a_registry_update_keeps_the_access_secret_harbor_stores(harbor, converged):
    store = harbor["store"]
    store.store("registries/self-auth", store.path("robots/contract+builder").read_text().strip())
    data = resources(harbor["hostname"])
    authed = {
        "name": "self-auth",
        "type": "harbor",
        "url": f"https://{harbor['hostname']}:8443",
        "insecure": True,
        "access_key": "robot$contract+builder",
    }
    data["harbor_registries"] = [*data["harbor_registries"], authed]
    created = configure(**data)
    assert changed_count(created) == 1, created.stderr
    # The controller loses the secret; a description change must not blank Harbor's copy
    # (Harbor checks the endpoint with it on every update).
    store.path("registries/self-auth").unlink()
    data["harbor_registries"][-1] = {**authed, "description": "with the robot's login"}
    updated = configure(**data)
    assert changed_count(updated) == 1, updated.stderr
    assert changed_count(configure(**data)) == 0


def test_robots_are_found_under_another_name_prefix(harbor, converged):
    client = harbor["admin"]()
    client.put("/configurations", "configuration", {"robot_name_prefix": "bot_"})
    try:
        run = configure(**resources(harbor["hostname"]))
        assert changed_count(run) == 0, run.stderr
        names = [robot["name"] for robot in client.list("/robots", "robots", {"q": "Level=system"})]
        assert "bot_contract-reader" in names
    finally:
        client.put("/configurations", "configuration", {"robot_name_prefix": "robot$"})


@pytest.mark.parametrize(
    "change, env, message",
    [
        (
            lambda data: data["harbor_projects"][0].update(storage_quota=0),
            None,
            "harbor_projects[0]: must be -1 (unlimited) or a positive size",
        ),
        (
            lambda data: data["harbor_users"][0].update(password_env="CONTRACT_WEAK_PW"),
            {"CONTRACT_WEAK_PW": "weakpass"},
            "harbor_users[0]: the password from env CONTRACT_WEAK_PW must be 8-128 characters",
        ),
    ],
)
def test_what_harbor_would_refuse_is_refused_before_any_change(harbor, converged, change, env, message):
    data = resources(harbor["hostname"])
    change(data)
    start = request_log_mark(harbor)
    failed = configure(check=False, env=env, **data)
    end = request_log_mark(harbor)
    assert failed.returncode != 0
    assert message in failed.stdout + failed.stderr
    assert writes_between(harbor, start, end) == []
