"""The stand-in harbor-core, served in-process on loopback against a temp data dir."""

import base64
import functools
import hashlib
import json
import re
import socket

import jsonschema
import pytest
import requests
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from lab.standin.tests.in_process import RunningCore, UpstreamRegistry
from lab.standin.tests.support import SWAGGER

ADMIN = ("admin", "Harbor12345")
KID = re.compile(r"^(?:[A-Z2-7]{4}:){11}[A-Z2-7]{4}$")


@functools.cache
def swagger_definitions():
    # The C loader: the pure-python one takes seconds on this 10k-line spec.
    return yaml.load(SWAGGER.read_text(), Loader=yaml.CSafeLoader)["definitions"]


def assert_matches(definition, payload):
    """Validate against a swagger 2.0 definition, $refs resolved within the document."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": swagger_definitions()}
    jsonschema.Draft4Validator(schema).validate(payload)


def assert_list_of(definition, payload):
    assert isinstance(payload, list)
    for item in payload:
        assert_matches(definition, item)


@pytest.fixture
def portal_listener():
    """Something listening where the portal should be, so health has a healthy peer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield listener.getsockname()[1]
    listener.close()


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Harbor(RunningCore):
    """A running core plus a requests helper."""

    def call(self, method, path, auth=None, **kwargs):
        prefix = "" if path.startswith("/service/") else "/api/v2.0"
        return requests.request(method, f"{self.url}{prefix}{path}", auth=auth, timeout=10, **kwargs)


@pytest.fixture
def env(tmp_path, rsa_key_pem, portal_listener, core_backing):
    key = tmp_path / "private_key.pem"
    key.write_bytes(rsa_key_pem)
    dead = closed_port()
    return {
        "EXT_ENDPOINT": "https://harbor.lab.internal:8443",
        "HARBOR_ADMIN_PASSWORD": "Harbor12345",
        "DATA_DIR": str(tmp_path / "data"),
        "TOKEN_PRIVATE_KEY_PATH": str(key),
        "CA_DOWNLOAD_PATH": str(tmp_path / "data" / "ca_download" / "ca.crt"),
        "HARBOR_STANDIN_VERSION": "v2.13.1",
        "PORTAL_URL": f"http://127.0.0.1:{portal_listener}",
        "JOBSERVICE_URL": f"http://127.0.0.1:{dead}",
        "REGISTRY_URL": f"http://127.0.0.1:{dead}",
        "REGISTRY_CONTROLLER_URL": f"http://127.0.0.1:{dead}",
        "TRIVY_ADAPTER_URL": f"http://127.0.0.1:{dead}",
        **core_backing,
    }


@pytest.fixture
def harbor(env):
    running = Harbor(env)
    yield running
    running.stop()


def make_user(harbor, username, password="Secret123"):
    response = harbor.call(
        "POST",
        "/users",
        auth=ADMIN,
        json={"username": username, "password": password, "email": f"{username}@example.com", "realname": username},
    )
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def make_project(harbor, auth, name, public=False):
    response = harbor.call(
        "POST", "/projects", auth=auth, json={"project_name": name, "metadata": {"public": str(public).lower()}}
    )
    assert response.status_code == 201, response.text
    return response


