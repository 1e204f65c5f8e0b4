"""harbor_deploy.lib.harbor_api.resources: specs, payloads and diffs; converging a stand-in Harbor
core from scratch, re-run without changes, one quota update, admin password rotation,
robot secrets stored 0600 and never printed. Every request body is validated against
the v2.13.1 swagger spec."""

import contextlib
import datetime
import json
import logging

import pytest

from harbor_deploy.lib.config import validate
from harbor_deploy.lib.config.secrets import Secret, SecretStore
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.client import ApiError, AuthenticationError, HarborClient
from harbor_deploy.lib.plan import status
from lab.standin.tests.in_process import (
    INITIAL_ADMIN_PASSWORD,
    UPSTREAM_CREDENTIAL,
    StandinHarbor,
    UpstreamRegistry,
    assert_valid_request,
    record_requests,
)
from lab.standin.tests.support import load_runtime

PROJECTS = [
    {
        "name": "ci",
        "public": False,
        "storage_quota": "10G",
        "auto_scan": True,
        "prevent_vulnerable": True,
        "severity": "high",
        "members": [{"user": "alice", "role": "developer"}],
        "retention": {"schedule": "Daily", "rules": [{"template": "latestPushedK", "count": 10}]},
    },
    {"name": "hub", "public": True, "proxy_cache": "upstream"},
]
USERS = [{"username": "alice", "email": "alice@example.org", "realname": "Alice"}]
ROBOTS = [{"name": "jenkins", "project": "ci"}, {"name": "puller", "access": ["pull"], "duration": 30}]
GC = {"schedule": "Weekly", "delete_untagged": True}


# --- specs, payloads, diffs --------------------------------------------------------


def test_parse_size():
    assert resources.parse_size("10G") == 10 * 1024**3
    assert resources.parse_size("500MiB") == 500 * 1024**2
    assert resources.parse_size(-1) == -1
    with pytest.raises(ValueError):
        resources.parse_size("ten")


def test_project_payload_carries_metadata_strings_quota_and_registry():
    spec = resources.projects.project_spec(PROJECTS[0])
    payload = resources.projects.project_payload(spec, registry_id=3)
    assert payload == {
        "project_name": "ci",
        "storage_limit": 10 * 1024**3,
        "registry_id": 3,
        "metadata": {"public": "false", "auto_scan": "true", "prevent_vul": "true", "severity": "high"},
    }
    assert_valid_request("POST", "/projects", payload)


def test_project_without_public_is_created_private_but_its_visibility_is_not_managed():
    spec = resources.projects.project_spec({"name": "x"})
    assert resources.projects.project_payload(spec)["metadata"] == {"public": "false"}
    assert resources.projects.metadata_diff(spec["metadata"], {"public": "true"}) == {}


def test_metadata_diff_lists_only_differing_managed_keys():
    desired = resources.projects.project_spec(PROJECTS[0])["metadata"]
    current = {"public": "false", "auto_scan": "false", "prevent_vul": "true", "severity": "low", "retention_id": "4"}
    assert resources.projects.metadata_diff(desired, current) == {"auto_scan": "true", "severity": "high"}


def test_robot_payloads_default_to_push_and_pull_in_the_project():
    spec = resources.robots.robot_spec(ROBOTS[0])
    payload = resources.robots.robot_payload(spec)
    assert payload["level"] == "project" and payload["duration"] == -1
    assert payload["permissions"] == [
        {
            "kind": "project",
            "namespace": "ci",
            "access": [{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}],
        }
    ]
    assert_valid_request("POST", "/robots", payload)
    system = resources.robots.robot_payload(resources.robots.robot_spec(ROBOTS[1]))
    assert system["level"] == "system" and system["permissions"][0]["namespace"] == "*"


def test_robot_diff_ignores_order_and_extra_fields_of_harbor():
    spec = resources.robots.robot_spec(ROBOTS[0])
    current = {
        "description": "",
        "duration": -1,
        "disable": False,
        "permissions": [
            {
                "kind": "project",
                "namespace": "ci",
                "access": [
                    {"resource": "repository", "action": "push", "effect": "allow"},
                    {"resource": "repository", "action": "pull"},
                ],
            }
        ],
    }
    assert resources.robots.robot_diff(spec, current) == []
    current["duration"] = 7
    current["permissions"][0]["access"].pop()
    assert [str(field) for field in resources.robots.robot_diff(spec, current)] == ["duration: 7 -> -1", "permissions"]


