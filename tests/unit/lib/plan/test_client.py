"""The client deploy's controller side: registry address, daemon.json settings,
CA and password resolution, and every problem reported at once."""

import hashlib

import pytest

from harbor_deploy.lib.config.defaults import KEYS_BY_NAME
from harbor_deploy.lib.plan.client import (
    ClientConfigError,
    client_plan,
    smoke_peer,
    smoke_reference,
    smoke_tag,
)
from harbor_deploy.lib.render import tls

HOSTNAME = "harbor.lab.internal"


@pytest.fixture
def secrets(tmp_path):
    """A controller secrets dir as the server deploy leaves it: CA and admin password."""
    directory = tmp_path / HOSTNAME
    directory.mkdir()
    _, cert = tls.generate_ca(HOSTNAME)
    (directory / "ca.crt").write_bytes(tls.cert_pem(cert))
    (directory / "admin_password").write_text("Adm1nPassw0rd\n")
    return tmp_path


def data(secrets, **keys):
    return {"harbor_hostname": HOSTNAME, "harbor_secrets_dir": str(secrets), "harbor_client_username": "admin", **keys}


def problems_of(data_, env=None):
    with pytest.raises(ClientConfigError) as raised:
        client_plan(data_, env={} if env is None else env)
    assert "Harbor client data" in str(raised.value)
    return dict(raised.value.problems)


def test_without_a_username_clients_are_pointed_at_robot_accounts(secrets):
    found = problems_of({"harbor_hostname": HOSTNAME, "harbor_secrets_dir": str(secrets)})
    assert list(found) == ["harbor_client_username"]
    assert "required when harbor_client_login_users is not empty" in found["harbor_client_username"]
    assert "robot$<project>+<name>" in found["harbor_client_username"]
    assert (
        client_plan(
            {"harbor_hostname": HOSTNAME, "harbor_secrets_dir": str(secrets), "harbor_client_login_users": []}, env={}
        ).username
        is None
    )


def test_defaults_trust_the_generated_ca_over_https_and_log_root_in(secrets):
    plan = client_plan(data(secrets), env={})
    assert plan.registry == "harbor.lab.internal:8443"
    assert plan.trust == "https"
    assert plan.ca_pem == (secrets / HOSTNAME / "ca.crt").read_bytes()
    assert plan.ca_fetch_url is None
    assert plan.daemon_settings == {}
    assert (plan.login_users, plan.username) == (("root",), "admin")
    assert plan.password.reveal() == "Adm1nPassw0rd"
    assert (plan.restart_batch, plan.smoke_test, plan.os_trust_store) == (1, False, False)


def test_client_keys_are_in_the_key_registry():
    for name in (
        "harbor_registry",
        "harbor_client_trust",
        "harbor_client_ca_source",
        "harbor_client_login_users",
        "harbor_client_restart_batch",
        "harbor_client_smoke_project",
    ):
        assert KEYS_BY_NAME[name].meaning


def test_http_mode_uses_the_http_port_and_merges_the_exact_registry_into_insecure_registries(secrets):
    plan = client_plan(
        data(
            secrets,
            harbor_client_trust="http",
            harbor_http_port=8081,
            harbor_client_daemon_extra={"insecure-registries": ["other:5000"], "live-restore": True},
        ),
        env={},
    )
    assert plan.registry == "harbor.lab.internal:8081"
    assert plan.ca_pem is None and plan.ca_fetch_url is None
    assert plan.daemon_settings == {
        "insecure-registries": ["other:5000", "harbor.lab.internal:8081"],
        "live-restore": True,
    }


def test_explicit_registry_wins_and_extra_daemon_keys_pass_through(secrets):
    plan = client_plan(
        data(
            secrets,
            harbor_registry="registry.example.com:443",
            harbor_client_daemon_extra={"registry-mirrors": ["https://registry.example.com"]},
        ),
        env={},
    )
    assert plan.registry == "registry.example.com:443"
    assert plan.daemon_settings == {"registry-mirrors": ["https://registry.example.com"]}


