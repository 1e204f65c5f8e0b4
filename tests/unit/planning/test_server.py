"""The server deploy's planning finds the nodes of one Harbor: servers of
``harbor_servers`` sharing one URL are one Harbor only with its state outside them
and the same settings; otherwise each would keep a Harbor of its own behind that name."""

import logging
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from harbor_deploy.lib.config.defaults import SHARED_VALUES, merged
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.plan import shared_values
from harbor_deploy.lib.render import tls
from harbor_deploy.planning import server as server_planning

SHARED = {
    "harbor_hostname": "registry.example.com",
    "harbor_external_database": {"host": "db", "port": 5432, "db_name": "registry", "username": "harbor"},
    "harbor_external_redis": {"host": "redis:6379"},
    "harbor_storage_service": {"s3": {"bucket": "harbor"}, "redirect": {"disable": True}},
}
DATA = {
    "harbor-1": {"harbor_hostname": "registry.example.com"},
    "harbor-2": {"harbor_hostname": "registry.example.com"},
    "harbor-3": {"harbor_hostname": "registry.example.com", "harbor_https_port": 443},
    "harbor-4": {"harbor_hostname": "other.example.com", "harbor_external_url": "https://registry.example.com:8443"},
    "node-1": {**SHARED, "harbor_node_address": "10.0.0.1"},
    "node-2": {**SHARED, "ssh_hostname": "10.0.0.2"},
    "node-3": {**SHARED, "harbor_cache": {"enabled": True}},
    "lb": {**SHARED},
    "backing": {**SHARED},
}


def planning_context(name, group, lbs=(), limit=None, backings=()):
    """pyinfra's host and inventory as planning sees them, for ``name``."""
    hosts = {other: SimpleNamespace(name=other, data=SimpleNamespace(dict=lambda o=other: DATA[o])) for other in DATA}
    groups = {
        "harbor_servers": [hosts[other] for other in group],
        "harbor_lb": [hosts[other] for other in lbs],
        "harbor_backing": [hosts[other] for other in backings],
    }

    def in_limit(other):  # pyinfra's State.is_host_in_limit
        return limit is None or other.name in limit

    this = SimpleNamespace(
        name=name,
        groups=tuple(g for g, members in groups.items() if hosts[name] in members),
        state=SimpleNamespace(is_host_in_limit=in_limit),
    )
    return (
        mock.patch.object(server_planning, "host", this),
        mock.patch.object(
            server_planning,
            "inventory",
            SimpleNamespace(get_group=lambda group, default=None: groups[group], get_host=lambda other: hosts[other]),
        ),
        mock.patch.object(server_planning, "host_data", lambda other=None, overrides=None: DATA[(other or this).name]),
    )


def cluster_of(name, group, lbs=(), limit=None, backings=()):
    first, second, third = planning_context(name, group, lbs, limit, backings)
    with first, second, third:
        return server_planning.cluster_of(merged(DATA[name]), None)


def refusal(name, group):
    try:
        cluster_of(name, group)
    except ConfigError as error:
        return dict(error.problems)
    return {}


def test_servers_serving_one_url_without_shared_state_are_refused_naming_each_other():
    why = refusal("harbor-1", ["harbor-1", "harbor-2", "harbor-4"])["harbor_external_database"]
    assert why.startswith("harbor-2, harbor-4 serve(s) https://registry.example.com:8443 too")
    assert "set harbor_external_database, harbor_external_redis, harbor_storage_service" in why
    assert "give each server its own harbor_hostname" in why
    assert "harbor-1" in refusal("harbor-2", ["harbor-1", "harbor-2"])["harbor_external_database"]


@pytest.mark.parametrize("group", [["harbor-1", "harbor-3"], ["harbor-1"], []])
def test_servers_of_their_own_url_or_outside_the_group_are_one_node_harbors(group):
    assert cluster_of("harbor-1", group) is None


def test_nodes_sharing_their_state_are_one_harbor_in_a_stable_order_with_their_addresses():
    found = cluster_of("node-2", ["node-2", "node-1"], lbs=["lb"])
    assert found.nodes == ("node-1", "node-2")
    assert found.addresses == {"node-1": "10.0.0.1", "node-2": "10.0.0.2"}
    assert (found.lb, found.url) == ("lb", "https://registry.example.com:8443")
    assert cluster_of("lb", ["node-1", "node-2"], lbs=["lb"]).nodes == ("node-1", "node-2")


