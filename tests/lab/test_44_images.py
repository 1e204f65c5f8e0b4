"""How images move, by the configure deploy on the lab's Harbor (``harbor_server``,
harbor-1) and a second Harbor (``second_harbor``, bare-1, installed for
test_24_values.py and shared):

- every kind from nothing (immutable tag rules, a webhook with an auth header from the
  secrets dir, retention with excludes and a disabled rule, a registry endpoint of the
  second Harbor, replication policies, the default scanner, the scan-all schedule), a
  re-run that sends no write request (Harbor's request log), one changed field of
  each kind that is one write;
- a push from a lab client fires the webhook (delivered over HTTP to a receiver on
  Harbor's network) whose payload names the artifact and carries the header, and
  replicates to the second Harbor by event; a policy run after its change copies by
  hand: what is pulled there has the digest pushed; an immutable tag can't be pushed
  over;
- a registry secret rotated on the second Harbor: the next replication fails with the
  stale one, the next configure run sends the new one (one write), the one after it
  replicates again;
- a project holding images is not deleted (refused while planning, naming the count)
  unless ``purge: true``;
- an offline Trivy database placed on the second Harbor by the server deploy, owned by
  the scanner (uid 10000), read by its adapter, its age in the status report; the
  re-run sends nothing.

Expected lane: "hosts" (after test_24_values.py, whose Harbor on bare-1 it reuses;
harbor-1 is installed here, as test_95_bench.py needed anyway).
"""

import io
import json
import re
import secrets
import tarfile
import time

import pytest

from harbor_deploy.lib.harbor_api.client import HarborClient
from tests.conftest import ROOT
from tests.lab.conftest import (
    SECOND_ADMIN_PASSWORD,
    api_changes,
    changed_count,
    client_data,
    configure,
    deploy_bare_server,
    docker_exec,
    host_exec,
    request_log_mark,
    run_pyinfra,
    writes_between,
)

PROJECT = "imgs"
HEADER = "Bearer lab-hook-" + secrets.token_hex(8)
RECEIVER = "webhook-receiver"
# A receiver on Harbor's compose network, printing each POST as one JSON line.
RECEIVER_SCRIPT = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print(json.dumps({"path": self.path, "authorization": self.headers.get("Authorization"),
                          "payload": json.loads(body)}), flush=True)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
HTTPServer(("0.0.0.0", 9099), H).serve_forever()
"""


def configure_images(*flags, check=True, **data):
    """configure on harbor-1 with this test's keys alone (not the lab inventory's demo
    project and robot)."""
    return configure(*flags, check=check, **{"harbor_projects": [], "harbor_robots": [], **data})


def project(**fields):
    return {
        "name": PROJECT,
        "immutable_tags": [{"tags": "v*"}],
        "retention": {
            "schedule": "Daily",
            "rules": [
                {"template": "latestPushedK", "count": 10, "exclude_tags": "keep-*"},
                {"template": "always", "repositories": "scratch/**", "disabled": True},
            ],
        },
        "webhooks": [
            {
                "name": "ci",
                "url": f"http://{RECEIVER}:9099/hook",
                "events": ["PUSH_ARTIFACT"],
                "auth_header": True,
            }
        ],
        **fields,
    }


def keys(images, **changes):
    """The configure keys of this test, with ``changes`` over them."""
    data = {
        "harbor_registries": [
            # The second Harbor's certificate comes from a CA of its own: not verified.
            {"name": "second", "type": "harbor", "url": images["second"]["url"], "insecure": True,
             "access_key": "replicator"},
        ],
        "harbor_projects": [project()],
        "harbor_replication_policies": [
            {"name": "to-second", "push_to": "second", "repositories": f"{PROJECT}/**", "trigger": "event_based"}
        ],
        "harbor_default_scanner": "Trivy",
        "harbor_scan_all_schedule": {"schedule": "Daily"},
    }  # fmt: skip
    return {**data, **changes}


def push(images, reference, size=100000):
    """A new image pushed from the first client as ``reference``: the push's output."""
    tag = reference.rsplit("/", 1)[1].replace(":", "-")
    return docker_exec(
        images["client"],
        f"head -c {size} /dev/urandom > /tmp/{tag}.bin && tar -C /tmp -cf - {tag}.bin | docker import - {reference} "
        f">/dev/null && docker push {reference} 2>&1",
    )


def pushed_digest(pushed):
    """The digest a successful ``push`` printed."""
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    return next(word for word in pushed.stdout.split() if word.startswith("sha256:"))


def executions(images, policy):
    client = images["admin"]()
    [found] = [item for item in client.list("/replication/policies", "policies") if item["name"] == policy]
    return client.get("/replication/executions", "executions", params={"policy_id": found["id"]}) or []