def test_fetch_source_reads_the_ca_on_the_hosts_against_its_pin(secrets):
    pin = hashlib.sha256((secrets / HOSTNAME / "ca.crt").read_bytes()).hexdigest()
    plan = client_plan(data(secrets, harbor_client_ca_source="fetch", harbor_client_ca_sha256=pin), env={})
    assert plan.ca_pem is None
    assert plan.ca_fetch_url == "https://harbor.lab.internal:8443/api/v2.0/systeminfo/getcert"
    assert plan.ca_sha256 == pin


def test_fetch_source_without_a_pin_is_refused_naming_the_key(secrets):
    found = problems_of(data(secrets, harbor_client_ca_source="fetch"))
    assert list(found) == ["harbor_client_ca_sha256"]
    assert found["harbor_client_ca_sha256"].startswith(
        "required when harbor_client_ca_source is fetch: the sha256 of the CA PEM Harbor serves at "
        "/api/v2.0/systeminfo/getcert"
    )
    # Plain HTTP trusts no CA: nothing to pin.
    assert client_plan(data(secrets, harbor_client_ca_source="fetch", harbor_client_trust="http"), env={})


def test_none_source_installs_no_ca(secrets):
    plan = client_plan(data(secrets, harbor_client_ca_source="none", harbor_client_os_trust_store=True), env={})
    assert (plan.ca_pem, plan.ca_fetch_url, plan.os_trust_store) == (None, None, False)


def test_file_source_reads_and_checks_the_file(secrets, tmp_path):
    ca = secrets / HOSTNAME / "ca.crt"
    assert (
        client_plan(data(secrets, harbor_client_ca_source="file", harbor_client_ca_file=str(ca)), env={}).ca_pem
        == ca.read_bytes()
    )
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate")
    assert problems_of(data(secrets, harbor_client_ca_source="file", harbor_client_ca_file=str(junk))) == {
        "harbor_client_ca_file": f"{junk}: not a PEM certificate chain"
    }
    assert problems_of(data(secrets, harbor_client_ca_source="file")) == {
        "harbor_client_ca_file": "required when harbor_client_ca_source is file"
    }


def test_pinned_ca_must_match(secrets):
    ca = (secrets / HOSTNAME / "ca.crt").read_bytes()
    good = hashlib.sha256(ca).hexdigest()
    assert client_plan(data(secrets, harbor_client_ca_sha256=good), env={}).ca_pem == ca
    assert (
        "is not the pinned harbor_client_ca_sha256"
        in problems_of(data(secrets, harbor_client_ca_sha256="0" * 64))["harbor_client_ca_source"]
    )
    assert problems_of(data(secrets, harbor_client_ca_sha256=good.upper())) == {
        "harbor_client_ca_sha256": "must be the full sha256: 64 lowercase hex digits"
    }


def test_missing_ca_points_at_the_server_deploy_and_at_none_for_a_public_ca(tmp_path):
    why = problems_of(data(tmp_path), env={"HARBOR_CLIENT_PASSWORD": "x"})["harbor_client_ca_source"]
    assert why.startswith(f"no CA in {tmp_path / HOSTNAME}: the server deploy keeps there what the clients trust")
    assert "provided-chain.crt, a copy of harbor_tls_chain in mode provided" in why
    assert "run deploys/server.py first" in why and "set harbor_client_ca_source to none" in why


def test_the_provided_chain_the_server_deploy_kept_wins_over_an_older_generated_ca(secrets):
    _, company = tls.generate_ca("Example Corp Root CA")
    (secrets / HOSTNAME / "provided-chain.crt").write_bytes(tls.cert_pem(company))
    assert client_plan(data(secrets), env={}).ca_pem == tls.cert_pem(company)


