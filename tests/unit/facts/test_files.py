"""FileStates: one round trip for every file a deploy manages (captured on harbor-1,
and the command run by a local shell on a real tree)."""

import grp
import hashlib
import os
import pwd
import subprocess

from harbor_deploy.facts.files import DIGEST_MAX_BYTES, FileStates
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"


def run_locally(paths):
    command = FileStates().command(paths)
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    return FileStates().process(output.splitlines())


def test_captured_server_files():
    states = FileStates().process((FACT_OUTPUTS / "file_states_harbor_running.txt").read_text().splitlines())
    key = states["/etc/harbor/tls/server.key"]
    assert (key["type"], key["mode"], key["user"], key["group"]) == ("file", "600", "root", "root")
    assert len(key["sha256"]) == 64
    bundle = states["/var/cache/harbor-deploy/harbor-offline-installer-v2.13.1.tgz"]
    assert bundle["sha256"] is None and bundle["size"] > DIGEST_MAX_BYTES  # too big to hash every run
    assert states["/usr/local/harbor"]["type"] == "link"
    assert states["/etc/harbor/tls"]["type"] == "directory"
    assert "/nope" not in states


def test_globs_expand_and_the_rest_is_quoted(tmp_path):
    for release in ("harbor-v2.13.1", "harbor-v2.14.0"):
        (tmp_path / release).mkdir()
        (tmp_path / release / "harbor.yml").write_text(f"{release}\n")
    odd = tmp_path / "it's $(here) *"
    odd.write_text("x")
    empty = tmp_path / "empty"
    empty.write_text("")
    states = run_locally([f"{tmp_path}/harbor-v*/harbor.yml", str(odd), str(empty), f"{tmp_path}/missing*"])
    assert set(states) == {
        f"{tmp_path}/harbor-v2.13.1/harbor.yml",
        f"{tmp_path}/harbor-v2.14.0/harbor.yml",
        str(odd),
        str(empty),
    }
    assert states[f"{tmp_path}/harbor-v2.14.0/harbor.yml"]["sha256"] == hashlib.sha256(b"harbor-v2.14.0\n").hexdigest()
    assert states[str(empty)] == {**states[str(empty)], "type": "file", "size": 0}
    assert states[str(odd)]["sha256"] == hashlib.sha256(b"x").hexdigest()


def test_large_files_get_their_size_only(tmp_path):
    big = tmp_path / "bundle.tgz"
    big.write_bytes(b"\0" * (DIGEST_MAX_BYTES + 1))
    info = big.stat()
    assert run_locally([str(big)])[str(big)] == {
        "type": "file",
        "mode": f"{info.st_mode & 0o777:o}",
        "user": pwd.getpwuid(info.st_uid).pw_name,
        "group": grp.getgrgid(info.st_gid).gr_name,
        "uid": info.st_uid,
        "gid": info.st_gid,
        "size": DIGEST_MAX_BYTES + 1,
        "sha256": None,
    }


def test_an_owner_without_a_name_on_the_host_is_known_by_its_ids(tmp_path):
    """Harbor's uid 10000 (prepare's DEFAULT_UID) has no name on a server: stat says
    UNKNOWN, the ids tell it."""
    key = tmp_path / "secretkey"
    key.write_text("0123456789abcdef")
    os.chown(key, 10000, 10000)
    found = run_locally([str(key)])[str(key)]
    assert (found["user"], found["group"], found["uid"], found["gid"]) == ("UNKNOWN", "UNKNOWN", 10000, 10000)