def names_of_schedule_diff(spec, current):
    return [field.name for field in resources.schedules.schedule_diff(spec, current)]


def test_gc_payload_and_diff():
    spec = resources.schedules.gc_spec({"schedule": "0 0 3 * * *", "workers": 2})
    payload = resources.schedules.schedule_payload(spec)
    assert payload == {
        "schedule": {"type": "Custom", "cron": "0 0 3 * * *"},
        "parameters": {"delete_untagged": True, "workers": 2},
    }
    assert_valid_request("POST", "/system/gc/schedule", payload)
    assert names_of_schedule_diff(spec, None) == ["schedule", "delete_untagged", "workers"]
    current = {
        "schedule": {"type": "Custom", "cron": "0 0 3 * * *"},
        "job_parameters": json.dumps({"delete_untagged": True, "workers": 2, "extra": 1}),
    }
    assert names_of_schedule_diff(spec, current) == []
    assert names_of_schedule_diff(resources.schedules.gc_spec({"schedule": "None"}), current) == ["schedule"]


def test_every_scheduled_gc_type_carries_its_cron():
    # Harbor validates the cron of Hourly, Daily and Weekly too: the type implies none.
    weekly = resources.schedules.schedule_payload(resources.schedules.gc_spec({"schedule": "Weekly"}))
    assert weekly["schedule"] == {"type": "Weekly", "cron": "0 0 0 * * 0"}
    assert weekly["parameters"] == {"delete_untagged": True, "workers": 1}
    assert names_of_schedule_diff(
        resources.schedules.gc_spec({"schedule": "Weekly"}),
        {
            "schedule": {"type": "Weekly", "cron": "0 0 1 * * 0"},
            "job_parameters": json.dumps({"delete_untagged": True, "workers": 1}),
        },
    ) == ["schedule"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"schedule": "5 0 0 * * *"}, "seconds"),
        ({"schedule": "0 0 *  * * *"}, "6-field cron"),
    ],
)
def test_gc_schedules_harbor_refuses_are_refused_first(raw, message):
    with pytest.raises(ValueError, match=message):
        resources.schedules.gc_spec(raw)


def test_retention_payload_is_a_valid_policy_and_diffs_on_rules_and_schedule():
    spec = resources.retention.retention_spec(PROJECTS[0]["retention"])
    payload = resources.retention.retention_payload(spec, project_id=2)
    assert payload["trigger"]["settings"]["cron"] == "0 0 0 * * *"
    assert payload["rules"][0]["params"] == {"latestPushedK": 10}
    assert_valid_request("POST", "/retentions", payload)
    assert resources.retention.retention_diff(spec, payload) == []
    changed = resources.retention.retention_spec({"rules": [{"template": "latestPushedK", "count": 5}]})
    assert resources.retention.retention_diff(changed, payload) == ["rules", "schedule"]


def test_registry_payload_sends_the_secret_only_inside_the_credential():
    spec = resources.registries.registry_spec({"name": "dockerhub", "type": "docker-hub", "access_key": "me"})
    payload = resources.registries.registry_payload(spec, Secret("T0kenValue", "test"))
    assert payload["credential"] == {"type": "basic", "access_key": "me", "access_secret": "T0kenValue"}
    assert_valid_request("POST", "/registries", payload)
    assert [
        str(field)
        for field in resources.registries.registry_diff(
            spec,
            {
                "url": "https://hub.docker.com",
                "insecure": False,
                "description": "",
                "credential": {"access_key": "other"},
            },
        )
    ] == ["access_key: 'other' -> 'me'"]