def make_robot(harbor, project, name="ci", actions=("pull", "push")):
    body = {
        "name": name,
        "level": "project",
        "duration": -1,
        "permissions": [
            {
                "kind": "project",
                "namespace": project,
                "access": [{"resource": "repository", "action": action} for action in actions],
            }
        ],
    }
    response = harbor.call("POST", "/robots", auth=ADMIN, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def token(harbor, auth, *scopes, service="harbor-registry"):
    params = {"service": service, "scope": list(scopes)}
    return harbor.call("GET", "/service/token", auth=auth, params=params)


def decode_jwt(jwt, public_key):
    header_b64, claims_b64, signature_b64 = jwt.split(".")

    def unb64(part):
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    public_key.verify(unb64(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(unb64(header_b64)), json.loads(unb64(claims_b64))


def granted(harbor, auth, scope):
    response = token(harbor, auth, scope)
    assert response.status_code == 200, response.text
    key = serialization.load_pem_private_key(harbor.settings.token_key_path.read_bytes(), password=None)
    _, claims = decode_jwt(response.json()["token"], key.public_key())
    return set(claims["access"][0]["actions"])


def test_ping_answers_pong(harbor):
    response = harbor.call("GET", "/ping")
    assert response.status_code == 200
    assert response.text == "Pong"


def test_health_reports_every_component_without_auth(harbor):
    response = harbor.call("GET", "/health")
    assert response.status_code == 200
    health = response.json()
    assert_matches("OverallHealthStatus", health)
    status = {component["name"]: component["status"] for component in health["components"]}
    assert status == {
        "core": "healthy",
        "portal": "healthy",
        "jobservice": "unhealthy",
        "registry": "unhealthy",
        "registryctl": "unhealthy",
        "database": "healthy",
        "redis": "healthy",
    }
    assert health["status"] == "unhealthy"
    assert all(c.get("error") for c in health["components"] if c["status"] == "unhealthy")


def test_health_includes_trivy_when_installed_with_it(env):
    running = Harbor({**env, "WITH_TRIVY": "true"})
    try:
        names = [c["name"] for c in running.call("GET", "/health").json()["components"]]
    finally:
        running.stop()
    assert "trivy" in names


def test_systeminfo_shows_the_version_only_to_authenticated_callers(harbor):
    anonymous = harbor.call("GET", "/systeminfo").json()
    assert_matches("GeneralInfo", anonymous)
    assert "harbor_version" not in anonymous
    assert anonymous["auth_mode"] == "db_auth"
    admin = harbor.call("GET", "/systeminfo", auth=ADMIN).json()
    assert_matches("GeneralInfo", admin)
    assert admin["harbor_version"] == "v2.13.1-standin"
    assert admin["external_url"] == "https://harbor.lab.internal:8443"
    assert admin["registry_url"] == "harbor.lab.internal:8443"
    assert admin["has_ca_root"] is False


def test_getcert_serves_the_downloaded_ca(harbor):
    assert harbor.call("GET", "/systeminfo/getcert").status_code == 404
    harbor.settings.ca_path.parent.mkdir(parents=True, exist_ok=True)
    harbor.settings.ca_path.write_text("CA PEM\n")
    response = harbor.call("GET", "/systeminfo/getcert")
    assert response.status_code == 200
    assert response.text == "CA PEM\n"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_admin_is_seeded_from_the_configured_password(harbor):
    response = harbor.call("GET", "/users/current", auth=ADMIN)
    assert response.status_code == 200
    assert_matches("UserResp", response.json())
    assert response.json()["user_id"] == 1
    assert response.json()["sysadmin_flag"] is True
    assert harbor.call("GET", "/users/current", auth=("admin", "wrong")).status_code == 401
    assert harbor.call("GET", "/users/current").status_code == 401


def test_admin_password_change_replaces_the_old_one(harbor):
    wrong_old = harbor.call(
        "PUT", "/users/1/password", auth=ADMIN, json={"old_password": "nope", "new_password": "NewPass123"}
    )
    assert wrong_old.status_code == 403
    assert_matches("Errors", wrong_old.json())
    weak = harbor.call("PUT", "/users/1/password", auth=ADMIN, json={"old_password": ADMIN[1], "new_password": "short"})
    assert weak.status_code == 400
    changed = harbor.call(
        "PUT", "/users/1/password", auth=ADMIN, json={"old_password": ADMIN[1], "new_password": "NewPass123"}
    )
    assert changed.status_code == 200
    assert harbor.call("GET", "/users/current", auth=ADMIN).status_code == 401
    assert harbor.call("GET", "/users/current", auth=("admin", "NewPass123")).status_code == 200


def test_state_survives_a_restart_and_the_seed_password_is_ignored_then(env):
    first = Harbor(env)
    first.call("PUT", "/users/1/password", auth=ADMIN, json={"old_password": ADMIN[1], "new_password": "NewPass123"})
    make_project(first, ("admin", "NewPass123"), "apps")
    first.stop()
    second = Harbor({**env, "HARBOR_ADMIN_PASSWORD": "Changed999"})
    try:
        assert second.call("GET", "/users/current", auth=("admin", "Changed999")).status_code == 401
        assert second.call("GET", "/users/current", auth=("admin", "NewPass123")).status_code == 200
        assert second.call("HEAD", "/projects", params={"project_name": "apps"}).status_code == 200
    finally:
        second.stop()


def test_users_are_created_and_listed_by_the_admin_only(harbor):
    user_id = make_user(harbor, "alice")
    duplicate = harbor.call(
        "POST",
        "/users",
        auth=ADMIN,
        json={"username": "alice", "password": "Secret123", "email": "other@example.com", "realname": "A"},
    )
    assert duplicate.status_code == 409
    by_user = harbor.call(
        "POST", "/users", auth=("alice", "Secret123"), json={"username": "bob", "password": "Secret123"}
    )
    assert by_user.status_code == 403
    assert harbor.call("POST", "/users", json={"username": "bob", "password": "Secret123"}).status_code == 401
    listed = harbor.call("GET", "/users", auth=ADMIN)
    assert listed.status_code == 200
    assert_list_of("UserResp", listed.json())
    assert [u["username"] for u in listed.json()] == ["admin", "alice"]
    assert listed.headers["X-Total-Count"] == "2"
    assert harbor.call("GET", "/users", auth=("alice", "Secret123")).status_code == 403
    current = harbor.call("GET", "/users/current", auth=("alice", "Secret123")).json()
    assert current["user_id"] == user_id and current["sysadmin_flag"] is False


def test_a_user_changes_their_own_password_with_the_old_one(harbor):
    user_id = make_user(harbor, "alice")
    alice = ("alice", "Secret123")
    assert (
        harbor.call("PUT", f"/users/{user_id}/password", auth=alice, json={"new_password": "Other123x"}).status_code
        == 403
    )
    assert (
        harbor.call(
            "PUT", "/users/1/password", auth=alice, json={"old_password": "x", "new_password": "Other123x"}
        ).status_code
        == 403
    )
    same = harbor.call(
        "PUT", f"/users/{user_id}/password", auth=alice, json={"old_password": "Secret123", "new_password": "Secret123"}
    )
    assert same.status_code == 400
    ok = harbor.call(
        "PUT", f"/users/{user_id}/password", auth=alice, json={"old_password": "Secret123", "new_password": "Other123x"}
    )
    assert ok.status_code == 200


def test_library_exists_and_is_public(harbor):
    assert harbor.call("HEAD", "/projects", params={"project_name": "library"}).status_code == 200
    assert harbor.call("HEAD", "/projects", params={"project_name": "nope"}).status_code == 404
    listed = harbor.call("GET", "/projects")
    assert_list_of("Project", listed.json())
    assert [(p["name"], p["metadata"]["public"]) for p in listed.json()] == [("library", "true")]


def test_project_lifecycle(harbor):
    make_user(harbor, "alice")
    alice = ("alice", "Secret123")
    created = make_project(harbor, alice, "apps")
    assert created.headers["Location"] == "/api/v2.0/projects/2"
    assert harbor.call("POST", "/projects", auth=alice, json={"project_name": "apps"}).status_code == 409
    assert harbor.call("POST", "/projects", auth=alice, json={"project_name": "Bad Name"}).status_code == 400
    assert harbor.call("POST", "/projects", json={"project_name": "anon"}).status_code == 401

    project = harbor.call("GET", "/projects/apps", auth=alice).json()
    assert_matches("Project", project)
    assert (project["project_id"], project["owner_name"], project["metadata"]["public"]) == (2, "alice", "false")
    assert project["current_user_role_id"] == 1
    assert harbor.call("GET", "/projects/2", auth=ADMIN).json()["name"] == "apps"
    assert harbor.call("GET", "/projects/apps").status_code == 401
    assert [p["name"] for p in harbor.call("GET", "/projects").json()] == ["library"]

    make_user(harbor, "bob")
    bob = ("bob", "Secret123")
    assert harbor.call("GET", "/projects/apps", auth=bob).status_code == 403
    assert harbor.call("PUT", "/projects/apps", auth=bob, json={"metadata": {"public": "true"}}).status_code == 403
    assert harbor.call("PUT", "/projects/apps", auth=alice, json={"metadata": {"public": "true"}}).status_code == 200
    assert harbor.call("GET", "/projects/apps", auth=bob).json()["metadata"]["public"] == "true"

    assert harbor.call("DELETE", "/projects/apps", auth=bob).status_code == 403
    assert harbor.call("DELETE", "/projects/apps", auth=alice).status_code == 200
    assert harbor.call("GET", "/projects/apps", auth=ADMIN).status_code == 404


def test_a_project_holding_repositories_cannot_be_deleted(harbor):
    make_project(harbor, ADMIN, "apps")
    manifests = harbor.settings.data_dir / "registry/docker/registry/v2/repositories/apps/web/_manifests"
    manifests.mkdir(parents=True)
    assert harbor.call("GET", "/projects/apps", auth=ADMIN).json()["repo_count"] == 1
    assert harbor.call("DELETE", "/projects/apps", auth=ADMIN).status_code == 412


def test_robots_are_named_by_level_and_listed(harbor):
    make_project(harbor, ADMIN, "apps")
    created = make_robot(harbor, "apps")
    assert_matches("RobotCreated", created)
    assert created["name"] == "robot$apps+ci"
    assert created["expires_at"] == -1
    assert len(created["secret"]) >= 8
    system = harbor.call(
        "POST",
        "/robots",
        auth=ADMIN,
        json={
            "name": "ops",
            "level": "system",
            "duration": 30,
            "permissions": [
                {"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}
            ],
        },
    )
    assert system.status_code == 201
    assert system.json()["name"] == "robot$ops"
    assert system.json()["expires_at"] > 0
    pull = [{"resource": "repository", "action": "pull"}]
    assert (
        harbor.call(
            "POST",
            "/robots",
            auth=ADMIN,
            json={
                "name": "ci",
                "level": "project",
                "duration": -1,
                "permissions": [{"kind": "project", "namespace": "apps", "access": pull}],
            },
        ).status_code
        == 409
    )
    # Like real: without Level, q lists system robots; project robots need Level and ProjectID.
    listed = harbor.call("GET", "/robots", auth=ADMIN)
    assert_list_of("Robot", listed.json())
    assert [r["name"] for r in listed.json()] == ["robot$ops"]
    only_project = harbor.call("GET", "/robots", auth=ADMIN, params={"q": "Level=project,ProjectID=2"}).json()
    assert [r["name"] for r in only_project] == ["robot$apps+ci"]
    assert harbor.call("GET", "/robots", auth=ADMIN, params={"q": "Level=project"}).status_code == 400
    fetched = harbor.call("GET", f"/robots/{created['id']}", auth=ADMIN).json()
    assert_matches("Robot", fetched)
    assert "secret" not in fetched
    assert harbor.call("DELETE", f"/robots/{created['id']}", auth=ADMIN).status_code == 200
    assert harbor.call("GET", f"/robots/{created['id']}", auth=ADMIN).status_code == 404


def test_robot_creation_needs_rights_on_the_project(harbor):
    make_user(harbor, "alice")
    make_project(harbor, ADMIN, "apps")
    body = {
        "name": "ci",
        "level": "project",
        "duration": -1,
        "permissions": [
            {"kind": "project", "namespace": "apps", "access": [{"resource": "repository", "action": "pull"}]}
        ],
    }
    assert harbor.call("POST", "/robots", auth=("alice", "Secret123"), json=body).status_code == 403
    assert harbor.call("POST", "/robots", auth=ADMIN, json={**body, "duration": 0}).status_code == 400
    missing = {**body, "permissions": [{**body["permissions"][0], "namespace": "nope"}]}
    assert harbor.call("POST", "/robots", auth=ADMIN, json=missing).status_code == 404


def test_robots_authenticate_with_their_secret(harbor):
    make_project(harbor, ADMIN, "apps")
    robot = make_robot(harbor, "apps")
    listed = harbor.call("GET", "/projects", auth=(robot["name"], robot["secret"]))
    assert listed.status_code == 200
    assert sorted(p["name"] for p in listed.json()) == ["apps", "library"]
    assert harbor.call("GET", "/projects", auth=(robot["name"], "wrong")).status_code == 401


def test_gc_schedule(harbor):
    empty = harbor.call("GET", "/system/gc/schedule", auth=ADMIN)
    assert (empty.status_code, empty.content) == (200, b"")
    body = {"schedule": {"type": "Daily", "cron": "0 0 0 * * *"}, "parameters": {"delete_untagged": True, "workers": 1}}
    assert harbor.call("POST", "/system/gc/schedule", auth=ADMIN, json=body).status_code == 201
    assert harbor.call("POST", "/system/gc/schedule", auth=ADMIN, json=body).status_code == 201  # replaced
    schedule = harbor.call("GET", "/system/gc/schedule", auth=ADMIN).json()
    assert_matches("GCHistory", schedule)
    assert schedule["schedule"] == {"type": "Daily", "cron": "0 0 0 * * *"}
    assert json.loads(schedule["job_parameters"]) == {"delete_untagged": True, "workers": 1}
    custom = {"schedule": {"type": "Custom", "cron": "0 30 2 * * 6"}}
    assert harbor.call("PUT", "/system/gc/schedule", auth=ADMIN, json=custom).status_code == 200
    assert harbor.call("GET", "/system/gc/schedule", auth=ADMIN).json()["schedule"]["cron"] == "0 30 2 * * 6"
    make_user(harbor, "alice")
    assert harbor.call("GET", "/system/gc/schedule", auth=("alice", "Secret123")).status_code == 403
    assert harbor.call("PUT", "/system/gc/schedule", json=custom).status_code == 401
    harbor.call("PUT", "/system/gc/schedule", auth=ADMIN, json={"schedule": {"type": "None"}})
    assert harbor.call("GET", "/system/gc/schedule", auth=ADMIN).content == b""


@pytest.mark.parametrize(
    "schedule, parameters, message",
    [
        # gc.go validates the cron of every scheduled type: the type never implies one.
        ({"type": "Weekly"}, {}, "empty cron string is invalid"),
        ({"type": "Hourly", "cron": ""}, {}, "empty cron string is invalid"),
        ({"type": "Custom", "cron": "* * *"}, {}, "expected exactly 6 fields, found 3"),
        (
            {"type": "Daily", "cron": "5 0 0 * * *"},
            {},
            "the 1st field (indicating Seconds of time) of the cron setting must be 0",
        ),
        (
            {"type": "Daily", "cron": "0 0 0 * * *"},
            {"workers": 6},
            "Workers must be greater than 0 and less than or equal to 5",
        ),
        ({"type": "Daily", "cron": "0 0 0 * * *"}, {"workers": "2"}, "workers should be integer format"),
    ],
)
def test_gc_schedules_are_refused_like_real(harbor, schedule, parameters, message):
    answer = harbor.call(
        "PUT", "/system/gc/schedule", auth=ADMIN, json={"schedule": schedule, "parameters": parameters}
    )
    assert answer.status_code == 400
    assert message in answer.json()["errors"][0]["message"]
    assert harbor.call("GET", "/system/gc/schedule", auth=ADMIN).content == b""


def test_token_is_an_rs256_jwt_distribution_accepts(harbor):
    response = token(harbor, ADMIN, "repository:library/busybox:push,pull")
    assert response.status_code == 200
    payload = response.json()
    assert payload["expires_in"] == 1800
    key = serialization.load_pem_private_key(harbor.settings.token_key_path.read_bytes(), password=None)
    header, claims = decode_jwt(payload["token"], key.public_key())
    assert header["alg"] == "RS256"
    assert KID.match(header["kid"])
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert header["kid"].replace(":", "") == base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    assert (claims["iss"], claims["aud"], claims["sub"]) == ("harbor-token-issuer", "harbor-registry", "admin")
    assert claims["nbf"] <= claims["iat"] < claims["exp"] == claims["iat"] + 1800
    assert claims["jti"]
    assert claims["access"] == [{"type": "repository", "name": "library/busybox", "actions": ["push", "pull"]}]


def test_docker_login_token_without_scope(harbor):
    response = harbor.call(
        "GET",
        "/service/token",
        auth=ADMIN,
        params={"account": "admin", "client_id": "docker", "offline_token": "true", "service": "harbor-registry"},
    )
    assert response.status_code == 200
    assert response.json()["token"].count(".") == 2
    assert token(harbor, ("admin", "bad")).status_code == 401
    assert token(harbor, ADMIN, service="other").status_code == 400


def test_token_access_follows_permissions(harbor):
    make_user(harbor, "alice")
    make_user(harbor, "bob")
    alice, bob = ("alice", "Secret123"), ("bob", "Secret123")
    make_project(harbor, alice, "apps")
    assert granted(harbor, None, "repository:library/busybox:pull,push") == {"pull"}
    assert granted(harbor, None, "repository:apps/web:pull") == set()
    assert granted(harbor, alice, "repository:apps/web:pull,push") == {"pull", "push"}
    assert granted(harbor, bob, "repository:apps/web:pull,push") == set()
    assert granted(harbor, bob, "repository:library/busybox:pull,push") == {"pull"}
    assert granted(harbor, ADMIN, "repository:apps/web:pull,push,delete") == {"pull", "push", "delete"}
    assert granted(harbor, ADMIN, "repository:missing/web:pull") == set()
    assert granted(harbor, ADMIN, "registry:catalog:*") == {"*"}
    assert granted(harbor, alice, "registry:catalog:*") == set()


def test_a_project_robot_is_limited_to_its_project_and_actions(harbor):
    make_project(harbor, ADMIN, "apps")
    make_project(harbor, ADMIN, "other")
    pull_only = make_robot(harbor, "apps", name="reader", actions=("pull",))
    robot = (pull_only["name"], pull_only["secret"])
    assert granted(harbor, robot, "repository:apps/web:pull,push") == {"pull"}
    assert granted(harbor, robot, "repository:other/web:pull,push") == set()
    pusher = make_robot(harbor, "apps", name="ci")
    response = token(harbor, (pusher["name"], pusher["secret"]), "repository:apps/web:push,pull")
    key = serialization.load_pem_private_key(harbor.settings.token_key_path.read_bytes(), password=None)
    _, claims = decode_jwt(response.json()["token"], key.public_key())
    assert claims["sub"] == "robot$apps+ci"
    assert set(claims["access"][0]["actions"]) == {"push", "pull"}


def test_a_missing_token_key_is_a_500_with_errors_body(harbor):
    harbor.settings.token_key_path.unlink()
    response = token(harbor, ADMIN, "repository:library/x:pull")
    assert response.status_code == 500
    assert_matches("Errors", response.json())


def test_an_admin_deletes_users_but_not_themselves_and_memberships_go_with_them(harbor):
    user_id = make_user(harbor, "alice")
    make_project(harbor, ADMIN, "apps")
    member = {"role_id": 2, "member_user": {"username": "alice"}}
    assert harbor.call("POST", "/projects/apps/members", auth=ADMIN, json=member).status_code == 201
    assert harbor.call("DELETE", f"/users/{user_id}", auth=("alice", "Secret123")).status_code == 403
    assert harbor.call("DELETE", "/users/1", auth=ADMIN).status_code == 403
    assert harbor.call("DELETE", f"/users/{user_id}", auth=ADMIN).status_code == 200
    assert harbor.call("DELETE", f"/users/{user_id}", auth=ADMIN).status_code == 404
    assert [u["username"] for u in harbor.call("GET", "/users", auth=ADMIN).json()] == ["admin"]
    members = harbor.call("GET", "/projects/apps/members", auth=ADMIN).json()
    assert [m["entity_name"] for m in members] == ["admin"]


def store_image(v2, repository, tags):
    """A pushed image as distribution lays it out on disk; returns its manifest digest."""

    def blob(data):
        hex_digest = hashlib.sha256(data).hexdigest()
        path = v2 / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return f"sha256:{hex_digest}"

    config, layer = b'{"architecture":"amd64"}', b"layer"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": blob(config),
            },
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": len(layer), "digest": blob(layer)}
            ],
        }
    ).encode()
    digest = blob(manifest)
    manifests = v2 / "repositories" / repository / "_manifests"
    (manifests / "revisions" / "sha256" / digest[7:]).mkdir(parents=True)
    (manifests / "revisions" / "sha256" / digest[7:] / "link").write_text(digest)
    for tag in tags:
        (manifests / "tags" / tag / "current").mkdir(parents=True)
        (manifests / "tags" / tag / "current" / "link").write_text(digest)
    return digest, len(manifest) + len(config) + len(layer)