def test_a_setting_differing_between_nodes_is_refused_naming_the_key_and_the_node():
    problems = refusal("node-1", ["node-1", "node-3"])
    assert problems == {"harbor_cache": "differs on node-3: every node of one Harbor needs the same value"}


def test_a_filesystem_storage_is_no_shared_state():
    DATA["node-4"] = {**SHARED, "harbor_storage_service": {"filesystem": {"rootdirectory": "/data"}}}
    try:
        problems = refusal("node-4", ["node-4", "node-1"])
    finally:
        del DATA["node-4"]
    assert "harbor_storage_service" in problems


def test_a_limit_leaving_out_the_load_balancer_is_refused_as_nodes_would_restart_undrained():
    with pytest.raises(ConfigError) as refused:
        cluster_of("node-1", ["node-1", "node-2"], lbs=["lb"], limit=["node-1"])
    assert dict(refused.value.problems)["--limit"].startswith("leaves out lb, the load balancer of https://")
    assert cluster_of("node-1", ["node-1", "node-2"], lbs=["lb"], limit=["node-1", "lb"]).lb == "lb"


def test_the_backing_host_serving_the_nodes_url_is_part_of_their_harbor():
    found = cluster_of("node-1", ["node-1", "node-2"], lbs=["lb"], backings=["backing"])
    assert found.backing == "backing"
    assert cluster_of("backing", ["node-1", "node-2"], lbs=["lb"], backings=["backing"]).nodes == ("node-1", "node-2")
    assert cluster_of("backing", ["node-1"], lbs=["lb"], backings=["backing"]) is None


@pytest.mark.parametrize(
    "backings, limit, snapshot, refused",
    [
        (["backing"], None, None, None),
        (["backing"], ["node-1", "node-2", "lb"], None, "--limit"),
        ((), None, None, "harbor_cluster_upgrade_snapshot"),
        ((), None, "rds:registry-before-2-14", None),
    ],
)
def test_an_upgrade_of_several_nodes_needs_the_shared_database_dumped_first(backings, limit, snapshot, refused):
    context = planning_context("node-1", ["node-1", "node-2"], ["lb"], limit, backings)
    with context[0], context[1], context[2]:
        nodes = server_planning.cluster_of(merged(DATA["node-1"]), None)
        config = merged({**DATA["node-1"], "harbor_cluster_upgrade_snapshot": snapshot})
        problems = dict(server_planning.cluster_upgrade_problems(config, nodes))
    assert list(problems) == ([refused] if refused else [])
    if refused == "--limit":
        assert problems["--limit"].startswith("leaves out backing, which dumps the shared database before the first")
    if refused == "harbor_cluster_upgrade_snapshot":
        assert "no node of the older release starts on it afterwards" in problems[refused]


def test_latest_is_refused_for_a_harbor_of_several_nodes():
    DATA["node-5"], DATA["node-6"] = ({**SHARED, "harbor_version": "latest"} for _ in range(2))
    try:
        problems = refusal("node-5", ["node-5", "node-6"])
    finally:
        del DATA["node-5"], DATA["node-6"]
    assert problems == {
        "harbor_version": "latest is refused for a Harbor of several nodes (node-6 serve(s) "
        "https://registry.example.com:8443 too): each node would resolve it on its own; name the release (vX.Y.Z)"
    }


