"""The configure deploy against the lab's Harbor (session fixture ``harbor_server``),
then the Jenkins pipeline's shell part on a lab client:

- from scratch: the admin password rotated (the initial one refused afterwards),
  projects ``ci`` (private, quota, retention) and ``other``, user ``ci-dev``
  (developer of ci), project robot ``ci+jenkins``, a GC schedule; secrets 0600 in
  the secrets dir and in none of pyinfra's output at -vv; a re-run changes nothing;
  a quota change is exactly one update; a lost robot secret is refreshed on request;
- Jenkins: as OS user ``jenkins`` (docker group) on the last docker client, trusting
  Harbor through the client deploy, the rendered shell part run with ``sh -xe`` and
  the robot's credentials in the environment (as withCredentials sets them) pushes a
  timestamp tag and ``latest`` to ci, listed by the artifacts API, and is denied on
  ``other``.

Harbor keeps these resources afterwards. A later run first removes what an earlier
one left: ci's repositories from the registry storage (the stand-in has no
repository deletion), then the resources through the deploy's ``state: absent``.
"""

import json
import re
import subprocess
import uuid

import pytest
import requests

from examples.jenkinsfile import render_shell
from harbor_deploy.lib.config.secrets import (
    INITIAL_ADMIN_PASSWORD,
    MANAGED_ADMIN_PASSWORD,
    SecretStore,
    user_secret_name,
)
from harbor_deploy.lib.config.secrets import robot_secret_name as robot_file
from harbor_deploy.lib.harbor_api.client import HarborClient
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from harbor_deploy.lib.harbor_api.resources.robots import robot_spec, stored_name
from tests.lab.conftest import api_changes, changed_count, host_exec, run_pyinfra

IMAGE = "hd-ci-app"
WORKSPACE = "/home/jenkins/workspace"
ROBOT = {"name": "jenkins", "project": "ci"}


def robot_secret_name(robot):
    return robot_file(stored_name(robot_spec(robot)))


USER = {"username": "ci-dev", "email": "ci-dev@lab.internal", "realname": "CI developer"}
GC = {"schedule": "Weekly", "delete_untagged": True}
GIB = 1024**3


def projects(quota="1G"):
    return [
        {
            "name": "ci",
            "public": False,
            "storage_quota": quota,
            "members": [{"user": "ci-dev", "role": "developer"}],
            "retention": {"schedule": "Daily", "rules": [{"template": "latestPushedK", "count": 10}]},
        },
        {"name": "other", "public": False},
    ]


def configure(*flags, quota="1G", robot=ROBOT, **data):
    """deploys/configure.py on harbor-1 with this test's resources as --data (JSON)."""
    data = {
        "harbor_projects": projects(quota),
        "harbor_robots": [robot],
        "harbor_users": [USER],
        "harbor_gc_schedule": GC,
        **data,
    }
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={json.dumps(value)}")]
    return run_pyinfra(
        "-y", "--json", *flags, "inventories/lab.py", "deploys/configure.py", "--limit", "harbor-1", *args
    )


def output(run):
    return run.stdout + run.stderr


@pytest.fixture(scope="module")
def harbor(harbor_server):
    """The lab Harbor's API URL, TLS trust and secrets store of this test."""
    secrets = harbor_server["secrets_dir"] / harbor_server["hostname"]
    api = HarborClient(
        f"https://{harbor_server['address']}:{harbor_server['https_port']}", verify=str(secrets / "ca.crt")
    )
    return {**harbor_server, "api": api, "store": SecretStore(secrets), "secrets": secrets}


def admin(harbor):
    """An admin client with whichever admin password Harbor accepts (as the fixture does)."""
    return AdminAccess(harbor["api"], harbor["store"]).client()


def configure_secrets(harbor):
    """Every secret configure keeps for this test's resources, as found now."""
    names = (
        INITIAL_ADMIN_PASSWORD,
        MANAGED_ADMIN_PASSWORD,
        user_secret_name(USER["username"]),
        robot_secret_name(ROBOT),
    )
    return {
        name: harbor["store"].path(name).read_text().strip() for name in names if harbor["store"].path(name).is_file()
    }