def test_repositories_and_artifacts_with_tags_are_read_from_the_registry_storage(harbor):
    make_project(harbor, ADMIN, "apps")
    v2 = harbor.settings.data_dir / "registry/docker/registry/v2"
    digest, size = store_image(v2, "apps/web", ["20260101120000", "latest"])

    repositories = harbor.call("GET", "/projects/apps/repositories", auth=ADMIN)
    assert repositories.headers["X-Total-Count"] == "1"
    assert_list_of("Repository", repositories.json())
    assert [(r["name"], r["artifact_count"]) for r in repositories.json()] == [("apps/web", 1)]
    artifacts = harbor.call("GET", "/projects/apps/repositories/web/artifacts", auth=ADMIN, params={"with_tag": "true"})
    assert_list_of("Artifact", artifacts.json())
    [artifact] = artifacts.json()
    assert (artifact["digest"], artifact["size"], artifact["repository_name"]) == (digest, size, "apps/web")
    assert sorted(tag["name"] for tag in artifact["tags"]) == ["20260101120000", "latest"]
    assert {tag["artifact_id"] for tag in artifact["tags"]} == {artifact["id"]}
    assert harbor.call("GET", "/projects/apps/repositories/nope/artifacts", auth=ADMIN).status_code == 404
    assert harbor.call("GET", "/projects/apps/repositories/web/artifacts").status_code == 401


