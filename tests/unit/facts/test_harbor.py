"""Harbor facts: private files read back byte-exact and masked on the controller; parsing."""

import subprocess

import pytest

from harbor_deploy.facts.files import PrivateFiles
from harbor_deploy.facts.harbor import HarborHealth, HarborInstallation, HarborLogTails, SharedValueDigests
from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.config.secrets import HarborSecrets, Secret
from harbor_deploy.lib.plan import shared_values
from harbor_deploy.lib.render import harbor_yml
from tests.conftest import FIXTURES, ROOT

NASTY = ["Adm1n: #pass", "'quoted'", "- dash", "null", "ünïcødé", "back\\slash", "line\nbreak"]


@pytest.mark.parametrize("password", NASTY)
def test_private_files_read_any_content_back_byte_exact_and_masking_hides_it(tmp_path, password):
    config = merged(
        {
            "harbor_hostname": "harbor.example.com",
            "harbor_storage_service": {"s3": {"accesskey": "AK-value", "secretkey": "SK-value", "bucket": "b"}},
        }
    )
    text = harbor_yml.render(config, HarborSecrets(Secret(password, "t"), Secret("Db-" + password, "t")))
    path = tmp_path / "harbor.yml"
    path.write_text(text)
    (tmp_path / "database").mkdir()
    (tmp_path / "database" / "PG_VERSION").write_text("15\n")
    command = PrivateFiles().command(
        paths=(str(path), str(tmp_path / "absent.yml")),
        nonempty_dirs=(str(tmp_path / "database"), str(tmp_path / "none")),
    )
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    fact = PrivateFiles().process(output.splitlines())
    assert fact == {"files": {str(path): text.encode()}, "nonempty": [str(tmp_path / "database")]}
    shown = harbor_yml.masked(fact["files"][str(path)].decode())
    for secret in (password, "SK-value", "AK-value"):
        if secret != "null":
            assert all(secret not in line for line in shown.splitlines()), secret


def captured(name):
    return (FIXTURES / "facts" / name).read_text().splitlines()


def test_installation_of_a_running_harbor_from_real_artifacts():
    fact = HarborInstallation().process(captured("harbor_installation_running.txt"))
    assert fact["release_dir"] == "/usr/local/harbor-v2.13.1"
    assert fact["bundle_version"] == "v2.13.1" and fact["running_version"] == "v2.13.1"
    assert fact["releases"] == ["/usr/local/harbor-v2.13.1"]
    assert fact["core_images"] == ["v2.13.1"]
    assert fact["compose_mtime"] > fact["harbor_yml_mtime"]
    assert len(fact["harbor_yml_sha256"]) == 64
    assert set(fact["containers"]) >= {"harbor-core", "nginx", "registry", "harbor-log", "trivy-adapter"}
    assert fact["containers"]["nginx"] == {"image": "goharbor/nginx-photon:v2.13.1", "state": "running"}
    assert (fact["service_enabled"], fact["service_active"]) == ("enabled", "active")


def test_installation_on_a_host_without_harbor():
    fact = HarborInstallation().process(captured("harbor_installation_absent.txt"))
    assert fact["release_dir"] is None and fact["bundle_version"] is None and fact["running_version"] is None
    assert fact["releases"] == [] and fact["containers"] == {} and fact["core_images"] == []
    assert fact["compose_mtime"] is None and fact["harbor_yml_sha256"] is None
    assert fact["service_enabled"] == "not-found"


def test_health_of_a_healthy_harbor_reads_containers_and_the_api():
    fact = HarborHealth().process(captured("harbor_health_healthy.txt"))
    assert len(fact["containers"]) == 10
    assert all(c["state"] == "running" and c["health"] == "healthy" for c in fact["containers"].values())
    assert fact["containers"]["harbor-core"]["started_at"].startswith("20")
    assert fact["api"]["status"] == "healthy"
    assert {c["name"] for c in fact["api"]["components"]} >= {"core", "database", "registry", "trivy"}


def test_health_without_harbor():
    assert HarborHealth().process(captured("harbor_health_absent.txt")) == {"containers": {}, "api": None}


