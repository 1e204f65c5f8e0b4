"""Client facts parse output captured from the lab clients (client-2 with a certs.d
CA, a seeded daemon.json and a user holding a robot login; client-1 with invalid
daemon.json); credentials never leave the host."""

import base64
import hashlib
import os
import subprocess

from harbor_deploy.facts.docker_client import (
    ClientRegistryState,
    DockerLoginCheck,
    RegistryCaCertificate,
    certs_d_ca,
    login_probe,
)
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"
REGISTRY = "harbor.lab.internal:8443"


def process(fact, fixture):
    return fact().process((FACT_OUTPUTS / fixture).read_text().splitlines())


def test_registry_state_with_certs_d_ca_and_other_registries_in_daemon_json():
    assert process(ClientRegistryState, "client_registry_state_client_https.txt") == {
        "registry": REGISTRY,
        "trust": "https",
        "ca_sha256": "65315c9db88186865b6c72c2cd9233a201665d3277b5a3e83a4450b4b12f8f00",
        "daemon_json_error": None,
        "insecure_registry": False,
        "registry_mirrors": [],
        "logins": {
            "root": {"user_exists": True, "username": None, "works": False},
            "hdprobe": {"user_exists": True, "username": "robot$ci+push", "works": False},
            "nobody-here": {"user_exists": False, "username": None, "works": False},
        },
    }


def test_registry_state_with_invalid_daemon_json():
    state = process(ClientRegistryState, "client_registry_state_client_invalid_json.txt")
    assert state["daemon_json_error"].startswith("Expecting property name")
    assert (state["trust"], state["insecure_registry"]) == ("https", False)
    assert state["logins"]["root"] == {"user_exists": True, "username": "admin", "works": False}


def test_http_trust_and_mirrors_naming_the_registry():
    lines = (FACT_OUTPUTS / "client_registry_state_client_https.txt").read_text().splitlines()
    head = [line.replace(REGISTRY, "harbor.lab.internal:8081") for line in lines[: lines.index("--- content")]]
    state = ClientRegistryState().process(
        [
            *head,
            "--- content",
            '{"insecure-registries": ["harbor.lab.internal:8081"], '
            '"registry-mirrors": ["https://harbor.lab.internal:8081/", "https://mirror.example"]}',
        ]
    )
    assert state["trust"] == "http"
    assert state["registry_mirrors"] == ["https://harbor.lab.internal:8081/"]


def test_system_trust_without_ca_or_insecure_entry():
    state = ClientRegistryState().process([f"registry={REGISTRY}", "ca_sha256="])
    assert (state["trust"], state["ca_sha256"], state["logins"]) == ("system", None, {})


def test_login_check_reports_stored_user_name_only():
    assert process(DockerLoginCheck, "docker_login_check_stored_robot.txt") == {
        "user_exists": True,
        "username": "robot$ci+push",
        "works": False,
    }
    assert DockerLoginCheck().process(["user_exists.jenkins=no"]) == {
        "user_exists": False,
        "username": None,
        "works": False,
    }


SECRET = "pa:ss"


