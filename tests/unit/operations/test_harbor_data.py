"""The shell of the operations on Harbor's data (``harbor_data``, ``templates/harbor-data.sh``)
run by a local bash on real folders, with stand-in ``docker`` and ``df`` commands:
backups named by the server's clock, complete or absent, refused without room, kept
by their time on the server; what a rollback sets aside. (On real hosts, with Harbor:
tests/lab/test_64_backup_restore.py, test_66_upgrade.py.)"""

import json
import os
import subprocess
from unittest import mock

import pytest

from harbor_deploy.operations import harbor_data

# harbor-db as the functions ask it: answering, holding ``registry`` of 1 MiB, dumping.
FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$FAKE_DIR/docker.calls"
case "$*" in
  *pg_isready*) exit 0 ;;
  *"select 1 from pg_database"*) echo 1 ;;
  *pg_database_size*) echo 1048576 ;;
  *pg_dump*) [ -n "${FAIL_DUMP:-}" ] && exit 1; echo "the dump" ;;
  *load*) [ -n "${FAIL_LOAD:-}" ] && exit 1 ;;
esac
"""
FAKE_DF = """#!/bin/sh
printf 'Avail\\n%s\\n' "$FAKE_FREE"
"""


@pytest.fixture
def server(tmp_path):
    """A server's folders and stand-in commands: the data volume, a release, backups."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("df", FAKE_DF)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    volume, release, backups = tmp_path / "data", tmp_path / "harbor-v2.13.1", tmp_path / "backups"
    (volume / "secret" / "keys").mkdir(parents=True)
    (volume / "secret" / "keys" / "secretkey").write_text("0123456789abcdef")
    (volume / "database" / "pg15").mkdir(parents=True)
    release.mkdir()
    (release / "harbor.yml").write_text("hostname: harbor.example.org\n")
    (tmp_path / "harbor").symlink_to(release)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_DIR": str(tmp_path),
        "FAKE_FREE": str(10 << 30),
    }
    return {"tmp": tmp_path, "volume": volume, "release": release, "backups": backups, "env": env}


def run(server, steps, keep=7, protect=(), **env):
    script = harbor_data.data_script(
        steps,
        install_dir=str(server["tmp"] / "harbor"),
        data_volume=str(server["volume"]),
        backup_dir=str(server["backups"]),
        hostname="harbor.example.org",
        reason="a test",
        keep=keep,
        protect=protect,
    ).replace(harbor_data.UNFINISHED_MARKER, str(server["tmp"] / "unfinished"))
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env={**server["env"], **env}, check=False
    )


def backups(server):
    found = server["backups"].glob("harbor-*") if server["backups"].exists() else ()
    return sorted(path.name for path in found)


def test_a_backup_is_named_by_the_servers_clock_complete_and_named_last(server):
    result = run(server, 'make_backup v2.13.1 "$(readlink -f "$link")" 0 && echo "made $backup_name"')
    assert result.returncode == 0, result.stderr
    name = result.stdout.split()[-1]
    assert name.startswith("harbor-") and name.endswith("Z-v2.13.1")
    folder = server["backups"] / name
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        harbor_data.backup_files({"database": "pg_dump", "registry": False})
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["name"] == name and name == f"harbor-{manifest['created']}-v2.13.1"
    assert manifest["database"] == "pg_dump" and manifest["database_dirs"].split() == ["pg15"]
    assert manifest["hostname"] == "harbor.example.org" and manifest["reason"] == "a test"
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder, check=True)
    assert os.readlink(server["backups"] / harbor_data.LAST_BACKUP) == name
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_a_backup_without_room_is_refused_naming_need_and_free_and_leaves_nothing(server):
    result = run(server, 'make_backup v2.13.1 "$(readlink -f "$link")" 0', FAKE_FREE=str(10 << 20))
    assert result.returncode != 0
    assert "needs 66 MiB free, it has 10 MiB" in result.stderr  # 64 MiB of room, the dump, the keys
    assert backups(server) == []


def test_a_failed_backup_leaves_no_partial_one(server):
    result = run(server, 'make_backup v2.13.1 "$(readlink -f "$link")" 0', FAIL_DUMP="1")
    assert result.returncode != 0 and "nothing of it is kept" in result.stderr
    assert backups(server) == []


def test_retention_keeps_the_newest_by_the_servers_time_and_what_is_protected(server):
    # Older backups whose names sort after today's (a controller clock ahead named
    # them): their time on the server says they are older.
    older = ("harbor-29990101T000000Z-v2.13.1", "harbor-29980101T000000Z-v2.13.1", "harbor-20200101T000000Z-v2.11.2")
    for age, name in enumerate(older):
        (server["backups"] / name).mkdir(parents=True)
        os.utime(server["backups"] / name, (1_700_000_000 - age * 3600,) * 2)
    protect = ("harbor-20200101T000000Z-v2.11.2",)  # the one a rollback needs
    result = run(
        server, 'make_backup v2.13.1 "$(readlink -f "$link")" 0 && echo "$backup_name"', keep=2, protect=protect
    )
    assert result.returncode == 0, result.stderr
    new = result.stdout.split()[-1]
    assert backups(server) == sorted([new, older[0], *protect])  # the 2 newest by time, and the protected one
    assert f"removed the older backup {older[1]}" in result.stderr