# --- Harbor v2.13.1's API contract (issue: configuration as code against a real Harbor) ---


@pytest.mark.parametrize(
    "method, path, accept, status",
    [
        ("GET", "/ping", "application/json", 422),  # /ping produces only text/plain
        ("GET", "/ping", "text/plain", 200),
        ("GET", "/ping", None, 200),  # no Accept: the first offer
        ("GET", "/ping", "*/*", 200),
        ("GET", "/ping", "text/*", 200),
        ("GET", "/users/current", "text/plain", 422),
        ("GET", "/users/current", "application/json", 200),
        ("GET", "/systeminfo/getcert", "application/json", 422),
    ],
)
def test_accept_must_match_what_the_operation_produces(harbor, method, path, accept, status):
    headers = {} if accept is None else {"Accept": accept}
    answer = harbor.call(method, path, auth=ADMIN, headers=headers)
    assert answer.status_code == status, answer.text
    if status == 422:
        error = answer.json()["errors"][0]
        assert error["code"] == "UNPROCESSABLE_ENTITY"
        assert "unsupported media type requested, only [" in error["message"]


def test_a_request_with_a_json_body_falls_back_to_its_own_content_type(harbor):
    # go-openapi: the request's content type is the default offer when Accept matches nothing.
    answer = harbor.call(
        "POST", "/projects", auth=ADMIN, headers={"Accept": "text/plain"}, json={"project_name": "apps"}
    )
    assert answer.status_code == 201