def test_a_half_unpacked_release_is_not_a_release(tmp_path):
    """The command run by a local shell on a real tree: a ``.partial`` unpack is no release."""
    (tmp_path / "harbor-v2.13.1").mkdir()
    (tmp_path / "harbor-v2.13.1" / "harbor.v2.13.1.tar.gz").write_bytes(b"")
    (tmp_path / "harbor-v2.14.0.partial").mkdir()
    (tmp_path / "harbor").symlink_to(tmp_path / "harbor-v2.13.1")
    command = HarborInstallation().command(str(tmp_path / "harbor"))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    fact = HarborInstallation().process(output.splitlines())
    assert fact["releases"] == [str(tmp_path / "harbor-v2.13.1")]
    assert fact["release_dir"] == str(tmp_path / "harbor-v2.13.1")
    assert fact["bundle_version"] == "v2.13.1"


def test_log_tails_by_component_from_a_real_server():
    tails = HarborLogTails().process(captured("harbor_log_tails_server.txt"))
    assert {"core", "registry", "proxy", "jobservice", "portal", "registryctl"} <= set(tails)
    assert all(len(lines) == 2 for lines in tails.values())
    assert all(" core: " in line for line in tails["core"])


def test_log_tails_command_reads_each_log_and_nothing_else(tmp_path):
    (tmp_path / "core.log").write_text("one\ntwo\nthree")  # no final newline
    (tmp_path / "registry.log").write_text("r1\n")
    (tmp_path / "core.log.1.gz").write_text("rotated")
    command = HarborLogTails().command(str(tmp_path), 2)
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    assert HarborLogTails().process(output.splitlines()) == {"core": ["two", "three"], "registry": ["r1"]}
    empty = subprocess.run(
        ["sh", "-c", HarborLogTails().command(str(tmp_path / "none"), 2)], capture_output=True, check=True
    )
    assert empty.stdout == b"" and empty.returncode == 0


def _digests(install_dir):
    """What SharedValueDigests reads under ``install_dir``, and its raw output."""
    fact = SharedValueDigests()
    run = subprocess.run(["sh", "-c", fact.command(str(install_dir))], capture_output=True, text=True, check=True)
    return fact.process(run.stdout.splitlines()), run.stdout


def test_the_shared_values_script_writes_them_after_prepare_and_the_fact_reads_their_digests(tmp_path):
    """templates/harbor-shared-values.sh (harbor.service runs it before every start)
    replaces what prepare drew in each env file, keeping every other line and the
    file's mode, and leaves a file prepare did not write absent; SharedValueDigests
    then reads the digests every node must share, never a value."""
    config = tmp_path / "harbor" / "common" / "config"
    drawn = shared_values.parse(shared_values.generate())  # as this node's prepare drew them
    for name, keys in (
        ("core/env", shared_values.ENV_FILES["core/env"]),
        ("jobservice/env", shared_values.ENV_FILES["jobservice/env"]),
    ):
        (config / name).parent.mkdir(parents=True)
        lines = ["LOG_LEVEL=info", *(f"{key}={drawn[key]}" for key in keys), "URL=http://x/?a=b"]
        (config / name).write_text("\n".join(lines) + "\n")
        (config / name).chmod(0o600)
    assert _digests(tmp_path / "harbor")[0]["core/env"] == shared_values.digests(drawn)
    shared = shared_values.generate()
    (tmp_path / "values.env").write_bytes(shared)
    script = ROOT / "templates" / "harbor-shared-values.sh"
    subprocess.run(["sh", str(script), str(tmp_path / "values.env"), str(config)], check=True)
    wanted = shared_values.parse(shared)
    assert (config / "core/env").read_text().splitlines() == [
        "LOG_LEVEL=info",
        *(f"{key}={wanted[key]}" for key in shared_values.ENV_FILES["core/env"]),
        "URL=http://x/?a=b",
    ]
    assert (config / "jobservice/env").stat().st_mode & 0o777 == 0o600
    assert not (config / "registryctl").exists() and not list(config.rglob("*.shared"))
    digests, output = _digests(tmp_path / "harbor")
    assert all(value not in output for value in wanted.values())
    assert shared_values.differences(shared_values.digests(wanted), digests) == []
    assert digests["jobservice/env"] == {
        key: shared_values.digest(wanted[key]) for key in ("CORE_SECRET", "JOBSERVICE_SECRET")
    }