def test_problems_name_the_entry_and_the_mistake():
    """Shapes come from the schema, Harbor's rules from the kinds: both name the entry."""
    data = {
        "harbor_hostname": "harbor.example.org",
        "harbor_projects": [{"name": "ci", "severity": "extreme"}, {"name": "Bad Name"}],
        "harbor_robots": [{"name": "x", "duration": 0}],
        "harbor_users": [
            {"username": "a", "password": "inline"},
            {"username": "b", "realname": "B"},
            {"username": "c", "email": "c@example.org", "comment": "x" * 31},
        ],
        "harbor_gc_schedule": {"schedule": "Daily", "workers": 11},
    }
    shapes = dict(validate.problems(data))
    assert "severity must be one of" in shapes["harbor_projects[0]"]
    assert "lowercase" in shapes["harbor_projects[1]"]
    assert "duration" in shapes["harbor_robots[0]"]
    assert "unknown field 'password' (did you mean password_env?)" in shapes["harbor_users[0]"]
    assert shapes["harbor_gc_schedule"] == "workers must be an integer from 1 to 10"
    rules = dict(resources.problems({**data, "harbor_gc_schedule": {"schedule": "sometimes"}}))
    assert "email is required" in rules["harbor_users[1]"]
    assert "at most 30 bytes" in rules["harbor_users[2]"]
    assert "is not Hourly, Daily, Weekly or a 6-field cron" in rules["harbor_gc_schedule"]


def test_gc_takes_the_1_to_10_workers_harbor_takes():
    # src/server/v2.0/handler/gc.go validateWorkers: 0 < workers <= 10.
    for workers, ok in ((1, True), (6, True), (10, True), (0, False), (11, False)):
        data = {"harbor_hostname": "h.example.org", "harbor_gc_schedule": {"schedule": "Daily", "workers": workers}}
        assert (dict(validate.problems(data)) == {}) is ok, workers


def test_robot_access_outside_harbors_permission_list_is_refused_before_any_call():
    # src/common/rbac/const.go, checked by src/server/v2.0/handler/robot.go on create and update.
    spec = resources.robots.robot_spec({"name": "r", "project": "p", "access": ["artifact:delete", "member:list"]})
    assert spec["permissions"] == (("p", (("artifact", "delete"), ("member", "list"))),)
    for access in (["repository:write"], ["registry:create"], [{"resource": "user", "action": "create"}]):
        with pytest.raises(ValueError, match="not in Harbor's list of what a robot may do in a project"):
            resources.robots.robot_spec({"name": "r", "project": "p", "access": access})
    found = dict(resources.problems({"harbor_robots": [{"name": "r", "access": ["pull", "push", "helm:pull"]}]}))
    assert "access helm:pull is not in Harbor's list" in found["harbor_robots[0]"]


def test_the_deploy_and_the_stand_in_know_the_same_robot_permission_list():
    rbac = load_runtime("harbor_core.rbac")
    assert resources.robots.PROJECT_ACCESS == rbac.PROJECT_ACCESS
    system = {
        (resource, action) for resource, actions in resources.robots.SYSTEM_PERMISSIONS.items() for action in actions
    }
    assert system == rbac.SYSTEM_ACCESS


def test_the_deploy_and_the_stand_in_permit_the_same_proxy_cache_registry_types():
    assert resources.registries.PROXY_CACHE_TYPES == load_runtime("harbor_core.api.projects").PROXY_CACHE_TYPES


def test_a_proxy_cache_on_a_registry_type_harbor_does_not_permit_is_refused_before_any_call():
    # PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE (make/photon/prepare/templates/core/env.jinja).
    data = {
        "harbor_registries": [
            {"name": "lab", "type": "harbor", "url": "https://lab.example.org"},
            {"name": "gitlab", "type": "gitlab", "url": "https://gitlab.example.org"},
        ],
        "harbor_projects": [{"name": "cache", "proxy_cache": "lab"}, {"name": "gl", "proxy_cache": "gitlab"}],
    }
    found = dict(resources.problems(data))
    assert list(found) == ["harbor_projects[1]"]
    assert "gitlab endpoint: Harbor makes proxy caches of docker-hub, harbor" in found["harbor_projects[1]"]


