"""A scaled-out Harbor's rules read from the inventory: what the load balancer needs,
how a node is reached, and that nodes keeping other instance keys are refused."""

from types import SimpleNamespace
from unittest import mock

import pytest

from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.plan import cluster, instance_keys
from harbor_deploy.planning import server as server_planning

KEYS = instance_keys.generate()


def test_terminating_tls_needs_the_external_url_and_tls_material():
    config = merged({"harbor_hostname": "r.example.com", "harbor_lb_tls": "terminate", "harbor_tls_mode": "http"})
    problems = dict(cluster.lb_problems(config, ("node-1",)))
    assert "harbor_external_url" in problems and "goharbor/harbor#3114" in problems["harbor_external_url"]
    assert problems["harbor_lb_tls"].startswith("terminate needs the TLS material")
    assert dict(cluster.lb_problems(merged({"harbor_hostname": "r.example.com"}), ())) == {
        "harbor_hostname": "no harbor_servers host serves https://r.example.com:8443: nothing to balance"
    }


def test_a_node_is_reached_at_its_address_else_its_ssh_host_else_its_name():
    assert cluster.node_address("n", {"harbor_node_address": "10.0.0.1", "ssh_hostname": "x"}) == "10.0.0.1"
    assert cluster.node_address("n", {"ssh_hostname": "n.internal"}) == "n.internal"
    assert cluster.node_address("n", {}) == "n"


def state_with_keys(files):
    paths = instance_keys.on_node("/data")
    return {"private": {"files": {paths[name]: value for name, value in files.items()}}}


def test_a_node_keeping_other_instance_keys_is_refused_and_its_own_are_taken_back(tmp_path):
    config = merged({"harbor_hostname": "r.example.com", "harbor_secrets_dir": str(tmp_path)})
    with mock.patch.object(server_planning, "secrets_dir", lambda _: tmp_path):
        assert server_planning.instance_keys_of(config, state_with_keys(KEYS)) == (
            KEYS,
            dict.fromkeys(KEYS, "recovered from the server"),
        )
        for name, value in KEYS.items():
            (tmp_path / name).write_bytes(value)
        other = instance_keys.generate()
        with pytest.raises(ConfigError, match="differ from the ones of this Harbor"):
            server_planning.instance_keys_of(config, state_with_keys({"token_root.crt": other["token_root.crt"]}))
        assert server_planning.instance_keys_of(config, state_with_keys({}))[1] == {}


def test_a_node_planned_before_the_one_holding_the_keys_takes_them_from_it(tmp_path):
    """A Harbor of one node growing: the new node, planned first, has no keys and the
    controller none; the keys are taken back from the grown node, never made anew."""
    config = merged({"harbor_hostname": "r.example.com", "harbor_secrets_dir": str(tmp_path)})
    paths = instance_keys.on_node("/data")
    held = {"node-2": {}, "node-1": {paths[name]: value for name, value in KEYS.items()}}
    asked = []

    def private_files(fact, on, paths):
        asked.append(on)
        return {"files": {path: held[on][path] for path in paths if path in held[on]}}

    with (
        mock.patch.object(server_planning, "secrets_dir", lambda _: tmp_path),
        mock.patch.object(server_planning, "inventory", SimpleNamespace(get_host=lambda name: name)),
        mock.patch.object(server_planning, "quiet_fact", private_files),
    ):
        assert server_planning.instance_keys_of(config, state_with_keys({}), ["node-2", "node-1"]) == (
            KEYS,
            dict.fromkeys(KEYS, "recovered from node-1"),
        )
        assert asked == ["node-2", "node-1"]
        keys, why = server_planning.instance_keys_of(config, state_with_keys({}), ["node-2"])
        assert set(why.values()) == {"generated"} and keys != KEYS