def test_empty_and_false_fields_are_left_out_of_answers(harbor):
    make_project(harbor, ADMIN, "apps")
    robot = make_robot(harbor, "apps")
    fetched = harbor.call("GET", f"/robots/{robot['id']}", auth=ADMIN).json()
    assert "description" not in fetched  # "" is omitted
    assert fetched["disable"] is False and fetched["editable"] is True  # x-omitempty: false
    project = harbor.call("GET", "/projects/apps", auth=ADMIN).json()
    assert "registry_id" not in project and "deleted" not in project and "togglable" not in project
    assert project["repo_count"] == 0  # x-omitempty: false
    assert "creation_time" in project  # date-time: never omitted


def test_users_need_email_and_realname_and_a_profile_update_replaces_all_three(harbor):
    base = {"username": "carol", "password": "Secret123", "email": "carol@example.com", "realname": "Carol"}
    for field, value, message in (
        ("email", "", "email can't be empty"),
        ("email", "not-an-email", "email with illegal format"),
        ("realname", "", "realname with illegal length"),
        ("realname", "Carol #1", "realname contains illegal characters"),
        ("comment", "x" * 31, "comment with illegal length"),
        ("username", "carol,x", "username contains illegal characters"),
        ("password", "weak", "the password or secret must be 8-128"),
    ):
        answer = harbor.call("POST", "/users", auth=ADMIN, json={**base, field: value})
        assert answer.status_code == 400 and message in answer.json()["errors"][0]["message"], field
    user_id = int(
        harbor.call("POST", "/users", auth=ADMIN, json={**base, "comment": "ops"}).headers["Location"].rsplit("/", 1)[1]
    )
    partial = harbor.call("PUT", f"/users/{user_id}", auth=ADMIN, json={"realname": "Carol C"})
    assert partial.status_code == 400  # email left out is empty: refused
    assert (
        harbor.call(
            "PUT", f"/users/{user_id}", auth=ADMIN, json={"email": "carol@example.com", "realname": "Carol C"}
        ).status_code
        == 200
    )
    user = harbor.call("GET", f"/users/{user_id}", auth=ADMIN).json()
    assert user["realname"] == "Carol C" and "comment" not in user  # the comment left out was blanked


