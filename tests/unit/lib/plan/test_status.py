"""harbor_deploy.lib.plan.status: what makes ``deploys/status.py`` exit non-zero."""

import datetime

from harbor_deploy.lib.plan.status import backup_age_hours, expiring_robots, problems, trivy_databases

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
HEALTHY = {
    "running_version": "v2.13.1",
    "service": "enabled/active",
    "health": "healthy",
    "components": {},
    "containers": {"harbor-core": "running/healthy", "harbor-log": "running/healthy", "nginx": "running/none"},
    "certificate_not_after": "2027-11-28T12:00:00+00:00",
    "firewalld": {"enabled": True, "service_ports": ["8443/tcp"], "zone_ports": []},
}


def test_a_healthy_harbor_has_no_problem():
    assert problems(HEALTHY, NOW) == []
    assert problems({**HEALTHY, "firewalld": None, "certificate_not_after": None}, NOW) == []


def test_each_unhealthy_part_is_named():
    status = {
        **HEALTHY,
        "service": "enabled/failed",
        "health": "unhealthy",
        "components": {"registry": "unhealthy"},
        "containers": {**HEALTHY["containers"], "registry": "exited/none", "harbor-core": "running/starting"},
        "certificate_not_after": "2026-12-10T12:00:00+00:00",
        "firewalld": {"enabled": False, "service_ports": None, "zone_ports": []},
    }
    assert problems(status, NOW) == [
        "harbor.service is enabled/failed, not enabled/active",
        "Harbor's health answer is unhealthy (registry unhealthy)",
        "container harbor-core is running/starting",
        "container registry is exited/none",
        "the served certificate expires in 12 days (2026-12-10T12:00:00+00:00)",
        "firewalld runs without Harbor's service enabled in its zone",
    ]


def test_no_harbor_at_all_is_one_problem():
    assert problems({**HEALTHY, "running_version": None, "service": "disabled/inactive"}, NOW) == [
        "no Harbor release is installed (harbor.service disabled/inactive)"
    ]
    assert problems({**HEALTHY, "containers": {}, "health": "no answer"}, NOW) == [
        "Harbor's health answer is no answer",
        "no Harbor container exists",
    ]


def test_a_backups_age_in_hours():
    assert backup_age_hours("20261128T000000Z", NOW) == 12.0


def test_robots_about_to_expire_or_unreadable_are_problems():
    soon = {"name": "robot$apps+ci", "expires_at": "2026-12-03T12:00:00+00:00", "days_left": 5}
    assert problems({**HEALTHY, "robots": {"expiring": [soon], "error": None}}, NOW) == [
        "robot robot$apps+ci expires in 5 days (2026-12-03): raise its duration, or make it anew, and roll its "
        "secret out"
    ]
    assert problems({**HEALTHY, "robots": {"expiring": [], "error": "GET admin account: HTTP 401: no"}}, NOW) == [
        "Harbor's robot accounts could not be read from the controller: GET admin account: HTTP 401: no"
    ]
    assert problems({**HEALTHY, "robots": None}, NOW) == []  # the check is off, or Harbor is not healthy


def test_disabled_and_never_expiring_robots_are_left_out():
    now = NOW.timestamp()
    robots = [
        {"name": "robot$never", "expires_at": -1},
        {"name": "robot$off", "expires_at": int(now) + 86400, "disable": True},
        {"name": "robot$later", "expires_at": int(now) + 15 * 86400},
        {"name": "robot$edge", "expires_at": int(now) + 14 * 86400},
    ]
    assert [robot["name"] for robot in expiring_robots(robots, 14, NOW)] == ["robot$edge"]


def test_the_age_of_trivys_databases_and_a_warning_past_a_week():
    now = datetime.datetime(2026, 12, 10, 6, 12, 40, tzinfo=datetime.UTC)
    databases = {
        "db": {"metadata": {"UpdatedAt": "2026-12-01T06:12:40.123456789Z"}},
        "java-db": {"metadata": {"UpdatedAt": "2026-12-09T18:12:40Z"}},
    }
    found, warnings = trivy_databases(databases, now)
    assert found == {
        "db": {"updated_at": "2026-12-01T06:12:40.123456789Z", "age_days": 9.0},
        "java-db": {"updated_at": "2026-12-09T18:12:40Z", "age_days": 0.5},
    }
    assert len(warnings) == 1 and warnings[0].startswith("Trivy's db was built 9 days ago")
    assert trivy_databases({"db": {"metadata": None}}, now)[1] == [
        "Trivy's db has no metadata.json: scans fail until a database is placed"
    ]
    assert trivy_databases({}, now) == ({}, [])


def test_a_node_whose_per_run_values_differ_from_the_other_nodes_is_a_problem():
    assert problems({**HEALTHY, "shared_values_differ": None}, NOW) == []  # one node: prepare's own
    assert problems({**HEALTHY, "shared_values_differ": []}, NOW) == []
    [found] = problems({**HEALTHY, "shared_values_differ": ["core/env CSRF_KEY", "jobservice/env CORE_SECRET"]}, NOW)
    assert found.startswith("the values prepare draws on every run differ from the ones every node of this Harbor")
    assert "(core/env CSRF_KEY, jobservice/env CORE_SECRET)" in found and found.endswith("run the server deploy")
