"""ClientState: every fact the client deploy decides from, in one round trip
(captured on client-20, converged: CA in certs.d, root logged in as the robot)."""

from harbor_deploy.facts.docker_client import ClientState, certs_d_ca
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"
REGISTRY = "harbor.lab.internal:8443"


def test_each_section_is_its_facts_answer():
    state = ClientState().process((FACT_OUTPUTS / "client_state_client_logged_in.txt").read_text().splitlines())
    assert state["engine"]["active"] and state["engine"]["compose_version"]
    assert state["daemon"]["error"] is None
    assert state["registry"]["trust"] == "https"
    assert state["registry"]["logins"]["root"] == {"user_exists": True, "username": "robot$demo+ci", "works": True}
    assert state["registry"]["logins"]["nobody-here"]["user_exists"] is False
    ca = state["files"][certs_d_ca(REGISTRY)]
    assert ca["sha256"] == state["registry"]["ca_sha256"] and ca["mode"] == "644"
    assert state["ca"]["pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_the_ca_is_fetched_only_when_asked():
    without = ClientState().command(REGISTRY, ["root"], [certs_d_ca(REGISTRY)])
    assert "getcert" not in without and "section ca" not in without
    assert "section ca" in ClientState().command(REGISTRY, ["root"], [], ca_url=f"https://{REGISTRY}/getcert")