def test_an_admin_sets_another_users_password_without_the_old_one(harbor):
    user_id = make_user(harbor, "dave")
    assert (
        harbor.call("PUT", f"/users/{user_id}/password", auth=ADMIN, json={"new_password": "Secret123"}).json()[
            "errors"
        ][0]["message"]
        == "New password is identical to old password"
    )
    assert (
        harbor.call("PUT", f"/users/{user_id}/password", auth=ADMIN, json={"new_password": "Other1234"}).status_code
        == 200
    )
    assert harbor.call("GET", "/users/current", auth=("dave", "Other1234")).status_code == 200


def test_robot_names_carry_the_configured_prefix_and_updates_need_the_full_name(harbor):
    make_project(harbor, ADMIN, "apps")
    robot = make_robot(harbor, "apps")
    body = harbor.call("GET", f"/robots/{robot['id']}", auth=ADMIN).json()
    short = {**body, "name": "apps+ci", "description": "builds"}
    answer = harbor.call("PUT", f"/robots/{robot['id']}", auth=ADMIN, json=short)
    assert (answer.status_code, answer.json()["errors"][0]["message"]) == (
        400,
        "cannot update the level or name of robot",
    )
    assert (
        harbor.call("PUT", f"/robots/{robot['id']}", auth=ADMIN, json={**body, "description": "builds"}).status_code
        == 200
    )
    assert harbor.call("PUT", "/configurations", auth=ADMIN, json={"robot_name_prefix": "bot_"}).status_code == 200
    assert harbor.call("GET", "/configurations", auth=ADMIN).json()["robot_name_prefix"]["value"] == "bot_"
    renamed = harbor.call("GET", f"/robots/{robot['id']}", auth=ADMIN).json()
    assert renamed["name"] == "bot_apps+ci" and renamed["description"] == "builds"
    assert harbor.call("GET", "/projects/apps", auth=("bot_apps+ci", robot["secret"])).status_code == 200
    assert harbor.call("GET", "/projects/apps", auth=(robot["name"], robot["secret"])).status_code == 401