def test_password_from_env_first_then_admin_password_never_generated(secrets):
    env = {"HARBOR_CLIENT_PASSWORD": "robot-secret", "HARBOR_ADMIN_PASSWORD": "Env4dminPw"}
    robot = client_plan(data(secrets, harbor_client_username="robot$ci+push"), env=env)
    assert (robot.username, robot.password.reveal()) == ("robot$ci+push", "robot-secret")
    assert client_plan(data(secrets), env={"HARBOR_ADMIN_PASSWORD": "Env4dminPw"}).password.reveal() == "Env4dminPw"

    (secrets / HOSTNAME / "admin_password").unlink()
    assert problems_of(data(secrets)) == {
        "harbor_client_username": (
            "no password for admin: set HARBOR_CLIENT_PASSWORD (or keep the server deploy's "
            "admin_password in the secrets dir)"
        )
    }
    assert not (secrets / HOSTNAME / "admin_password").exists()
    assert problems_of(data(secrets, harbor_client_username="robot$ci+push")) == {
        "harbor_client_username": "no password for robot$ci+push: set HARBOR_CLIENT_PASSWORD "
        "(or run deploys/configure.py, which keeps the robot's secret)"
    }


def test_no_login_users_needs_no_password(secrets):
    (secrets / HOSTNAME / "admin_password").unlink()
    plan = client_plan(data(secrets, harbor_client_login_users=[]), env={})
    assert (plan.login_users, plan.password) == ((), None)


def test_every_problem_is_reported_at_once(secrets):
    found = problems_of(
        data(
            secrets,
            harbor_client_trust="tls",
            harbor_client_ca_source="web",
            harbor_client_restart_batch=0,
            harbor_client_smoke_test="yes",
            harbor_client_daemon_extra=["live-restore"],
            harbor_client_smoke_project="My Project",
            harbor_registry="https://h:1/x",
        )
    )
    assert set(found) == {
        "harbor_client_trust",
        "harbor_client_ca_source",
        "harbor_client_restart_batch",
        "harbor_client_smoke_test",
        "harbor_client_daemon_extra",
        "harbor_client_smoke_project",
        "harbor_registry",
    }


def test_user_names_must_be_safe(secrets):
    assert "harbor_client_login_users" in problems_of(data(secrets, harbor_client_login_users=["root; rm -rf /"]))
    assert "harbor_client_username" in problems_of(data(secrets, harbor_client_username="ad min"))
    assert "harbor_client_username" in problems_of(data(secrets, harbor_client_username="user:pw"))


def test_hostname_is_required_and_checked(secrets):
    assert "harbor_hostname" in problems_of({"harbor_secrets_dir": str(secrets)})
    assert "harbor_hostname" in problems_of(data(secrets, harbor_hostname="localhost"))


def test_smoke_test_needs_a_login_user(secrets):
    assert problems_of(data(secrets, harbor_client_smoke_test=True, harbor_client_login_users=[])) == {
        "harbor_client_smoke_test": "needs a logged-in user: harbor_client_login_users is empty"
    }


def test_smoke_references_name_the_pushing_host():
    assert smoke_reference("h:8443", "library", "client-1") == "h:8443/library/hd-smoke:client-1"
    assert smoke_tag("docker-01.example.com") == "docker-01.example.com"
    assert smoke_tag("@local/odd name") == "local-odd-name"


def test_smoke_peer_is_the_next_host_wrapping_round_or_itself_alone():
    names = ["client-3", "client-1", "client-2"]
    assert [smoke_peer(n, names) for n in ("client-1", "client-2", "client-3")] == ["client-2", "client-3", "client-1"]
    assert smoke_peer("client-1", ["client-1"]) == "client-1"
    assert smoke_peer("client-1", []) == "client-1"


def test_password_of_a_robot_or_a_rotated_admin_comes_from_configures_secrets(secrets):
    (secrets / HOSTNAME / "robots").mkdir()
    (secrets / HOSTNAME / "robots" / "ci+push").write_text("R0botSecret\n")
    robot = client_plan(data(secrets, harbor_client_username="robot$ci+push"), env={})
    assert robot.password.reveal() == "R0botSecret"

    (secrets / HOSTNAME / "admin_password_managed").write_text("Man4gedPw\n")
    assert client_plan(data(secrets), env={}).password.reveal() == "Man4gedPw"