class ProbeHost:
    """A login user's home and stand-ins for the programs the probe runs (getent,
    curl answering ``status``, runuser, docker accepting or not), each recording how
    it was called: the probe's shell, run by a local shell."""

    def __init__(self, tmp_path, status="200", docker_accepts=False):
        self.root, self.home, self.bin = tmp_path, tmp_path / "home", tmp_path / "bin"
        (self.home / ".docker").mkdir(parents=True)
        self.bin.mkdir()
        self.tool("getent", f"echo 'jenkins:x:1000:1000::{self.home}:/bin/sh'")
        self.tool("curl", f'printf "%s\\n" "$*" > {tmp_path}/curl.args; cat > {tmp_path}/curl.stdin; printf {status}')
        self.tool("runuser", 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"')
        self.tool("docker", f"echo docker >> {tmp_path}/docker.calls; exit {0 if docker_accepts else 1}")

    def tool(self, name, body):
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    def store(self, config):
        (self.home / ".docker" / "config.json").write_text(config)

    def probe(self, scheme="https"):
        run = subprocess.run(
            ["sh", "-c", login_probe(REGISTRY, "jenkins", scheme)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}"},
        )
        return DockerLoginCheck().process(run.stdout.splitlines()), run.stdout + run.stderr

    def read(self, name):
        path = self.root / name
        return path.read_text() if path.exists() else None


def stored_login(username="robot$ci+push", password=SECRET):
    """config.json as docker writes it: indented, other registries beside, a URL key."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = (
        '{\n\t"auths": {\n\t\t"other:5000": {\n\t\t\t"auth": "b3RoZXI6cHc="\n\t\t},\n'
        f'\t\t"https://{REGISTRY}": {{\n\t\t\t"email": "x",\n\t\t\t"auth": "{auth}"\n\t\t}}\n\t}}\n}}\n'
    )
    return config, auth


def test_a_stored_login_harbor_accepts_works_by_one_token_request_without_docker(tmp_path):
    host = ProbeHost(tmp_path, status="200")
    config, auth = stored_login()
    host.store(config)
    state, output = host.probe()
    assert state == {"user_exists": True, "username": "robot$ci+push", "works": True}
    assert SECRET not in output and auth not in output  # the user name, nothing of "pa:ss"
    # The credentials reach curl on stdin, never on its command line.
    assert host.read("curl.stdin") == f"Authorization: Basic {auth}\n"
    args = host.read("curl.args")
    assert auth not in args and SECRET not in args
    assert "-H @- https://harbor.lab.internal:8443/service/token?service=harbor-registry" in args
    assert host.read("docker.calls") is None


def test_a_revoked_or_rotated_secret_is_caught_by_the_registrys_401(tmp_path):
    host = ProbeHost(tmp_path, status="401", docker_accepts=True)
    host.store(stored_login(password="the-old-secret")[0])
    state, _ = host.probe()
    assert state == {"user_exists": True, "username": "robot$ci+push", "works": False}
    assert host.read("docker.calls") is None  # Harbor's answer decides


def test_no_answer_from_harbor_leaves_the_decision_to_docker_login(tmp_path):
    """A CA that does not verify Harbor's certificate, or a proxy only dockerd knows:
    curl gets no HTTP answer (000), docker login decides as dockerd sees it."""
    for accepts in (False, True):
        host = ProbeHost(tmp_path / str(accepts), status="000", docker_accepts=accepts)
        host.store(stored_login()[0])
        state, _ = host.probe()
        assert state["works"] is accepts
        assert host.read("docker.calls") == "docker\n"


def test_no_stored_login_is_not_working_without_asking_anyone(tmp_path):
    host = ProbeHost(tmp_path, docker_accepts=True)
    host.store('{"auths": {"other:5000": {"auth": "b3RoZXI6cHc="}}}')
    assert host.probe()[0] == {"user_exists": True, "username": None, "works": False}
    assert host.read("curl.args") is None and host.read("docker.calls") is None


def test_a_credential_helper_login_is_checked_by_docker_login(tmp_path):
    host = ProbeHost(tmp_path, docker_accepts=True)
    host.store('{"auths": {}, "credsStore": "pass"}')
    assert host.probe()[0] == {"user_exists": True, "username": None, "works": True}
    assert host.read("curl.args") is None and host.read("docker.calls") == "docker\n"


def test_an_insecure_registry_is_asked_over_http(tmp_path):
    host = ProbeHost(tmp_path, status="200")
    host.store(stored_login()[0])
    assert host.probe(scheme="http")[0]["works"] is True
    assert "http://harbor.lab.internal:8443/service/token?service=harbor-registry" in host.read("curl.args")


def test_the_token_request_verifies_harbor_with_the_certs_d_ca():
    probe = login_probe(REGISTRY, "root")
    assert f"[ -f {certs_d_ca(REGISTRY)} ] && ca={certs_d_ca(REGISTRY)}" in probe
    assert '${ca:+--cacert "$ca"}' in probe


def test_login_probe_quotes_the_registry_and_the_user():
    probe = login_probe("h.example:5000", "o'brien")
    assert "getent passwd 'o'\"'\"'brien'" in probe
    assert "h\\.example:5000" in probe


def test_registry_ca_certificate_fetched_or_failed():
    assert process(RegistryCaCertificate, "registry_ca_certificate_unreachable.txt") == {
        "pem": None,
        "error": "curl: (7) Failed to connect to harbor.lab.internal port 8443 after 1 ms: "
        "Could not connect to server\ncurl exit 7",
    }
    pem = ["-----BEGIN CERTIFICATE-----", "MIIB", "-----END CERTIFICATE-----"]
    assert RegistryCaCertificate().process(pem) == {"pem": "\n".join(pem) + "\n", "error": None}
    assert RegistryCaCertificate().process(["<html>"])["pem"] is None


def test_the_ca_is_fetched_only_when_the_one_trusted_is_not_the_pinned_one(tmp_path):
    """The fact's shell, run by a local shell with a stand-in curl (which counts its calls)."""
    served = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    pin = hashlib.sha256(served.encode()).hexdigest()
    curl = tmp_path / "bin" / "curl"
    curl.parent.mkdir()
    calls = tmp_path / "calls"
    curl.write_text(f"#!/bin/sh\necho >> {calls}\nprintf '%s' '{served}'\n")
    curl.chmod(0o755)
    installed = tmp_path / "ca.crt"
    command = RegistryCaCertificate().command(f"https://{REGISTRY}/api/v2.0/systeminfo/getcert", str(installed), pin)

    def read():
        run = subprocess.run(
            ["sh", "-c", command],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PATH": f"{curl.parent}:{os.environ['PATH']}"},
        )
        fetched = calls.exists()
        calls.unlink(missing_ok=True)
        return RegistryCaCertificate().process(run.stdout.splitlines()), fetched

    assert read() == ({"pem": served, "error": None}, True)  # nothing trusted yet
    installed.write_text(served.replace("MIIB", "MIIC"))
    assert read() == ({"pem": served, "error": None}, True)  # another CA trusted: fetched
    installed.write_text(served)
    assert read() == ({"pem": served, "error": None}, False)  # the pinned one: read, not fetched


def test_certs_d_path():
    assert certs_d_ca(REGISTRY) == "/etc/docker/certs.d/harbor.lab.internal:8443/ca.crt"
