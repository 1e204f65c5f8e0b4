"""docker_daemon: the controller-side merge, the reload/restart decision, and the
commands the operations yield (pyinfra-testing specs under
tests/fixtures/operations/docker_daemon.*/)."""

import pytest
from pyinfra_testing.operations import make_operation_tests

from harbor_deploy.operations.docker_daemon import RELOADABLE_KEYS, merge_daemon_config, reload_or_restart
from tests.conftest import FIXTURES

SPECS = FIXTURES / "operations"

TestDaemonJson = make_operation_tests(
    "harbor_deploy.operations", "docker_daemon.daemon_json", SPECS / "docker_daemon.daemon_json"
)
TestApply = make_operation_tests("harbor_deploy.operations", "docker_daemon.apply", SPECS / "docker_daemon.apply")

SEEDED = {"log-driver": "json-file", "log-opts": {"max-size": "10m"}, "insecure-registries": ["other:5000"]}


# merge_daemon_config


def test_merge_keeps_existing_keys_and_appends_list_entries():
    merged = merge_daemon_config(SEEDED, {"insecure-registries": ["harbor.lab.internal:80"]})
    assert merged == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m"},
        "insecure-registries": ["other:5000", "harbor.lab.internal:80"],
    }
    assert list(merged) == ["log-driver", "log-opts", "insecure-registries"]


def test_merge_dedupes_lists_preserving_order():
    merged = merge_daemon_config(
        {"registry-mirrors": ["https://b", "https://a", "https://b"]},
        {"registry-mirrors": ["https://a", "https://c", "https://c"]},
    )
    assert merged["registry-mirrors"] == ["https://b", "https://a", "https://c"]


def test_merge_of_what_is_already_there_is_equal_to_current():
    assert merge_daemon_config(SEEDED, {"insecure-registries": ["other:5000"]}) == SEEDED
    assert merge_daemon_config(SEEDED, {}) == SEEDED


def test_merge_does_not_mutate_its_inputs():
    current = {"log-opts": {"max-size": "10m"}, "insecure-registries": ["a:1"]}
    settings = {"log-opts": {"max-file": "3"}, "insecure-registries": ["b:2"]}
    merge_daemon_config(current, settings)
    assert current == {"log-opts": {"max-size": "10m"}, "insecure-registries": ["a:1"]}
    assert settings == {"log-opts": {"max-file": "3"}, "insecure-registries": ["b:2"]}


def test_merge_merges_nested_dicts_and_sets_scalars():
    merged = merge_daemon_config(SEEDED, {"log-opts": {"max-file": "3"}, "log-driver": "local", "debug": True})
    assert merged["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert merged["log-driver"] == "local"
    assert merged["debug"] is True


def test_merge_replaces_lists_that_are_not_merge_keys():
    merged = merge_daemon_config({"dns": ["1.1.1.1"]}, {"dns": ["9.9.9.9"]})
    assert merged["dns"] == ["9.9.9.9"]
    merged = merge_daemon_config({"dns": ["1.1.1.1"]}, {"dns": ["9.9.9.9"]}, list_merge_keys=("dns",))
    assert merged["dns"] == ["1.1.1.1", "9.9.9.9"]


def test_merge_refuses_a_list_key_that_is_not_a_list():
    with pytest.raises(ValueError, match="'insecure-registries' must be a list"):
        merge_daemon_config({"insecure-registries": "other:5000"}, {"insecure-registries": ["h:80"]})
    with pytest.raises(ValueError):
        merge_daemon_config({}, {"registry-mirrors": "https://m"})


# reload_or_restart


def test_equal_configs_need_nothing():
    assert reload_or_restart(SEEDED, dict(SEEDED)) == "none"
    assert reload_or_restart({}, {}) == "none"


def test_registry_changes_reload():
    assert reload_or_restart(SEEDED, {**SEEDED, "insecure-registries": ["other:5000", "h:80"]}) == "reload"
    assert reload_or_restart({}, {"registry-mirrors": ["https://m"], "debug": True, "live-restore": True}) == "reload"


def test_every_reloadable_key_reloads_alone():
    for key in RELOADABLE_KEYS:
        assert reload_or_restart({}, {key: "x"}) == "reload", key


def test_other_changes_restart():
    assert reload_or_restart(SEEDED, {**SEEDED, "log-driver": "local"}) == "restart"
    assert reload_or_restart(SEEDED, {**SEEDED, "log-opts": {"max-size": "20m"}}) == "restart"
    assert reload_or_restart({}, {"insecure-registries": ["h:80"], "data-root": "/srv/docker"}) == "restart"


def test_removing_even_a_reloadable_key_restarts():
    assert reload_or_restart({"debug": True}, {}) == "restart"
