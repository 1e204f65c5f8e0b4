"""Lab sizing, image recipe hashing and the lab inventory."""

import hashlib
import importlib
import json

import pytest

from lab import labctl


def test_default_lab_has_one_server_two_clients_one_bare_host(monkeypatch):
    monkeypatch.delenv("LAB_CLIENTS", raising=False)
    monkeypatch.delenv("LAB_BARE", raising=False)
    hosts = labctl.planned_hosts()
    assert [(h.name, h.group, h.docker) for h in hosts] == [
        ("harbor-1", "harbor_servers", True),
        ("client-1", "docker_clients", True),
        ("client-2", "docker_clients", True),
        ("bare-1", "bare_hosts", False),
    ]
    assert hosts[0].dns_names == (labctl.HARBOR_DNS_NAME,)


def test_lab_clients_sets_the_number_of_clients(monkeypatch):
    monkeypatch.setenv("LAB_CLIENTS", "4")
    names = [h.name for h in labctl.planned_hosts() if h.group == "docker_clients"]
    assert names == ["client-1", "client-2", "client-3", "client-4"]


def test_a_lab_without_clients_is_refused():
    with pytest.raises(SystemExit, match="LAB_CLIENTS"):
        labctl.planned_hosts(clients=0)


def test_recipe_hash_changes_with_the_setup_script(monkeypatch, tmp_path):
    before = labctl.recipe_hash()
    assert before == labctl.recipe_hash()
    changed = tmp_path / "host-setup.sh"
    changed.write_text(labctl.SETUP_SCRIPT.read_text() + "\n# changed\n")
    monkeypatch.setattr(labctl, "SETUP_SCRIPT", changed)
    assert labctl.recipe_hash() != before
    assert labctl.image_tag(True).endswith("-docker") and labctl.image_tag(False).endswith("-bare")


def test_load_state_without_a_lab_says_how_to_make_one(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    with pytest.raises(SystemExit, match="make lab-up"):
        labctl.load_state()


def test_lab_inventory_groups_hosts_with_key_only_strict_ssh(monkeypatch, tmp_path):
    state = {
        "key": "/k",
        "known_hosts": "/kh",
        "harbor_dns_name": "harbor.lab.internal",
        "mirror_url": "http://127.0.0.1:18480",
        "installer_sha256": {"v2.13.1": "a" * 64},
        "hosts": [
            {"name": "harbor-1", "group": "harbor_servers", "ssh_port": 2201, "address": "172.18.0.2"},
            {"name": "client-1", "group": "docker_clients", "ssh_port": 2202, "address": "172.18.0.3"},
            {"name": "bare-1", "group": "bare_hosts", "ssh_port": 2203, "address": "172.18.0.4"},
        ],
    }
    (tmp_path / "hosts.json").write_text(json.dumps(state))
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    inventory = importlib.reload(importlib.import_module("inventories.lab"))
    assert [name for name, _ in inventory.harbor_servers] == ["harbor-1"]
    assert [name for name, _ in inventory.docker_clients] == ["client-1"]
    name, data = inventory.bare_hosts[0]
    assert name == "bare-1"
    assert data["ssh_hostname"] == "127.0.0.1" and data["ssh_port"] == 2203
    assert data["ssh_key"] == "/k" and data["ssh_known_hosts_file"] == "/kh"
    assert data["ssh_strict_host_key_checking"] == "yes"
    server = dict(inventory.harbor_servers)["harbor-1"]
    assert server["harbor_hostname"] == "harbor.lab.internal"
    assert server["harbor_installer_source"] == "mirror"
    assert server["harbor_mirror_url"] == "http://127.0.0.1:18480"
    assert server["harbor_installer_sha256"] == {"v2.13.1": "a" * 64}  # the plain-HTTP mirror's bundles pinned
    assert server["harbor_secrets_dir"] == str(tmp_path / "secrets")


def test_a_rebuilt_stand_in_makes_the_controller_forget_its_cached_installers(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    installers = tmp_path / "cache" / "harbor-deploy" / "installers"
    mirror = installers / labctl.installer.source_key(
        {"harbor_installer_source": "mirror", "harbor_mirror_url": "http://127.0.0.1:18480"}
    )
    releases = tmp_path / "releases"
    for version, published in (("v2.13.1", "new  a.tgz\n"), ("v2.14.0", "same  b.tgz\n")):
        (releases / labctl.standin.RELEASE_PATH / version).mkdir(parents=True)
        (releases / labctl.standin.RELEASE_PATH / version / "md5sum").write_text(published)
        for source in (mirror, installers / "github.com"):
            (source / version).mkdir(parents=True)
            (source / version / "md5sum").write_text("old  a.tgz\n" if version == "v2.13.1" else published)
    labctl.forget_stale_installers(releases, "http://127.0.0.1:18480")
    assert not (mirror / "v2.13.1").exists()
    assert (mirror / "v2.14.0" / "md5sum").exists()
    # Installers from another source (the official releases) are never touched.
    assert (installers / "github.com" / "v2.13.1" / "md5sum").exists()


def test_inotify_limit_is_raised_only_when_the_new_hosts_need_it(monkeypatch, tmp_path):
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    monkeypatch.setattr(labctl, "INOTIFY_LIMIT", limit)
    monkeypatch.setattr(labctl, "inotify_instances_in_use", lambda: 80)
    labctl.ensure_inotify_instances(0)  # nothing to boot: nothing touched
    labctl.ensure_inotify_instances(1)  # 80 + 12 + 32 fit in 128
    assert limit.read_text() == "128\n"
    labctl.ensure_inotify_instances(20)
    assert int(limit.read_text()) == 80 + 20 * labctl.INOTIFY_PER_HOST + labctl.INOTIFY_MARGIN


def test_an_unwritable_inotify_limit_says_what_to_run(monkeypatch, tmp_path):
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    monkeypatch.setattr(labctl, "INOTIFY_LIMIT", ReadOnly(limit))
    monkeypatch.setattr(labctl, "inotify_instances_in_use", lambda: 90)
    with pytest.raises(SystemExit, match=r"sysctl -w fs.inotify.max_user_instances=362` as root"):
        labctl.ensure_inotify_instances(20)


class ReadOnly:
    """/proc/sys as a user without the right to write it sees it (root can write any file)."""

    def __init__(self, path):
        self.path = path

    def read_text(self):
        return self.path.read_text()

    def write_text(self, text):
        raise PermissionError(13, "Permission denied")


def test_the_lab_pins_each_stand_in_installer_it_built(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    releases = tmp_path / "releases"
    for version in labctl.standin.VERSIONS:
        bundle = labctl.standin.offline_installer(releases, version)
        bundle.parent.mkdir(parents=True)
        bundle.write_bytes(f"bundle {version}".encode())
    assert labctl.installer_pins(releases) == {
        version: hashlib.sha256(f"bundle {version}".encode()).hexdigest() for version in labctl.standin.VERSIONS
    }