def assert_no_secret(run, secrets):
    for name, value in secrets.items():
        assert value not in output(run), f"the secret {name} is in pyinfra's output"


@pytest.fixture(scope="module")
def scratch(harbor):
    """Harbor with its initial admin password and without this test's resources."""
    store, client = harbor["store"], admin(harbor)
    working, initial = client.session.auth.password, store.get(INITIAL_ADMIN_PASSWORD)
    if working.reveal() != initial.reveal():
        client.put(
            f"/users/{client.current_user()['user_id']}/password",
            "admin password",
            {"old_password": working.reveal(), "new_password": initial.reveal()},
        )
    for name in (MANAGED_ADMIN_PASSWORD, user_secret_name(USER["username"]), robot_secret_name(ROBOT)):
        store.path(name).unlink(missing_ok=True)
    if admin(harbor).get_or_none("/projects/ci", "project ci"):
        # Real Harbor deletes repositories through the API; the stand-in reads them from storage.
        host_exec(harbor["container"], "rm -rf /data/registry/docker/registry/v2/repositories/ci")
    absent = {"state": "absent"}
    configure(
        harbor_admin_password_rotate=False,
        harbor_projects=[{"name": "ci", **absent}, {"name": "other", **absent}],
        harbor_robots=[{**ROBOT, **absent}],
        harbor_users=[{**USER, **absent}],
        harbor_gc_schedule={"schedule": "None"},
    )
    client = admin(harbor)
    assert client.session.auth.password.reveal() == initial.reveal()
    for project in ("ci", "other"):
        assert client.get_or_none(f"/projects/{project}", project) is None
    assert not [user for user in client.list("/users", "users") if user["username"] == USER["username"]]
    return harbor


@pytest.fixture(scope="module")
def first_run(scratch):
    return configure("-vv")


def test_from_scratch_creates_everything_with_secrets_0600_and_out_of_the_output(scratch, first_run):
    assert changed_count(first_run) == 7, first_run.stderr  # admin, users, projects, members, robots, retention, gc
    assert sorted(api_changes(first_run)) == sorted(
        [
            "rotate admin password",
            "create user ci-dev",
            "create project ci",
            "create project other",
            "create member ci/ci-dev",
            "create robot ci+jenkins",
            "create retention ci",
            "create gc schedule",
        ]
    )
    secrets = configure_secrets(scratch)
    assert set(secrets) == {INITIAL_ADMIN_PASSWORD, MANAGED_ADMIN_PASSWORD, "users/ci-dev", "robots/ci+jenkins"}
    for name in secrets:
        assert oct(scratch["store"].path(name).stat().st_mode & 0o777) == "0o600", name
    assert oct(scratch["store"].path("robots/ci+jenkins").parent.stat().st_mode & 0o777) == "0o700"
    assert_no_secret(first_run, secrets)

    client = admin(scratch)
    ci = client.get("/projects/ci", "project ci")
    assert ci["metadata"]["public"] == "false"
    quota = client.get("/quotas", "quota", params={"reference": "project", "reference_id": ci["project_id"]})
    assert quota[0]["hard"]["storage"] == GIB
    assert client.get("/projects/other", "project other")["metadata"]["public"] == "false"
    robots = client.get("/robots", "robots", params={"q": f"Level=project,ProjectID={ci['project_id']}"})
    assert [robot["name"] for robot in robots] == ["robot$ci+jenkins"]
    assert client.with_credentials("ci-dev", secrets["users/ci-dev"]).authenticates()
    members = client.get("/projects/ci/members", "members", params={"entityname": "ci-dev"})
    assert [(m["entity_name"], m["role_id"]) for m in members if m["entity_name"] == "ci-dev"] == [("ci-dev", 2)]