@pytest.mark.parametrize(
    "installation, installed",
    [
        ({"running_version": "v2.13.1", "bundle_version": "v2.13.1", "harbor_yml_mtime": 1}, "v2.13.1"),
        ({"running_version": None, "bundle_version": "v2.12.2", "harbor_yml_mtime": 1}, "v2.12.2"),  # stopped
        ({"running_version": None, "bundle_version": None, "harbor_yml_mtime": None}, None),  # fresh: the newest
    ],
)
def test_latest_holds_the_installed_release_and_says_so(tmp_path, caplog, installation, installed):
    data = {"harbor_hostname": "registry.example.com", "harbor_version": "latest", "harbor_secrets_dir": str(tmp_path)}
    state = {
        "private": {"files": {}, "nonempty": []},
        "resources": {"machine": "x86_64"},
        "installation": installation,
        "files": {},
    }
    asked = []

    def fetch(config, installed=None, **_):
        asked.append(installed)
        version = installed or "v2.14.0"
        return SimpleNamespace(version=version, path=Path("/nonexistent.tgz"), sha256="0" * 64)

    this = SimpleNamespace(name="harbor-1", groups=())
    with (
        mock.patch.object(server_planning, "host", this),
        mock.patch("harbor_deploy.planning.context.current_host", this),
        mock.patch.object(server_planning, "host_data", lambda overrides=None: dict(data)),
        mock.patch.object(server_planning, "read_state", lambda config, **_: state),
        mock.patch.object(server_planning.installer, "fetch", fetch),
        caplog.at_level(logging.INFO),
    ):
        plan = server_planning.plan()
    assert asked == [installed]
    assert (plan.version, plan.upgrade_from) == (installed or "v2.14.0", None)
    held = "harbor_version latest holds the installed Harbor"
    if installed:
        assert f"[harbor-1] {held} {installed}: a routine run never upgrades; name a newer release" in caplog.text
    else:
        assert held not in caplog.text


@pytest.mark.parametrize(
    "mtime, nonempty, condition",
    [
        (None, [], '[ "$(stat -L -c %Y /usr/local/harbor/harbor.yml 2>/dev/null)" = "" ] && '
         '[ -z "$(ls -A /data/database 2>/dev/null)" ]'),
        (1764261990, ["/data/database"], '[ "$(stat -L -c %Y /usr/local/harbor/harbor.yml 2>/dev/null)" = '
         '"1764261990" ] && [ -n "$(ls -A /data/database 2>/dev/null)" ]'),
    ],
)  # fmt: skip
def test_the_server_deploy_takes_the_lock_only_while_what_decided_the_install_is_as_read(mtime, nonempty, condition):
    state = {"installation": {"harbor_yml_mtime": mtime}, "private": {"files": {}, "nonempty": nonempty}}
    holder = server_planning.server_holder(merged({"harbor_hostname": "registry.example.com"}), state)
    assert "(harbor_server, started " in holder.who
    assert holder.unchanged == condition
    assert holder.what == (
        "/usr/local/harbor/harbor.yml or /data/database, which decide a fresh install and the database password"
    )


# --- the provided chain the clients trust ------------------------------------------


def test_the_provided_chain_is_kept_for_the_clients_and_removed_with_the_mode(tmp_path):
    _, root = tls.generate_ca("Example Corp Root CA")
    chain = tls.cert_pem(root)
    provided = tls.TlsMaterial(certificate=b"cert", private_key=b"key", ca_certificate=chain)
    config = merged({"harbor_hostname": "registry.example.com", "harbor_secrets_dir": str(tmp_path)})
    kept = tmp_path / "registry.example.com" / tls.PROVIDED_CHAIN
    change = server_planning.clients_chain_change
    assert change({**config, "harbor_tls_mode": "provided"}, provided) == (
        chain,
        "harbor_tls_chain, which the clients trust",
    )
    kept.parent.mkdir()
    kept.write_bytes(chain)
    assert change({**config, "harbor_tls_mode": "provided"}, provided) == (None, None)  # kept already
    public = tls.TlsMaterial(certificate=b"cert", private_key=b"key", ca_certificate=None)
    assert change({**config, "harbor_tls_mode": "provided"}, public) == (
        None,
        "removed: no harbor_tls_chain to trust in harbor_tls_mode provided",
    )
    generated = tls.TlsMaterial(certificate=b"cert", private_key=b"key", ca_certificate=b"generated CA")
    assert change(config, generated)[0] is None  # mode generate: the generated ca.crt is what clients trust
    kept.unlink()
    assert change(config, generated) == (None, None)


def _database_config(tmp_path, ssl_mode="verify-full", storage=None):
    database = {"host": "10.0.0.5", "port": 5432, "db_name": "registry", "username": "harbor", "ssl_mode": ssl_mode}
    return {
        **merged({"harbor_hostname": "harbor.example.org", "harbor_secrets_dir": str(tmp_path)}),
        "harbor_external_database": database,
        "harbor_storage_service": storage or {"s3": {"bucket": "harbor"}},
    }


