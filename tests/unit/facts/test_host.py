"""HostOverview parses the output captured from real lab hosts."""

from harbor_deploy.facts.host import HostOverview
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"


def process(fixture):
    return HostOverview().process((FACT_OUTPUTS / fixture).read_text().splitlines())


def test_host_with_docker_and_firewalld():
    assert process("host_overview_trixie_docker.txt") == {
        "os_id": "debian",
        "os_version_id": "13",
        "os_codename": "trixie",
        "os_name": "Debian GNU/Linux 13 (trixie)",
        "systemd_state": "running",
        "firewalld_state": "running",
    }


def test_host_without_firewalld_running():
    facts = process("host_overview_trixie_bare_no_firewalld.txt")
    assert facts["firewalld_state"] == "not running"
    assert facts["systemd_state"] == "degraded"


def test_command_is_one_round_trip_reading_every_field():
    command = HostOverview().command()
    for field in ("os_id", "systemd_state", "firewalld_state"):
        assert f"{field}=" in command


def test_server_resources_of_a_running_harbor_server():
    from harbor_deploy.facts.host import ServerResources

    fact = ServerResources().process((FACT_OUTPUTS / "server_resources_harbor_running.txt").read_text().splitlines())
    assert (fact["cpus"], fact["machine"]) == (2, "x86_64")
    assert fact["memory_mib"] == 24684096 // 1024 and fact["disk_free_mib"] > 0
    assert fact["listening"][8443] == "docker-proxy" and fact["listening"][8081] == "docker-proxy"
    assert fact["listening"][22] == "sshd"
    assert fact["listening"][41255] is None  # docker's embedded DNS: no owner shown


def test_free_space_counts_a_missing_path_on_its_nearest_parent(tmp_path):
    import subprocess

    from harbor_deploy.facts.host import FreeSpace

    missing = tmp_path / "not" / "yet"
    command = FreeSpace().command([str(tmp_path), str(missing)])
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    space = FreeSpace().process(output.splitlines())
    assert set(space) == {str(tmp_path), str(missing)}
    # One filesystem, read twice: other writers may move its free space in between.
    assert space[str(missing)]["mount"] == space[str(tmp_path)]["mount"]
    assert abs(space[str(missing)]["free_mib"] - space[str(tmp_path)]["free_mib"]) < 256
    assert space[str(tmp_path)]["free_mib"] > 0 and space[str(tmp_path)]["mount"].startswith("/")


def test_selinux_mode_and_labels_as_getenforce_and_stat_print_them():
    """The first output is this fact's command run on a Debian host; the second is
    written as getenforce and stat print them on an enforcing AlmaLinux host (none in
    the lab), a missing path included."""
    from harbor_deploy.facts.host import SelinuxState

    def selinux(fixture):
        return SelinuxState().process((FACT_OUTPUTS / fixture).read_text().splitlines())

    assert selinux("selinux_state_trixie_without_selinux.txt") == {
        "mode": None,
        "labels": {"/data": None, "/var/log/harbor": None},
    }
    assert selinux("selinux_state_almalinux_enforcing.txt") == {
        "mode": "enforcing",
        "labels": {
            "/data": "system_u:object_r:default_t:s0",
            "/var/log/harbor": "system_u:object_r:var_log_t:s0",
            "/srv/missing": None,
        },
    }
