"""harbor_auth against a stand-in core that binds to a real LDAP server (slapd) and reads
a real OIDC discovery document: Harbor's own ping runs before anything is saved, the
bind password is sent once and never shown, an LDAP user's password works for the API
and for the registry's token service (docker login) with its LDAP group's role, and
an auth mode Harbor locked is refused while planning."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.resources import ResourceError
from lab import ldap_directory as lab_ldap
from lab.standin.tests.in_process import StandinHarbor, assert_valid_request, record_requests


@pytest.fixture
def harbor(tmp_path, core_backing):
    key = tmp_path / "private_key.pem"
    key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    running = StandinHarbor(tmp_path / "data", core_backing, env={"TOKEN_PRIVATE_KEY_PATH": str(key)})
    yield running
    running.stop()


def ldap_auth(slapd, **extra):
    return {
        "mode": "ldap",
        "ldap_url": slapd.url,
        "ldap_search_dn": lab_ldap.SEARCH_DN,
        "ldap_base_dn": lab_ldap.PEOPLE,
        "ldap_uid": "uid",
        "ldap_group_base_dn": lab_ldap.GROUPS,
        "ldap_group_search_filter": "(objectClass=groupOfNames)",
        "ldap_group_attribute_name": "cn",
        **extra,
    }


def apply(client, store, key, raw, monkeypatch=None):
    """Plan and apply one kind; its changes (and, with ``monkeypatch``, its write requests)."""
    sent = record_requests(monkeypatch) if monkeypatch else []
    kind = next(kind for kind in resources.KINDS if kind.key == key)
    done = []
    for change in kind.plan(client, [kind.spec(item) for item in (raw if isinstance(raw, list) else [raw])], store):
        change.apply()
        done.append(str(change))
    if monkeypatch:
        monkeypatch.undo()
    return done, [(method, path, body) for method, path, body in sent if method != "GET"]


def test_ldap_sign_in_pinged_saved_once_and_its_password_never_shown(slapd, client, store, monkeypatch, caplog):
    store.store("auth/ldap_search_password", lab_ldap.SEARCH_PASSWORD)
    done, writes = apply(client, store, "harbor_auth", ldap_auth(slapd), monkeypatch)
    assert done[0].startswith("update auth settings (auth_mode: 'db_auth' -> 'ldap_auth', ldap_url: '' -> ")
    assert done[0].endswith("ldap_search_password: *****)")
    assert [(method, path) for method, path, _ in writes] == [("POST", "/ldap/ping"), ("PUT", "/configurations")]
    for method, path, body in writes:
        assert_valid_request(method, path, body)
    assert lab_ldap.SEARCH_PASSWORD not in " ".join(done) + caplog.text
    configuration = resources.configurations.read_configuration(client)
    assert configuration["auth_mode"]["value"] == "ldap_auth"
    assert "ldap_search_password" not in configuration  # write-only in Harbor
    # Sent once: a re-run finds nothing to do; a rotated password is sent again.
    assert apply(client, store, "harbor_auth", ldap_auth(slapd)) == ([], [])
    assert (store.path("auth/ldap_search_password.sent").stat().st_mode & 0o777) == 0o600
    store.store("auth/ldap_search_password", "Rotated-Lab-2")
    with pytest.raises(ResourceError, match=r"LDAP ping of .* failed \(error: invalid credential\); nothing was saved"):
        apply(client, store, "harbor_auth", ldap_auth(slapd))
    # One changed field is one write (after Harbor's ping with its stored password).
    store.store("auth/ldap_search_password", lab_ldap.SEARCH_PASSWORD)
    done, writes = apply(client, store, "harbor_auth", ldap_auth(slapd, ldap_timeout=10), monkeypatch)
    assert done == ["update auth settings (ldap_timeout: 5 -> 10)"]
    assert [(method, path) for method, path, _ in writes] == [("POST", "/ldap/ping"), ("PUT", "/configurations")]


def test_a_harbor_installed_anew_gets_the_password_sent_to_the_one_before(slapd, client, store, monkeypatch):
    """The secrets dir remembers the password as sent (to a Harbor since purged and
    installed anew): this Harbor, not yet in LDAP mode, pings and saves with it."""
    store.store("auth/ldap_search_password", lab_ldap.SEARCH_PASSWORD)
    store.remember_sent("auth/ldap_search_password", store.read("auth/ldap_search_password"))
    done, writes = apply(client, store, "harbor_auth", ldap_auth(slapd), monkeypatch)
    assert done[0].endswith("ldap_search_password: *****)")
    assert [body.get("ldap_search_password") for _, _, body in writes] == [lab_ldap.SEARCH_PASSWORD] * 2
    assert apply(client, store, "harbor_auth", ldap_auth(slapd)) == ([], [])


def test_a_failing_ldap_ping_saves_nothing(slapd, client, store):
    store.store("auth/ldap_search_password", "Wrong-Password-1")
    with pytest.raises(ResourceError, match="invalid credential"):
        apply(client, store, "harbor_auth", ldap_auth(slapd))
    assert resources.configurations.read_configuration(client)["auth_mode"]["value"] == "db_auth"
    with pytest.raises(ResourceError, match="needs ldap_search_password: set env .* or put it in the secrets file"):
        apply(client, store.__class__(store.directory / "empty", env={}), "harbor_auth", ldap_auth(slapd))


def test_an_ldap_user_signs_in_and_its_group_grants_push(slapd, harbor, client, store):
    store.store("auth/ldap_search_password", lab_ldap.SEARCH_PASSWORD)
    apply(client, store, "harbor_auth", ldap_auth(slapd, ldap_group_admin_dn=lab_ldap.group_dn("harbor-admins")))
    apply(client, store, "harbor_groups", [{"name": "developers", "ldap_group_dn": lab_ldap.group_dn("developers")}])
    apply(client, store, "harbor_projects", [{"name": "apps"}])
    kind = next(kind for kind in resources.KINDS if kind.title == "Project members")
    for change in kind.plan(
        client, [resources.projects.project_spec({"name": "apps", "members": [{"group": "developers"}]})]
    ):
        change.apply()

    password, _ = lab_ldap.USERS["ldapalice"]
    alice = client.with_credentials("ldapalice", password)
    assert alice.current_user()["username"] == "ldapalice"  # onboarded at its first login
    assert not client.with_credentials("ldapalice", "Not-Her-Password-1").authenticates()
    token = alice.session.get(
        f"{harbor.url}/service/token",
        params={"service": "harbor-registry", "scope": "repository:apps/web:push,pull"},
        timeout=10,
    ).json()["token"]
    claims = json.loads(_b64(token.split(".")[1]))
    assert claims["access"] == [{"type": "repository", "name": "apps/web", "actions": ["push", "pull"]}]
    # The group admin DN makes its members admins; others are not.
    carol = client.with_credentials("ldapcarol", lab_ldap.USERS["ldapcarol"][0])
    assert carol.get("/configurations", "configuration as carol")
    with pytest.raises(Exception, match="403"):
        alice.get("/configurations", "configuration as alice")
    # Users other than admin exist now: Harbor locks the mode, refused while planning.
    back = {"harbor_auth": {"mode": "db"}}
    [(key, why)] = list(resources.harbor_problems(back, lambda: client))
    assert key == "harbor_auth"
    assert "refuses to change the auth mode from ldap to db once users other than admin exist (ldapalice" in why
    with pytest.raises(ResourceError, match="nothing was changed"):
        apply(client, store, "harbor_auth", {"mode": "db"})
    # The admin's flag of an LDAP user (an entry without a profile).
    assert apply(client, store, "harbor_users", [{"username": "ldapalice", "admin": True}])[0] == [
        "update user ldapalice (admin: False -> True)"
    ]


def _b64(text):
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DiscoveryServer:
    """An OIDC provider's discovery document on loopback (issuer: ``url``, or ``issuer``)."""

    def __init__(self, issuer=None):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != "/.well-known/openid-configuration":
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps({"issuer": server.issuer, "authorization_endpoint": server.url + "/auth"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = issuer or self.url
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def oidc_auth(url):
    return {
        "mode": "oidc",
        "oidc_name": "lab",
        "oidc_endpoint": url,
        "oidc_client_id": "harbor",
        "oidc_scope": "openid,profile,email",
        "oidc_client_secret_env": "OIDC_SECRET",
        "oidc_extra_redirect_parms": {"prompt": "login"},
    }


def test_oidc_sign_in_after_harbors_discovery_check(client, store, tmp_path):
    provider = DiscoveryServer()
    wrong = DiscoveryServer(issuer="https://elsewhere.example.org")
    try:
        env_store = SecretStore(store.directory, env={"OIDC_SECRET": "Client-Secret-1"})
        with pytest.raises(ResourceError, match="could not read .*/.well-known/openid-configuration"):
            apply(client, env_store, "harbor_auth", oidc_auth(wrong.url))
        assert resources.configurations.read_configuration(client)["auth_mode"]["value"] == "db_auth"
        done, _ = apply(client, env_store, "harbor_auth", oidc_auth(provider.url))
        assert "oidc_client_secret: *****" in done[0] and "Client-Secret-1" not in done[0]
        assert apply(client, env_store, "harbor_auth", oidc_auth(provider.url)) == ([], [])
        exported = resources.configurations.export_auth(client)
        assert exported["oidc_extra_redirect_parms"] == {"prompt": "login"} and "oidc_client_secret" not in exported
    finally:
        provider.stop()
        wrong.stop()
