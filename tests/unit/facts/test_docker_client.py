"""Client facts parse output captured from the lab clients (client-2 with a certs.d
CA, a seeded daemon.json and a user holding a robot login; client-1 with invalid
daemon.json); credentials never leave the host."""

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


def test_login_probe_decodes_the_user_name_and_never_prints_the_password(tmp_path):
    """The on-host user name extraction, run locally on a docker-written config.json."""
    auth = subprocess.run(
        ["base64", "-w0"], input=b"robot$ci+push:pa:ss", capture_output=True, check=False
    ).stdout.decode()
    config = tmp_path / ".docker" / "config.json"
    config.parent.mkdir()
    config.write_text(
        '{\n\t"auths": {\n\t\t"other:5000": {\n\t\t\t"auth": "b3RoZXI6cHc="\n\t\t},\n'
        f'\t\t"https://{REGISTRY}": {{\n\t\t\t"email": "x",\n\t\t\t"auth": "{auth}"\n\t\t}}\n\t}}\n}}\n'
    )
    probe = login_probe(REGISTRY, "root")
    stored_user = probe.split('"$(', 1)[1].rsplit(')"; if command', 1)[0]
    output = subprocess.run(
        ["sh", "-c", f"home={tmp_path}; {stored_user}"], capture_output=True, text=True, check=False
    )
    assert output.stdout == "robot$ci+push\n"  # the user name, nothing of "pa:ss"


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