def finished(images, policy, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = executions(images, policy)
        if len(found) >= count and found[0]["status"] != "InProgress":
            return found[0]
        time.sleep(2)
    raise AssertionError(f"no finished execution {count} of {policy}: {executions(images, policy)}")


def digest_on_second(images, repository, tag):
    """The digest bare-1's docker pulls from its own Harbor (the replicator's login)."""
    second = images["second"]
    reference = f"{second['address']}:8443/{repository}:{tag}"
    host_exec(second["container"], f"docker rmi -f {reference} >/dev/null 2>&1; docker pull -q {reference} >/dev/null")
    digests = json.loads(
        host_exec(second["container"], f"docker image inspect --format '{{{{json .RepoDigests}}}}' {reference}")
    )
    return next(item.split("@", 1)[1] for item in digests if item.startswith(reference.rsplit(":", 1)[0] + "@"))


def set_replicator_password(images, password):
    second = images["second_admin"]
    [user] = [u for u in second.list("/users", "users") if u["username"] == "replicator"]
    second.put(f"/users/{user['user_id']}/password", "replicator's password", {"new_password": password})


@pytest.fixture(scope="module")
def images(lab, harbor_server, second_harbor):
    """harbor-1 without this test's resources (nor a scan-all schedule), the second Harbor with a replicator user
    (an admin of it), the replicator's password and the webhook's header in harbor-1's
    secrets dir, the first client trusting and logged in to harbor-1, a receiver on
    harbor-1's compose network."""
    # Policies go before their endpoint: Harbor keeps an endpoint a policy uses (412).
    # The scan-all schedule is Harbor-wide: an earlier session's stays unless removed.
    configure_images(
        harbor_projects=[{"name": PROJECT, "state": "absent", "purge": True}],
        harbor_replication_policies=[{"name": name, "state": "absent"} for name in ("to-second", "by-hand")],
        harbor_scan_all_schedule={"schedule": "None"},
    )
    configure_images(harbor_registries=[{"name": "second", "state": "absent"}])
    second_admin = HarborClient(
        second_harbor["url"], "admin", SECOND_ADMIN_PASSWORD, verify=str(second_harbor["secrets"] / "ca.crt")
    )
    password = "Repl1" + secrets.token_hex(8)
    found = {"second": second_harbor, "second_admin": second_admin, "admin": harbor_server["admin"]}
    if any(u["username"] == "replicator" for u in second_admin.list("/users", "users")):
        set_replicator_password(found, password)
    else:
        second_admin.post("/users", "replicator", {"username": "replicator", "email": "replicator@lab.internal",
                                                   "realname": "replicator", "password": password})  # fmt: skip
        [user] = [u for u in second_admin.list("/users", "users") if u["username"] == "replicator"]
        second_admin.put(f"/users/{user['user_id']}/sysadmin", "replicator", {"sysadmin_flag": True})
    instance = harbor_server["secrets_dir"] / harbor_server["hostname"]
    (instance / "registries").mkdir(exist_ok=True)
    for name, value in (("registries/second", password), (f"webhooks/{PROJECT}+ci", HEADER)):
        (instance / name).parent.mkdir(exist_ok=True)
        (instance / name).write_text(value)
        (instance / name).chmod(0o600)
    # bare-1's docker trusts its own Harbor and logs in as the replicator.
    ca = (second_harbor["secrets"] / "ca.crt").read_text()
    certs = f"/etc/docker/certs.d/{second_harbor['address']}:8443"
    docker_exec(second_harbor["container"], f"mkdir -p {certs} && cat > {certs}/ca.crt", stdin=ca)
    login = docker_exec(
        second_harbor["container"],
        f"docker login -u replicator --password-stdin {second_harbor['address']}:8443",
        stdin=password,
    )
    assert login.returncode == 0, login.stderr
    client = next(h for h in lab["hosts"] if h["group"] == "docker_clients")
    args = [a for key, value in client_data(harbor_server).items() for a in ("--data", f"{key}={json.dumps(value)}")]
    env = {"HARBOR_CLIENT_PASSWORD": harbor_server["admin_password"]().reveal()}
    run_pyinfra("-y", "inventories/lab.py", "deploys/client.py", "--limit", client["name"], *args, env=env)
    core_image = host_exec(harbor_server["container"], "docker inspect -f '{{.Config.Image}}' harbor-core")
    host_exec(harbor_server["container"], f"docker rm -f {RECEIVER} >/dev/null 2>&1; true")
    docker_exec(
        harbor_server["container"],
        f"docker run -d --name {RECEIVER} --network harbor_harbor --no-healthcheck --entrypoint python3 "
        f'{core_image} -u -c "$(cat)"',
        stdin=RECEIVER_SCRIPT,
    )
    yield {
        **found,
        "password": password,
        "instance": instance,
        "client": client["container"],
        "registry": harbor_server["registry"],
        "harbor": {"container": harbor_server["container"], "anonymous": HarborClient(
            f"https://{harbor_server['address']}:8443", verify=str(instance / "ca.crt"))},
        "server": harbor_server,
    }  # fmt: skip
    # Nothing of this test replicates what later tests push.
    configure_images(harbor_replication_policies=[{"name": n, "state": "absent"} for n in ("to-second", "by-hand")])
    host_exec(harbor_server["container"], f"docker rm -f {RECEIVER} >/dev/null 2>&1; true")


def received(images):
    """The receiver's POSTs so far."""
    logs = host_exec(images["harbor"]["container"], f"docker logs {RECEIVER} 2>/dev/null")
    return [json.loads(line) for line in logs.splitlines() if line.startswith("{")]


def test_each_kind_from_nothing_then_no_write_then_one_write_per_changed_field(images):
    first = configure_images(**keys(images))
    assert sorted(api_changes(first)) == sorted(
        [
            "create registry second",
            f"create project {PROJECT}",
            f"create retention {PROJECT}",
            f"create immutable rule {PROJECT} (tags v*)",
            f"create webhook {PROJECT}/ci",
            "create replication policy to-second",
            "create scan all schedule",
        ]
    ), first.stderr
    assert HEADER not in first.stdout + first.stderr and images["password"] not in first.stdout + first.stderr

    start = request_log_mark(images["harbor"])
    assert changed_count(configure_images(**keys(images))) == 0
    assert writes_between(images["harbor"], start, request_log_mark(images["harbor"])) == []

    changed = keys(
        images,
        harbor_projects=[project(immutable_tags=[{"tags": "v*", "disabled": True}])],
        harbor_replication_policies=[{**keys(images)["harbor_replication_policies"][0], "override": False}],
        harbor_scan_all_schedule={"schedule": "Weekly"},
    )
    start = request_log_mark(images["harbor"])
    again = configure_images(**changed)
    assert sorted(api_changes(again)) == sorted(
        [
            f"update immutable rule {PROJECT} (tags v*) (disabled: False -> True)",
            "update replication policy to-second (override: True -> False)",
            "update scan all schedule (schedule: 'Daily 0 0 0 * * *' -> 'Weekly 0 0 0 * * 0')",
        ]
    ), again.stderr
    assert len(writes_between(images["harbor"], start, request_log_mark(images["harbor"]))) == 3
    configure_images(**keys(images))  # back as the other tests want it


def test_a_push_fires_the_webhook_with_its_header_and_replicates_by_event(images):
    reference = f"{images['registry']}/{PROJECT}/app:1.0"
    digest = pushed_digest(push(images, reference))
    execution = finished(images, "to-second", 1)
    assert (execution["status"], execution["trigger"]) == ("Succeed", "event_based"), execution
    assert digest_on_second(images, f"{PROJECT}/app", "1.0") == digest
    deadline = time.monotonic() + 60
    while not (hooks := [h for h in received(images) if h["payload"]["event_data"]["resources"][0]["tag"] == "1.0"]):
        assert time.monotonic() < deadline, "no webhook call arrived"
        time.sleep(1)
    [hook] = hooks
    assert hook["path"] == "/hook" and hook["authorization"] == HEADER
    assert hook["payload"]["type"] == "PUSH_ARTIFACT"
    assert hook["payload"]["event_data"]["resources"][0] == {
        "digest": digest,
        "tag": "1.0",
        "resource_url": f"{images['registry']}/{PROJECT}/app:1.0",
    }


def test_an_immutable_tag_cannot_be_pushed_over(images):
    reference = f"{images['registry']}/{PROJECT}/app:v1"
    first = push(images, reference)
    assert first.returncode == 0, first.stdout
    again = push(images, reference)
    assert again.returncode != 0 and "configured as immutable" in again.stdout, again.stdout


def test_a_policy_run_after_its_change_copies_by_hand_with_the_same_digest(images):
    digest = pushed_digest(push(images, f"{images['registry']}/{PROJECT}/tools/cli:2.0"))
    by_hand = {
        "name": "by-hand",
        "push_to": "second",
        "repositories": f"{PROJECT}/**",
        "tags": "2.*",
        "dest_namespace": "mirror",
        "flatten": 1,
        "run_after_change": True,
    }
    policies = [*keys(images)["harbor_replication_policies"], by_hand]
    run = configure_images(**keys(images, harbor_replication_policies=policies))
    assert api_changes(run) == ["create replication policy by-hand", "run replication policy by-hand"]
    execution = finished(images, "by-hand", 1)
    assert (execution["status"], execution["trigger"]) == ("Succeed", "manual"), execution
    assert digest_on_second(images, "mirror/tools/cli", "2.0") == digest
    assert changed_count(configure_images(**keys(images, harbor_replication_policies=policies))) == 0


def test_a_rotated_registry_secret_reaches_harbor_on_the_next_run(images):
    policies = [{"name": "by-hand", "push_to": "second", "repositories": f"{PROJECT}/**", "tags": "2.*",
                 "dest_namespace": "mirror", "flatten": 1}]  # fmt: skip
    rotated = "Rotat3d" + secrets.token_hex(8)
    set_replicator_password(images, rotated)
    admin = images["admin"]()
    [policy] = [p for p in admin.list("/replication/policies", "policies") if p["name"] == "by-hand"]
    admin.post("/replication/executions", "a run", {"policy_id": policy["id"]})
    assert finished(images, "by-hand", 2)["status"] == "Failed"  # Harbor still has the old secret
    (images["instance"] / "registries" / "second").write_text(rotated)
    run = configure_images(
        **keys(images, harbor_replication_policies=[*keys(images)["harbor_replication_policies"], *policies])
    )
    assert api_changes(run) == ["update registry second (access_secret: *****)"]
    assert rotated not in run.stdout + run.stderr
    admin.post("/replication/executions", "a run", {"policy_id": policy["id"]})
    assert finished(images, "by-hand", 3)["status"] == "Succeed"


def test_a_project_holding_images_is_deleted_only_with_purge(images, harbor_server):
    refused = configure_images(harbor_projects=[{"name": PROJECT, "state": "absent"}], check=False)
    assert refused.returncode != 0
    assert f"project {PROJECT} holds 2 repositories" in refused.stdout + refused.stderr
    admin = harbor_server["admin"]()
    assert admin.get(f"/projects/{PROJECT}", PROJECT, headers={"X-Is-Resource-Name": "true"})["repo_count"] == 2
    purged = configure_images(harbor_projects=[{"name": PROJECT, "state": "absent", "purge": True}])
    assert api_changes(purged) == [f"delete project {PROJECT} (purge: 2 repositories first)"]
    assert admin.get_or_none(f"/projects/{PROJECT}", PROJECT, headers={"X-Is-Resource-Name": "true"}) is None


def trivy_bundle(path, updated_at):
    """A bundle laid out as trivy-db's (trivy.db, metadata.json), gzipped as oras pulls it."""
    metadata = json.dumps({"Version": 2, "NextUpdate": updated_at, "UpdatedAt": updated_at,
                           "DownloadedAt": updated_at}).encode()  # fmt: skip
    with tarfile.open(path, "w:gz") as bundle:
        for name, data in (("metadata.json", metadata), ("trivy.db", b"lab stand-in database")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return path


def test_an_offline_trivy_database_is_placed_for_the_scanner_and_sent_once(images, tmp_path):
    second = images["second"]
    updated_at = time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime(time.time() - 10 * 86400))
    bundle = trivy_bundle(tmp_path / "db.tar.gz", updated_at)
    data = [("harbor_trivy_offline_db", str(bundle))]
    placed = deploy_bare_server(second["place"], "-y", "--json", data=data)
    operations = [op["name"] for op in json.loads(placed.stdout)["results"]["operations"] if op["success"]]
    assert any("Trivy's db from db.tar.gz" in name for name in operations), operations
    owners = host_exec(
        second["container"], "stat -c '%u:%g %n' /data/trivy-adapter/trivy/db /data/trivy-adapter/trivy/db/*"
    )
    assert {line.split()[0] for line in owners.splitlines()} == {"10000:10000"}, owners
    assert changed_count(deploy_bare_server(second["place"], "-y", "--json", data=data)) == 0
    # The adapter reads it, with updates off as the deploy set them.
    admin = images["second_admin"]
    [trivy] = admin.get("/scanners", "scanners")
    properties = admin.get(f"/scanners/{trivy['uuid']}/metadata", "Trivy's metadata")["properties"]
    assert properties["harbor.scanner-adapter/vulnerability-database-updated-at"] == updated_at.split(".")[0] + "Z"
    assert properties["env.SCANNER_TRIVY_SKIP_UPDATE"] == "true"
    assert properties["env.SCANNER_TRIVY_OFFLINE_SCAN"] == "true"
    # The status report gives its age, with a warning past a week.
    status = run_pyinfra(
        "-y",
        str(second["place"] / "inventory.py"),
        str(ROOT / "deploys" / "status.py"),
        cwd=second["place"],
        check=False,
    )
    output = status.stdout + status.stderr
    report = json.loads(re.search(r"harbor-status \S+ (\{.*\})", output).group(1))
    assert report["trivy_databases"]["db"]["age_days"] >= 10
    assert "Trivy's db was built 10 days ago" in output