def test_rerun_changes_nothing_and_a_quota_change_is_one_update(scratch, first_run):
    again = configure()
    assert changed_count(again) == 0, again.stderr

    bigger = configure(quota="2G")
    assert changed_count(bigger) == 1, bigger.stderr
    assert api_changes(bigger) == ["update project ci (storage_quota: 1073741824 -> 2147483648)"]
    ci = admin(scratch).get("/projects/ci", "project ci")
    quota = admin(scratch).get("/quotas", "quota", params={"reference": "project", "reference_id": ci["project_id"]})
    assert quota[0]["hard"]["storage"] == 2 * GIB
    assert changed_count(configure(quota="2G")) == 0


def test_admin_password_rotated_and_the_initial_one_refused(scratch, first_run):
    secrets = configure_secrets(scratch)
    url = f"{scratch['api'].base_url}/api/v2.0/users/current"
    verify = str(scratch["secrets"] / "ca.crt")
    assert secrets[MANAGED_ADMIN_PASSWORD] != secrets[INITIAL_ADMIN_PASSWORD]
    assert (
        requests.get(url, auth=("admin", secrets[INITIAL_ADMIN_PASSWORD]), verify=verify, timeout=30).status_code == 401
    )
    assert (
        requests.get(url, auth=("admin", secrets[MANAGED_ADMIN_PASSWORD]), verify=verify, timeout=30).json()["username"]
        == "admin"
    )
    # What the harbor_server fixture does in a later session finds the managed one.
    assert admin(scratch).session.auth.password.reveal() == secrets[MANAGED_ADMIN_PASSWORD]