def test_retention_takes_at_most_15_rules_and_no_two_alike():
    # src/server/v2.0/handler/retention.go: > 15 rules 400, identical rules 409.
    rule = {"template": "latestPushedK", "count": 1}
    many = [{**rule, "count": count} for count in range(1, 17)]
    assert len(resources.retention.retention_spec({"rules": many[:15]})["rules"]) == 15
    with pytest.raises(ValueError, match="16 rules: Harbor takes at most 15"):
        resources.retention.retention_spec({"rules": many})
    with pytest.raises(ValueError, match="rule 2 is rule 0 again"):
        resources.retention.retention_spec({"rules": [rule, {**rule, "count": 2}, dict(rule)]})


def test_a_quota_is_at_most_1024_terabytes():
    # src/lib/quota_storage_limit.go: more than 1125899906842624 bytes is refused.
    assert resources.parse_size("1024T") == 1125899906842624
    for size in ("1025T", 1125899906842625):
        with pytest.raises(ValueError, match="at most 1024T"):
            resources.parse_size(size)


def test_a_change_prints_resource_and_fields_only():
    change = resources.Change("update", "project", "ci", ("storage_quota",), apply=lambda: None)
    assert str(change) == "update project ci (storage_quota)"


# --- converge a stand-in Harbor --------------------------------------------------


@pytest.fixture
def harbor(tmp_path, core_backing):
    running = StandinHarbor(tmp_path / "data", core_backing)
    yield running
    running.stop()


@pytest.fixture
def upstream():
    registry = UpstreamRegistry()
    yield registry
    registry.stop()


@pytest.fixture
def store(tmp_path):
    store = SecretStore(tmp_path / "secrets" / "harbor.test.internal", env={})
    store.store("admin_password", INITIAL_ADMIN_PASSWORD)
    store.store("registries/upstream", UPSTREAM_CREDENTIAL[1])
    return store


@pytest.fixture
def registries(upstream):
    return [{"name": "upstream", "type": "harbor", "url": upstream.url, "access_key": UPSTREAM_CREDENTIAL[0]}]


@pytest.fixture
def access(harbor, store):
    return resources.AdminAccess(HarborClient(harbor.url, retries=0), store)


def plan_all(access, store, registries, projects=PROJECTS):
    """Every change, in the configure deploy's order, each applied right after planning its kind."""
    done = []
    planners = [
        access.plan_rotation,
        lambda: resources.registries.plan_registries(
            access.client(), [resources.registries.registry_spec(r) for r in registries], store
        ),
        lambda: resources.users.plan_users(access.client(), [resources.users.user_spec(u) for u in USERS], store),
        lambda: resources.projects.plan_projects(
            access.client(), [resources.projects.project_spec(p) for p in projects]
        ),
        lambda: resources.projects.plan_members(
            access.client(), [resources.projects.project_spec(p) for p in projects]
        ),
        lambda: resources.robots.plan_robots(access.client(), [resources.robots.robot_spec(r) for r in ROBOTS], store),
        lambda: resources.retention.plan_retention(
            access.client(), [resources.projects.project_spec(p) for p in projects]
        ),
        lambda: resources.schedules.plan_gc(access.client(), [resources.schedules.gc_spec(GC)]),
    ]
    for plan in planners:
        for change in plan():
            change.apply()
            done.append(str(change))
    return done