def test_after_a_rollback_the_database_folders_a_newer_release_made_go_aside(server):
    (server["volume"] / "database" / "pg16").mkdir()
    result = run(server, "set_aside_newer_database_dirs pg15")
    assert result.returncode == 0, result.stderr
    left = sorted(path.name for path in (server["volume"] / "database").iterdir())
    assert left[0] == "pg15" and left[1].startswith("pg16.after-rollback-") and len(left) == 2


def test_the_shared_database_is_dumped_by_the_servers_own_pg_dump_complete_or_not_at_all():
    command = str(
        next(
            iter(
                harbor_data.database_dump._inner(
                    backup_dir="/var/backups/harbor-deploy", port=5432, database="registry", keep=7
                )
            )
        )
    )
    assert "runuser -u postgres -- pg_dump -p 5432 -Fc registry" in command
    assert command.index(".partial") < command.index("mv ") and "tail -n +8" in command
    assert "date -u +%Y%m%dT%H%M%SZ" in command  # named by the server's clock


FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE_DIR/systemctl.calls"
"""


def upgrade_steps(several_nodes):
    """The upgrade's script as its unit runs it (``detached_command`` left out)."""
    with mock.patch.object(harbor_data, "detached_command", lambda script, name: script):
        [command] = harbor_data.upgrade._inner("v2.13.1", "v2.14.0", several_nodes=several_nodes, **PLACE)
    return str(command)


PLACE = {"install_dir": "/usr/local/harbor", "data_volume": "/data", "backup_dir": "/var/backups/harbor-deploy",
         "hostname": "harbor.example.org", "external_database": True}  # fmt: skip


@pytest.mark.parametrize("several_nodes", [True, False])
def test_a_node_of_several_whose_upgrade_fails_stops_and_is_never_put_back_on_its_older_release(server, several_nodes):
    """The images of the new release do not load: a node of several stops (another node
    may have migrated the shared database past its older release); a Harbor of one
    node starts its older release again."""
    (server["tmp"] / "bin" / "systemctl").write_text(FAKE_SYSTEMCTL)
    (server["tmp"] / "bin" / "systemctl").chmod(0o755)
    target = server["tmp"] / "harbor-v2.14.0"
    target.mkdir()
    script = upgrade_steps(several_nodes).split("\nfrom_version=", 1)
    steps = "from_version=" + script[1]
    result = run(server, steps, FAIL_LOAD="yes")
    calls = (server["tmp"] / "systemctl.calls").read_text().splitlines()
    docker = (server["tmp"] / "docker.calls").read_text()
    assert result.returncode == 1
    if several_nodes:
        assert "This node of several stays drained, Harbor stopped on it" in result.stderr
        assert "put every node and the shared database back with deploys/rollback.py" in result.stderr
        assert calls == ["stop harbor.service", "stop harbor.service"] and "start" not in " ".join(calls)
        assert not (server["tmp"] / "unfinished").exists()  # a run again goes on with the new release
    else:
        assert "putting v2.13.1 back" in result.stderr  # (here its prepare is missing)
    assert "load -q -i" in docker


def test_the_shared_database_goes_back_checked_after_a_safety_dump_and_swapped_by_name():
    command = str(
        next(
            iter(
                harbor_data.database_restore._inner(
                    backup_dir="/var/backups/harbor-deploy",
                    dump="harbor-db-20261207T101500Z-before-upgrade.pgdump",
                    port=5432,
                    database="registry",
                    keep=7,
                )
            )
        )
    )
    steps = [
        "sha256sum -c",
        "pg_dump -p 5432 -Fc registry",
        "CREATE DATABASE registry_restoring OWNER",
        "pg_restore -p 5432 --exit-on-error --single-transaction -d registry_restoring",
        "pg_terminate_backend",
        "ALTER DATABASE registry RENAME TO",
        "RENAME TO registry",
        "DROP DATABASE $old",
    ]
    places = [command.index(step) for step in steps]
    assert places == sorted(places)
    assert "before-rollback.pgdump" in command and "tail -n +8" in command


def test_a_node_serves_its_kept_release_again_whatever_it_runs():
    with mock.patch.object(harbor_data, "detached_command", lambda script, name: script):
        [command] = harbor_data.release_back._inner("v2.13.1", **PLACE)
    script = str(command)
    steps = ['target="$link-"v2.13.1', "systemctl stop harbor.service", 'harbor_compose "$current" down',
             'start_release "$target"']  # fmt: skip
    start = script.index(steps[0])  # its steps, after the functions of harbor-data.sh
    places = [script.index(step, start) for step in steps]
    assert places == sorted(places)