def test_the_backing_hosts_ca_reaches_core_through_the_storage_ca_bundle(tmp_path):
    """Harbor v2.13.1 has no database CA setting: prepare's trust folder (ca_bundle) is the way."""
    config = _database_config(tmp_path)
    folder = tmp_path / "harbor.example.org" / "backing-tls"
    folder.mkdir(parents=True)
    (folder / "ca.crt").write_bytes(b"CA PEM")
    with mock.patch.object(server_planning, "inventory", SimpleNamespace(get_group=lambda name, default: [])):
        assert server_planning.database_ca(config) == b"CA PEM"
        assert server_planning.database_ca(_database_config(tmp_path, "require")) is None
        with pytest.raises(ConfigError, match="ca_bundle: Harbor takes one CA bundle"):
            server_planning.database_ca(_database_config(tmp_path, storage={"s3": {}, "ca_bundle": "/etc/x.crt"}))


def test_a_node_verifying_a_backing_host_that_has_made_no_ca_yet_is_refused(tmp_path):
    config = _database_config(tmp_path)
    backing_group = SimpleNamespace(get_group=lambda name, default: ["bare-3"])
    with (
        mock.patch.object(server_planning, "inventory", backing_group),
        pytest.raises(ConfigError, match="run deploys/backing.py first"),
    ):
        server_planning.database_ca(config)
    with mock.patch.object(server_planning, "inventory", SimpleNamespace(get_group=lambda name, default: [])):
        assert server_planning.database_ca(config) is None  # a managed database: the system's CAs


def test_the_values_nodes_share_are_the_controllers_else_a_nodes_else_new_and_checked(tmp_path):
    """``shared_values_of``: what the controller keeps wins; a node's copy is taken back
    when the controller lost it; else new ones, to keep; values not as prepare draws
    them stop the run naming where they are."""
    config = merged({**SHARED, "harbor_secrets_dir": str(tmp_path)})
    kept, on_node = shared_values.generate(), shared_values.generate()
    state = {"private": {"files": {SHARED_VALUES: on_node}}}
    with mock.patch.object(server_planning, "host", SimpleNamespace(name="node-1")):
        assert server_planning.shared_values_of(config, state) == (on_node, "recovered from the server")
        with (
            mock.patch.object(server_planning, "inventory", SimpleNamespace(get_host=lambda name: name)),
            mock.patch.object(
                server_planning, "quiet_fact", lambda fact, on, paths: {"files": {SHARED_VALUES: on_node}}
            ),
        ):  # a node planned before the one holding them takes them from it
            found = server_planning.shared_values_of(config, {"private": {"files": {}}}, ["node-2"])
            assert found == (on_node, "recovered from node-2")
        values, why = server_planning.shared_values_of(config, {"private": {"files": {}}})
        assert why == "generated" and shared_values.problems(values) == [] and values not in (kept, on_node)
        (tmp_path / "registry.example.com").mkdir()
        (tmp_path / "registry.example.com" / shared_values.KEEP_NAME).write_bytes(kept)
        assert server_planning.shared_values_of(config, state) == (kept, None)
        with pytest.raises(ConfigError) as refused:
            (tmp_path / "registry.example.com" / shared_values.KEEP_NAME).write_bytes(b"CSRF_KEY=short\n")
            server_planning.shared_values_of(config, state)
    [(key, why)] = [problem for problem in refused.value.problems if "CSRF_KEY" in problem[1]]
    assert key == "shared values" and why.startswith(str(tmp_path / "registry.example.com" / shared_values.KEEP_NAME))


@pytest.mark.parametrize(
    "external, nonempty, files, refused",
    [
        (True, ["/data/database"], {}, True),  # its data would be left behind
        (True, ["/data/database"], {"/var/lib/harbor-deploy/grown": {"type": "file"}}, False),  # moved by grow.py
        (True, [], {}, False),  # a node installed on the external database from the start
        (False, ["/data/database"], {}, False),  # its own database, as before
    ],
)
def test_a_harbor_keeping_its_data_in_its_own_database_is_not_pointed_at_an_external_one(
    external, nonempty, files, refused
):
    config = merged({**SHARED, "harbor_external_database": SHARED["harbor_external_database"] if external else None})
    state = {"private": {"nonempty": nonempty}, "files": files}
    if not refused:
        assert server_planning.own_data_problem(config, state) is None
        return
    with pytest.raises(ConfigError) as found:
        server_planning.own_data_problem(config, state)
    assert (
        "this Harbor keeps its data in its own database (/data/database)"
        in dict(found.value.problems)["harbor_external_database"]
    )
