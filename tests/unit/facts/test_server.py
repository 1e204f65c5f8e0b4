"""ServerState: every fact the server deploy decides from, in one round trip
(captured on harbor-1 with Harbor running; no private paths, so no secrets)."""

import subprocess

from harbor_deploy.facts.files import FileStates, PrivateFiles
from harbor_deploy.facts.output import processed_sections, sections_command, split_sections
from harbor_deploy.facts.server import SECTIONS, InstallerState, ServerState
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"


def test_each_section_is_its_facts_answer():
    state = ServerState().process((FACT_OUTPUTS / "server_state_harbor_running.txt").read_text().splitlines())
    assert set(state) == set(SECTIONS)
    assert state["private"] == {"files": {}, "nonempty": ["/data/database"]}
    assert state["installation"]["running_version"] == "v2.13.1"
    assert state["installation"]["link_target"] == "/usr/local/harbor-v2.13.1"
    assert state["health"]["api"]["status"] == "healthy"  # its answer has no final newline
    assert state["firewall"]["local_services"]["harbor"] == ["8081/tcp", "8443/tcp"]
    assert state["engine"]["active"] and state["overview"]["systemd_state"] == "running"
    assert state["resources"]["listening"][8443] == "docker-proxy"
    assert state["files"]["/usr/local/harbor-v2.13.1/harbor.yml"]["mode"] == "600"
    assert state["files"]["/var/cache/harbor-deploy/harbor-offline-installer-v2.13.1.tgz.sha256"]["sha256"]


def test_sections_run_in_one_shell_and_split_back(tmp_path):
    """Outputs without a final newline, failing commands and silent ones keep apart."""
    command = sections_command(
        {"no_newline": "printf 'x'", "failing": "echo y; false", "silent": "true", "files": "echo z; false"}
    )
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    assert split_sections(output.splitlines()) == {
        "no_newline": ["x"],
        "failing": ["y"],
        "silent": [],
        "files": ["z"],
    }
    processed = processed_sections(output.splitlines(), {"silent": FileStates(), "files": PrivateFiles()})
    assert processed == {"silent": {}, "files": {"files": {}, "nonempty": []}}  # defaults, and no match


def test_installer_state_reads_the_installer_sections_in_one_shell(tmp_path):
    """What installer_bundle decides from, one command (run here on a made-up tree)."""
    cache, release = tmp_path / "cache", tmp_path / "harbor-v2.13.1"
    cache.mkdir()
    release.mkdir()
    (cache / "harbor-offline-installer-v2.13.1.tgz").write_bytes(b"bundle")
    (tmp_path / "harbor").symlink_to(release)
    fact = InstallerState()
    command = fact.command(install_dir=str(tmp_path / "harbor"), cache_dir=str(cache), release_parent=str(tmp_path))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    state = fact.process(output.splitlines())
    assert state["releases"] == {
        "link_target": str(release),
        "release_dir": str(release),
        "bundle_version": None,
        "releases": [str(release)],
    }
    assert state["files"][str(cache / "harbor-offline-installer-v2.13.1.tgz")]["size"] == 6
    assert state["files"][str(tmp_path / "harbor")]["type"] == "link"
    assert set(state["space"]) == {str(cache), str(tmp_path)} and state["space"][str(cache)]["free_mib"] > 0