def test_a_lost_robot_secret_is_refreshed_on_request_and_never_printed(scratch, first_run):
    store = scratch["store"]
    path = store.path(robot_secret_name(ROBOT))
    old = path.read_text().strip()
    path.unlink()

    kept = configure(quota="2G")
    assert changed_count(kept) == 0
    assert "robot ci+jenkins exists but its secret is not in the secrets dir" in kept.stderr
    assert not path.exists()

    refreshed = configure("-vv", quota="2G", robot={**ROBOT, "refresh": True})
    assert changed_count(refreshed) == 1, refreshed.stderr
    assert api_changes(refreshed) == ["refresh robot ci+jenkins (secret)"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    new = path.read_text().strip()
    assert new != old
    assert_no_secret(refreshed, {**configure_secrets(scratch), "old robot secret": old})
    robot = scratch["api"].with_credentials("robot$ci+jenkins", new)
    assert robot.get("/projects/ci", "project ci as the robot")["name"] == "ci"
    assert not scratch["api"].with_credentials("robot$ci+jenkins", old).authenticates()


# --- Jenkins ----------------------------------------------------------------------


def exec_in(container, command, stdin=None):
    return subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_as_jenkins(container, path, text):
    result = exec_in(container, f"cat > '{path}' && chown jenkins:jenkins '{path}'", stdin=text)
    assert result.returncode == 0, result.stderr


def run_as_jenkins(container, script, username, password):
    """``sh -xe <script>`` as jenkins in the workspace with the robot's credentials in
    HARBOR_USER/HARBOR_PASSWORD, read from stdin so no command line holds them."""
    command = (
        "IFS= read -r HARBOR_USER && IFS= read -r HARBOR_PASSWORD && export HARBOR_USER HARBOR_PASSWORD "
        f"&& cd {WORKSPACE} && exec runuser -u jenkins -- sh -xe {script}"
    )
    return exec_in(container, command, stdin=f"{username}\n{password}\n")


@pytest.fixture(scope="module")
def jenkins_agent(lab, scratch):
    """The last docker client as a Jenkins agent: user jenkins in the docker group, the
    registry trusted by the client deploy (no login), a workspace with a Dockerfile
    needing no pull; user, images and a certs.d entry the test added removed afterwards."""
    name, container = [(h["name"], h["container"]) for h in lab["hosts"] if h["group"] == "docker_clients"][-1]
    registry = scratch["registry"]
    certs_d = f"/etc/docker/certs.d/{registry}"
    had_ca = host_exec(container, f"test -e '{certs_d}/ca.crt' && echo yes", check=False) == "yes"
    data = {
        "harbor_hostname": scratch["hostname"],
        "harbor_https_port": scratch["https_port"],
        "harbor_http_port": scratch["http_port"],
        "harbor_secrets_dir": str(scratch["secrets_dir"]),
        "harbor_client_login_users": [],
    }
    trust = run_pyinfra(
        "-y",
        "--json",
        "inventories/lab.py",
        "deploys/client.py",
        "--limit",
        name,
        *[arg for key, value in data.items() for arg in ("--data", f"{key}={json.dumps(value)}")],
    )
    assert json.loads(trust.stdout)["results"]["totals"]["error"] == 0, trust.stderr
    host_exec(
        container,
        f"userdel -r jenkins 2>/dev/null; useradd -m -s /bin/sh -G docker jenkins "
        f"&& install -d -o jenkins -g jenkins {WORKSPACE}",
    )
    run_id = uuid.uuid4().hex
    write_as_jenkins(container, f"{WORKSPACE}/Dockerfile", "FROM scratch\nCOPY build.txt /build.txt\n")
    write_as_jenkins(container, f"{WORKSPACE}/build.txt", f"built by the lab test {run_id}\n")
    for project in ("ci", "other"):
        write_as_jenkins(container, f"{WORKSPACE}/push-{project}.sh", render_shell(registry, project, IMAGE))
    yield container
    host_exec(
        container,
        "docker image ls --format '{{.Repository}}:{{.Tag}}' "
        f"| grep '^{registry}/[a-z]*/{IMAGE}:' | xargs -r docker image rm --force >/dev/null",
        check=False,
    )
    host_exec(container, "userdel -r jenkins", check=False)
    if not had_ca:
        host_exec(container, f"rm -rf '{certs_d}'")


def test_jenkins_pushes_both_tags_as_the_robot_and_is_denied_on_another_project(scratch, first_run, jenkins_agent):
    container, registry = jenkins_agent, scratch["registry"]
    username = "robot$ci+jenkins"
    password = scratch["store"].path(robot_secret_name(ROBOT)).read_text().strip()

    pushed = run_as_jenkins(container, "push-ci.sh", username, password)

    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert password not in pushed.stdout + pushed.stderr
    match = re.search(
        rf"pushed {re.escape(registry)}/ci/{IMAGE}:(\d{{14}}) and {re.escape(registry)}/ci/{IMAGE}:latest",
        pushed.stdout,
    )
    assert match, pushed.stdout
    timestamp = match.group(1)
    # The login lived in a private DOCKER_CONFIG, removed on exit.
    assert host_exec(container, "test -e /home/jenkins/.docker/config.json && echo yes", check=False) == ""
    artifacts = admin(scratch).get(
        f"/projects/ci/repositories/{IMAGE}/artifacts", "artifacts of ci", params={"with_tag": "true"}
    )
    tags = {tag["name"]: artifact["digest"] for artifact in artifacts for tag in artifact["tags"]}
    assert set(tags) == {timestamp, "latest"}
    assert tags[timestamp] == tags["latest"]
    local = host_exec(
        container, f"docker image inspect --format '{{{{json .RepoDigests}}}}' {registry}/ci/{IMAGE}:latest"
    )
    assert f"{registry}/ci/{IMAGE}@{tags['latest']}" in json.loads(local)

    denied = run_as_jenkins(container, "push-other.sh", username, password)

    assert denied.returncode != 0
    assert "Login Succeeded" in denied.stdout + denied.stderr
    assert re.search(r"denied|unauthorized", denied.stderr), denied.stdout + denied.stderr
    assert "pushed " not in denied.stdout
    assert password not in denied.stdout + denied.stderr
    assert admin(scratch).get("/projects/other/repositories", "repositories of other") == []