def test_robot_disable_and_secret_are_ignored_on_create_and_a_chosen_secret_is_not_echoed(harbor):
    make_project(harbor, ADMIN, "apps")
    body = {
        "name": "ci",
        "level": "project",
        "duration": -1,
        "disable": True,
        "secret": "Chosen1234",
        "permissions": [
            {"kind": "project", "namespace": "apps", "access": [{"resource": "repository", "action": "pull"}]}
        ],
    }
    created = harbor.call("POST", "/robots", auth=ADMIN, json=body).json()
    assert created["secret"] != "Chosen1234"
    assert harbor.call("GET", f"/robots/{created['id']}", auth=ADMIN).json()["disable"] is False
    chosen = harbor.call("PATCH", f"/robots/{created['id']}", auth=ADMIN, json={"secret": "Chosen1234"})
    assert (chosen.status_code, chosen.json()) == (200, {})
    generated = harbor.call("PATCH", f"/robots/{created['id']}", auth=ADMIN, json={}).json()
    assert len(generated["secret"]) >= 8
    assert harbor.call("POST", "/robots", auth=ADMIN, json={**body, "name": "x", "duration": None}).status_code == 400


def test_a_storage_limit_of_0_is_the_default_on_create_and_refused_on_update(harbor):
    harbor.call("POST", "/projects", auth=ADMIN, json={"project_name": "apps", "storage_limit": 0})
    project_id = harbor.call("GET", "/projects/apps", auth=ADMIN).json()["project_id"]
    quota = harbor.call(
        "GET", "/quotas", auth=ADMIN, params={"reference": "project", "reference_id": project_id}
    ).json()[0]
    assert quota["hard"]["storage"] == -1
    refused = harbor.call("PUT", f"/quotas/{quota['id']}", auth=ADMIN, json={"hard": {"storage": 0}})
    assert (refused.status_code, refused.json()["errors"][0]["message"]) == (400, "invalid value for resource storage")