def test_converge_from_scratch_then_nothing_to_do(access, store, registries, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    sent = record_requests(monkeypatch)
    done = plan_all(access, store, registries)
    assert done == [
        "rotate admin password",
        "create registry upstream",
        "create user alice",
        "create project ci",
        "create project hub",
        "create member ci/alice",
        "create robot ci+jenkins",
        "create robot puller",
        "create retention ci",
        "create gc schedule",
    ]
    writes = [(method, path, body) for method, path, body in sent if method != "GET"]
    assert writes
    for method, path, body in writes:
        assert_valid_request(method, path.split("?")[0], body)
    assert plan_all(access, store, registries) == []

    client = access.client()
    ci = resources.find_project(client, "ci")
    assert ci["metadata"]["auto_scan"] == "true" and ci["metadata"]["severity"] == "high"
    assert resources.projects.project_quota(client, ci)["hard"]["storage"] == 10 * 1024**3
    hub = resources.find_project(client, "hub")
    assert hub["registry_id"] == resources.find_registry(client, "upstream")["id"]

    # Secrets: 0600 files, never in logs; the robot's secret logs in.
    secrets = [
        store.path("robots/ci+jenkins"),
        store.path("robots/puller"),
        store.path("users/alice"),
        store.path("admin_password_managed"),
    ]
    for path in secrets:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text() not in caplog.text
    robot = client.with_credentials("robot$ci+jenkins", store.path("robots/ci+jenkins").read_text())
    assert robot.get("/projects/ci", "project ci", headers={"X-Is-Resource-Name": "true"})["name"] == "ci"
    alice = client.with_credentials("alice", store.path("users/alice").read_text())
    assert alice.authenticates()


def test_a_quota_change_is_exactly_one_update(access, store, registries):
    plan_all(access, store, registries)
    bigger = [{**PROJECTS[0], "storage_quota": "20G"}, PROJECTS[1]]
    assert plan_all(access, store, registries, bigger) == [
        "update project ci (storage_quota: 10737418240 -> 21474836480)"
    ]
    assert plan_all(access, store, registries, bigger) == []


def test_admin_password_rotation_refuses_the_old_one(harbor, access, store):
    initial_client = HarborClient(harbor.url, "admin", INITIAL_ADMIN_PASSWORD, retries=0)
    assert initial_client.authenticates()
    [rotation] = access.plan_rotation()
    rotation.apply()
    assert not initial_client.authenticates()
    managed = store.path("admin_password_managed").read_text()
    assert managed != INITIAL_ADMIN_PASSWORD
    assert HarborClient(harbor.url, "admin", managed, retries=0).authenticates()
    assert access.plan_rotation() == []


@contextlib.contextmanager
def answers_lost(monkeypatch, method):
    """``HarborClient.<method>`` requests reach Harbor, their answers never come back."""
    sent = getattr(HarborClient, method)

    def answer_lost(self, path, resource, json):
        sent(self, path, resource, json)
        raise ApiError(method.upper(), resource, None, "ConnectionError: connection reset")

    with monkeypatch.context() as patch:
        patch.setattr(HarborClient, method, answer_lost)
        yield


def test_a_rotation_whose_answer_was_lost_leaves_the_new_password_working(harbor, access, store, monkeypatch):
    [rotation] = access.plan_rotation()
    with answers_lost(monkeypatch, "put"), pytest.raises(ApiError):
        rotation.apply()  # Harbor changes the password; the answer never arrives
    assert access.plan_rotation() == []
    assert access.client().session.auth.password.reveal() == store.path("admin_password_managed").read_text()


def test_neither_admin_password_works(access, store):
    store.store("admin_password", "Wrong1234567")
    with pytest.raises(AuthenticationError) as raised:
        access.client()
    assert "Wrong1234567" not in str(raised.value)
    assert "admin_password" in str(raised.value)


def test_a_lost_robot_secret_is_refreshed_only_on_request(access, store, registries, caplog):
    plan_all(access, store, registries)
    path = store.path("robots/ci+jenkins")
    path.unlink()
    client = access.client()
    assert resources.robots.plan_robots(client, [resources.robots.robot_spec(ROBOTS[0])], store) == []
    assert "set refresh: true" in caplog.text
    [refresh] = resources.robots.plan_robots(
        client, [resources.robots.robot_spec({**ROBOTS[0], "refresh": True})], store
    )
    assert str(refresh) == "refresh robot ci+jenkins (secret)"
    refresh.apply()
    assert path.stat().st_mode & 0o777 == 0o600
    robot = client.with_credentials("robot$ci+jenkins", path.read_text())
    assert robot.get("/projects/ci", "project ci", headers={"X-Is-Resource-Name": "true"})["name"] == "ci"


def test_a_robot_whose_creation_went_unanswered_gets_a_new_secret(access, store, registries, monkeypatch):
    plan_all(access, store, registries)
    client = access.client()
    spec = resources.robots.robot_spec(ROBOTS[0])
    store.path("robots/ci+jenkins").unlink()
    resources.robots.plan_robots(client, [{**spec, "state": "absent"}], store)[0].apply()
    [create] = resources.robots.plan_robots(client, [spec], store)
    with answers_lost(monkeypatch, "post"), pytest.raises(ApiError):
        create.apply()  # Harbor creates the robot; the answer never arrives
    assert not store.path("robots/ci+jenkins").exists()
    [refresh] = resources.robots.plan_robots(client, [spec], store)
    assert str(refresh) == "refresh robot ci+jenkins (secret)"
    refresh.apply()
    assert not store.path("robots/ci+jenkins.unanswered").exists()
    robot = client.with_credentials("robot$ci+jenkins", store.path("robots/ci+jenkins").read_text())
    assert robot.get("/projects/ci", "project ci", headers={"X-Is-Resource-Name": "true"})["name"] == "ci"
    assert resources.robots.plan_robots(client, [spec], store) == []


def test_state_absent_deletes_and_missing_entries_are_left_alone(access, store, registries):
    plan_all(access, store, registries)
    client = access.client()
    spec = resources.robots.robot_spec({**ROBOTS[1], "state": "absent"})
    [delete] = resources.robots.plan_robots(client, [spec], store)
    assert str(delete) == "delete robot puller"
    delete.apply()
    assert resources.robots.plan_robots(client, [spec], store) == []
    # Leaving ci out of the data deletes nothing.
    assert resources.projects.plan_projects(client, [resources.projects.project_spec(PROJECTS[1])]) == []
    assert resources.find_project(client, "ci") is not None


def test_changing_a_proxy_cache_registry_is_refused(access, store, registries):
    plan_all(access, store, registries)
    with pytest.raises(resources.ResourceError, match="creation only"):
        resources.projects.plan_projects(
            access.client(), [resources.projects.project_spec({**PROJECTS[0], "proxy_cache": "upstream"})]
        )


def test_a_converged_harbor_gets_no_write_at_all(access, store, registries, monkeypatch):
    # Harbor leaves "", false and {} out of answers: diffs must read them as such.
    robots = [*ROBOTS, {"name": "off", "project": "ci", "disable": True, "description": ""}]
    projects = [*PROJECTS, {"name": "keep", "retention": {"rules": [{"template": "always"}]}}]
    plan_all(access, store, registries, projects)
    sent = record_requests(monkeypatch)
    for plan in (
        lambda: resources.robots.plan_robots(access.client(), [resources.robots.robot_spec(r) for r in robots], store),
        lambda: resources.retention.plan_retention(
            access.client(), [resources.projects.project_spec(p) for p in projects]
        ),
    ):
        for change in plan():
            change.apply()
    sent.clear()
    assert plan_all(access, store, registries, projects) == []
    assert resources.robots.plan_robots(access.client(), [resources.robots.robot_spec(r) for r in robots], store) == []
    assert [method for method, _, _ in sent if method != "GET"] == []


def test_names_with_a_plus_are_found_so_a_rerun_sends_no_write(access, store, upstream, monkeypatch):
    # Harbor unescapes q a second time (src/lib/q/builder.go): "dev+ci" sent once-encoded
    # would be looked for as "dev ci", never found, and POSTed again (409) on every run.
    users = [{"username": "dev+ci", "email": "dev-ci@example.org"}]
    registries = [{"name": "a+b", "type": "harbor", "url": upstream.url}]
    store.store("users/dev+ci", "Dev+ci-Passw0rd")

    def converge():
        changes = [
            *resources.registries.plan_registries(
                access.client(), [resources.registries.registry_spec(r) for r in registries], store
            ),
            *resources.users.plan_users(access.client(), [resources.users.user_spec(u) for u in users], store),
        ]
        for change in changes:
            change.apply()
        return [str(change) for change in changes]

    assert converge() == ["create registry a+b", "create user dev+ci"]
    sent = record_requests(monkeypatch)
    assert converge() == []
    assert [method for method, _, _ in sent if method != "GET"] == []


def test_a_proxy_cache_projects_retention_replaces_the_policy_harbor_gave_it(access, store, registries, monkeypatch):
    # handler/project.go binds a new proxy cache project to a default policy at once:
    # the wanted one is a PUT over it, never a second POST (Harbor refuses that).
    retention = {"schedule": "Daily", "rules": [{"template": "latestPulledN", "count": 5}]}
    projects = [PROJECTS[0], {"name": "hub", "proxy_cache": "upstream", "retention": retention}]
    done = plan_all(access, store, registries, projects)
    assert "update retention hub (rules)" in done and "create retention hub" not in done
    sent = record_requests(monkeypatch)
    assert plan_all(access, store, registries, projects) == []
    assert [method for method, _, _ in sent if method != "GET"] == []


def test_a_robot_to_disable_is_disabled_after_creation(access, store, registries):
    plan_all(access, store, registries)
    spec = resources.robots.robot_spec({"name": "off", "project": "ci", "disable": True})
    [create] = resources.robots.plan_robots(access.client(), [spec], store)
    create.apply()
    robot = resources.robots.find_robot(access.client(), spec, "robot$")
    assert robot["disable"] is True
    assert resources.robots.plan_robots(access.client(), [spec], store) == []


def test_robots_are_found_under_the_systems_name_prefix(access, store, registries):
    plan_all(access, store, registries)
    client = access.client()
    client.put("/configurations", "configuration", {"robot_name_prefix": "bot_"})
    specs = [resources.robots.robot_spec({**ROBOTS[0], "description": "ci builds"})]
    [update] = resources.robots.plan_robots(client, specs, store)
    assert str(update) == "update robot ci+jenkins (description: '' -> 'ci builds')"
    update.apply()
    assert resources.robots.plan_robots(client, specs, store) == []
    robot = client.with_credentials("bot_ci+jenkins", store.path("robots/ci+jenkins").read_text())
    assert robot.get("/projects/ci", "project ci", headers={"X-Is-Resource-Name": "true"})["name"] == "ci"


def test_a_profile_update_sends_email_realname_and_comment_together(access, store, registries, monkeypatch):
    users = [{**USERS[0], "comment": "ops team"}]
    plan_all(access, store, registries)
    for change in resources.users.plan_users(access.client(), [resources.users.user_spec(u) for u in users], store):
        change.apply()
    sent = record_requests(monkeypatch)
    # Only the real name is named now: the comment Harbor has must survive the update.
    renamed = [{"username": "alice", "email": "alice@example.org", "realname": "Alice A"}]
    [update] = resources.users.plan_users(access.client(), [resources.users.user_spec(u) for u in renamed], store)
    assert str(update) == "update user alice (realname: 'Alice' -> 'Alice A')"
    update.apply()
    [(_, _, body)] = [item for item in sent if item[0] == "PUT"]
    assert body == {"email": "alice@example.org", "realname": "Alice A", "comment": "ops team"}
    user = resources.users.find_user(access.client(), "alice")
    assert (user["realname"], user["comment"]) == ("Alice A", "ops team")


def test_a_password_from_the_environment_must_meet_harbors_rule_before_anything_is_sent(access, store, monkeypatch):
    sent = record_requests(monkeypatch)
    spec = resources.users.user_spec({"username": "bob", "email": "bob@example.org", "password_env": "BOB_PW"})
    with pytest.raises(resources.ResourceError, match="env BOB_PW must be 8-128 characters"):
        resources.users.plan_users(access.client(), [spec], SecretStore(store.directory, env={"BOB_PW": "weakpass"}))
    assert [method for method, _, _ in sent if method != "GET"] == []


def test_a_registry_update_keeps_a_secret_the_controller_does_not_have(access, store, registries):
    plan_all(access, store, registries)
    store.path("registries/upstream").unlink()
    changed = [{**registries[0], "description": "mirror"}]
    [update] = resources.registries.plan_registries(
        access.client(), [resources.registries.registry_spec(r) for r in changed], store
    )
    update.apply()  # Harbor's health check uses the stored secret: it must still be there
    assert (
        resources.registries.plan_registries(
            access.client(), [resources.registries.registry_spec(r) for r in changed], store
        )
        == []
    )


def test_an_endpoint_harbor_cannot_reach_is_explained(access, store):
    hub = resources.registries.registry_spec({"name": "hub", "type": "docker-hub"})
    [create] = resources.registries.plan_registries(access.client(), [hub], store)
    with pytest.raises(resources.ResourceError, match="registry-1.docker.io .*internet access"):
        create.apply()


def test_a_quota_of_0_is_refused_harbor_would_take_it_as_default():
    with pytest.raises(ValueError, match="positive size"):
        resources.parse_size(0)
    with pytest.raises(ValueError, match="positive size"):
        resources.parse_size("0G")


# --- robots that expire, robots whose secret is replaced ----------------------------


def test_status_finds_the_robots_about_to_expire_soonest_first(access, store, registries):
    plan_all(access, store, registries)  # puller: 30 days; ci+jenkins: never
    client = access.client()
    spec = resources.robots.robot_spec({"name": "short", "project": "ci", "duration": 3})
    [create] = resources.robots.plan_robots(client, [spec], store)
    create.apply()
    robots = resources.robots.all_robots(client)
    assert {robot["name"] for robot in robots} == {"robot$ci+jenkins", "robot$ci+short", "robot$puller"}
    now = datetime.datetime.now(datetime.UTC)
    assert [robot["name"] for robot in status.expiring_robots(robots, 14, now)] == ["robot$ci+short"]
    later = status.expiring_robots(robots, 14, now + datetime.timedelta(days=20))
    assert [(robot["name"], robot["days_left"]) for robot in later] == [("robot$ci+short", -18), ("robot$puller", 9)]
    expired, soon = status.robot_problems({"expiring": later, "error": None})
    assert expired.startswith("robot robot$ci+short expired on ")
    assert soon.startswith("robot robot$puller expires in 9 days (") and "raise its duration" in soon
    assert status.expiring_robots(robots, 0, now) == []


def test_a_longer_duration_counts_from_the_robots_creation_as_harbors_does(access, store, registries):
    plan_all(access, store, registries)
    client = access.client()
    puller = resources.robots.find_robot(client, resources.robots.robot_spec(ROBOTS[1]), "robot$")
    created = datetime.datetime.strptime(puller["creation_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)
    [update] = resources.robots.plan_robots(client, [resources.robots.robot_spec({**ROBOTS[1], "duration": 90})], store)
    assert str(update) == "update robot puller (duration: 30 -> 90)"
    update.apply()
    puller = resources.robots.find_robot(client, resources.robots.robot_spec(ROBOTS[1]), "robot$")
    assert abs(puller["expires_at"] - (created + datetime.timedelta(days=90)).timestamp()) < 2


def test_a_robot_named_for_refresh_gets_a_new_secret_and_the_old_one_stops_working(access, store, registries):
    plan_all(access, store, registries)
    client = access.client()
    old = store.path("robots/ci+jenkins").read_text()
    config = {"harbor_robots": ROBOTS, "harbor_robot_refresh": ["ci+jenkins"]}
    kind = next(kind for kind in resources.KINDS if kind.key == "harbor_robots")
    specs = [kind.spec(raw) for raw in kind.entries(config)]
    [refresh] = kind.plan(client, specs, store)
    assert str(refresh) == "refresh robot ci+jenkins (secret)"
    refresh.apply()
    new = store.path("robots/ci+jenkins").read_text()
    assert new != old and store.path("robots/ci+jenkins").stat().st_mode & 0o777 == 0o600
    assert not client.with_credentials("robot$ci+jenkins", old).authenticates()  # 401: refused
    robot = client.with_credentials("robot$ci+jenkins", new)
    assert robot.get("/projects/ci", "project ci", headers={"X-Is-Resource-Name": "true"})["name"] == "ci"
    # Without the key, the next run leaves it alone.
    assert kind.plan(client, [kind.spec(raw) for raw in kind.entries({"harbor_robots": ROBOTS})], store) == []


def test_a_robot_to_refresh_must_be_one_of_harbor_robots():
    found = list(
        resources.problems({"harbor_robots": ROBOTS, "harbor_robot_refresh": ["ci+jenkins", "ci+nobody", "puller"]})
    )
    assert found == [
        (
            "harbor_robot_refresh",
            "ci+nobody is no robot of harbor_robots (as <project>+<name>, or <name> at system level)",
        )
    ]
