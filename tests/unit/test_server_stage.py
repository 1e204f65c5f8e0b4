"""The server deploy's planning refuses two servers of ``harbor_servers`` that serve
one Harbor URL: each would keep a Harbor of its own behind that name."""

from types import SimpleNamespace
from unittest import mock

import pytest

from harbor_deploy.lib.defaults import merged
from harbor_deploy.lib.validate import ConfigError
from harbor_deploy.stages import server as server_stage

DATA = {
    "harbor-1": {"harbor_hostname": "registry.example.com"},
    "harbor-2": {"harbor_hostname": "registry.example.com"},
    "harbor-3": {"harbor_hostname": "registry.example.com", "harbor_https_port": 443},
    "harbor-4": {"harbor_hostname": "other.example.com", "harbor_external_url": "https://registry.example.com:8443"},
}


def refusal(name, group):
    hosts = {other: SimpleNamespace(name=other) for other in group}
    this = SimpleNamespace(name=name, groups=("harbor_servers",) if name in group else ())
    with (
        mock.patch.object(server_stage, "host", this),
        mock.patch.object(server_stage, "inventory", SimpleNamespace(get_group=lambda _: list(hosts.values()))),
        mock.patch.object(server_stage, "host_data", lambda other=None, overrides=None: DATA[(other or this).name]),
    ):
        try:
            server_stage._one_node_per_harbor(merged(DATA[name]), None)
        except ConfigError as error:
            return dict(error.problems)
    return {}


def test_servers_serving_one_url_are_refused_naming_each_other():
    why = refusal("harbor-1", ["harbor-1", "harbor-2", "harbor-4"])["harbor_hostname"]
    assert why.startswith("harbor-2, harbor-4 serve(s) https://registry.example.com:8443 too")
    assert "give each server its own harbor_hostname" in why
    assert "harbor-1" in refusal("harbor-2", ["harbor-1", "harbor-2"])["harbor_hostname"]


@pytest.mark.parametrize("group", [["harbor-1", "harbor-3"], ["harbor-1"], []])
def test_servers_of_their_own_url_or_outside_the_group_pass(group):
    assert refusal("harbor-1", group) == {}