@pytest.fixture
def upstream():
    registry = UpstreamRegistry()
    yield registry
    registry.stop()


def test_registries_are_health_checked_on_create_and_on_every_update(harbor, upstream):
    hub = harbor.call(
        "POST", "/registries", auth=ADMIN, json={"name": "hub", "type": "docker-hub", "url": "https://hub.docker.com"}
    )
    assert (hub.status_code, hub.json()["errors"][0]["message"]) == (400, "the registry is unhealthy")
    gone = harbor.call(
        "POST",
        "/registries",
        auth=ADMIN,
        json={"name": "gone", "type": "docker-registry", "url": f"http://127.0.0.1:{closed_port()}"},
    )
    assert gone.status_code == 400
    body = {
        "name": "up",
        "type": "harbor",
        "url": upstream.url + "/",
        "credential": {"type": "basic", "access_key": "puller", "access_secret": "Pull3rSecret"},
    }
    created = harbor.call("POST", "/registries", auth=ADMIN, json=body)
    assert created.status_code == 201, created.text
    registry_id = int(created.headers["Location"].rsplit("/", 1)[1])
    shown = harbor.call("GET", f"/registries/{registry_id}", auth=ADMIN).json()
    assert shown["url"] == upstream.url and shown["credential"]["access_secret"] == "*****"
    assert "insecure" not in shown and "description" not in shown  # false and "" are omitted
    # An update without the secret keeps the stored one (checked: the health check uses it).
    assert (
        harbor.call("PUT", f"/registries/{registry_id}", auth=ADMIN, json={"description": "mirror"}).status_code == 200
    )
    blanked = harbor.call(
        "PUT", f"/registries/{registry_id}", auth=ADMIN, json={"access_key": "puller", "access_secret": ""}
    )
    assert (blanked.status_code, blanked.json()["errors"][0]["message"]) == (400, "the registry is unhealthy")
