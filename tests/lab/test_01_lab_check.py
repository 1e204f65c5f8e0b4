"""pyinfra reaches every lab host over SSH and reads facts that match the hosts."""

from tests.lab.conftest import host_exec, lab_check_report, run_pyinfra


def test_lab_check_reports_real_facts_of_every_host(lab):
    result = run_pyinfra("-y", "inventories/lab.py", "deploys/lab_check.py")
    report = lab_check_report(result.stdout + result.stderr)
    assert sorted(report) == sorted(host["name"] for host in lab["hosts"])

    for host in lab["hosts"]:
        container = host["container"]
        facts = report[host["name"]]
        assert facts["os_id"] == "debian"
        assert facts["os_codename"] == "trixie"
        assert facts["os_version_id"] == host_exec(container, ". /etc/os-release; echo $VERSION_ID")
        assert facts["systemd_state"] == "running"
        assert facts["firewalld_state"] == "running"
        assert host_exec(container, "firewall-cmd --state") == "running"
        if host["docker"]:
            assert facts["docker_installed"] is True
            assert facts["docker_version"] == host_exec(container, "docker version --format '{{.Server.Version}}'")
            # The compose package's upstream version (Debian's build reports its revision too).
            assert host_exec(container, "docker compose version --short").startswith(facts["compose_version"])
            assert facts["compose_version"].startswith("2.")
        else:
            assert facts["docker_installed"] is False
            assert facts["docker_version"] is None
            assert host_exec(container, "command -v dockerd", check=False) == ""


def test_hosts_resolve_each_other_and_the_harbor_dns_name(lab):
    server = next(h for h in lab["hosts"] if h["group"] == "harbor_servers")
    for host in lab["hosts"]:
        resolved = host_exec(host["container"], f"getent hosts {lab['harbor_dns_name']}")
        assert resolved.split()[0] == server["address"]


def test_ssh_is_key_only(lab):
    for host in lab["hosts"]:
        config = host_exec(host["container"], "sshd -T")
        assert "passwordauthentication no" in config
        assert "permitrootlogin without-password" in config or "permitrootlogin prohibit-password" in config
