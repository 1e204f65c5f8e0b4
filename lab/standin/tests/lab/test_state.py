"""Where the stand-in Harbor keeps its state: a real PostgreSQL 15 and Redis, as in real
Harbor. Installed by hand on harbor-1 (http only, as an operator would from the
bundle): v2.11.2 fresh; data written through the API survives ``docker compose down``
and ``up -d``; PostgreSQL's files sit under ``<data_volume>/database``; an upgrade to
v2.13.1 whose schema migration fails (the lab's switch) leaves core refusing to start
with golang-migrate's dirty-database message until the database backup is restored.
(Core on a PostgreSQL and a Redis of other hosts, ``external_database`` and
``external_redis``, is what tests/lab/test_70_scale_out.py runs, through the deploy.)

harbor-1 is left as found.
"""

import json
import subprocess
import time

import pytest
import yaml

from lab.labctl import PREFIX
from tests.lab.conftest import docker_exec, fetch, host_exec, reset_harbor_server, wait_compose_healthy

SERVER = f"{PREFIX}-harbor-1"
OLD, NEW = "v2.11.2", "v2.13.1"
TEST_DIR = "/opt/standin-state"
DATA_DIR = f"{TEST_DIR}/data"
BACKUP = f"{TEST_DIR}/database-backup"
HTTP_PORT = 8081
API = f"http://127.0.0.1:{HTTP_PORT}/api/v2.0"
ADMIN_PASSWORD = "State-Admin-1"
DB_PASSWORD = "State-Db-1"
BUNDLED = {
    "harbor-log",
    "registry",
    "registryctl",
    "harbor-db",
    "harbor-core",
    "harbor-portal",
    "harbor-jobservice",
    "redis",
    "nginx",
}
HEALTH_TIMEOUT = 120


def on_server(command, check=True):
    return host_exec(SERVER, command, check=check)


def bundle_dir(version):
    return f"{TEST_DIR}/{version}/harbor"


def compose(version, command):
    result = docker_exec(SERVER, f"cd {bundle_dir(version)} && TERM=xterm {command} 2>&1")
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}"
    return result.stdout


def api(method, path, body=None, auth=("admin", ADMIN_PASSWORD)):
    """(status, parsed body) of an API call made on harbor-1; credentials via stdin."""
    config = f'user = "{auth[0]}:{auth[1]}"\n' if auth else ""
    data = "-H 'Content-Type: application/json' --data-binary @/tmp/standin-state-body " if body is not None else ""
    if body is not None:
        written = docker_exec(SERVER, "cat > /tmp/standin-state-body", json.dumps(body))
        assert written.returncode == 0
    result = docker_exec(
        SERVER,
        f"curl -sS -K - -o /tmp/standin-state-out -w '%{{http_code}}' -X {method} {data}'{API}{path}' "
        "&& echo && cat /tmp/standin-state-out",
        config,
    )
    assert result.returncode == 0, result.stderr
    status, _, text = result.stdout.partition("\n")
    return int(status), json.loads(text) if text.strip() else None


def psql(sql):
    return host_exec(SERVER, f'docker exec harbor-db psql -U postgres -d registry -tAc "{sql}"')


def harbor_yml(template, **extra):
    """The bundle's harbor.yml.tmpl made an http-only Harbor storing under DATA_DIR."""
    config = yaml.safe_load(template)
    del config["https"]
    config.update(
        {
            "hostname": "harbor.lab.internal",
            "http": {"port": HTTP_PORT},
            "harbor_admin_password": ADMIN_PASSWORD,
            "data_volume": DATA_DIR,
            **extra,
        }
    )
    config["database"]["password"] = DB_PASSWORD
    config["log"]["local"]["location"] = f"{TEST_DIR}/log"
    return yaml.safe_dump(config, sort_keys=False)


def write_harbor_yml(version, **extra):
    template = on_server(f"cat {bundle_dir(version)}/harbor.yml.tmpl")
    written = docker_exec(SERVER, f"cat > {bundle_dir(version)}/harbor.yml", harbor_yml(template, **extra))
    assert written.returncode == 0, written.stderr


def core_log():
    return on_server("docker logs harbor-core 2>&1", check=False)


def wait_for_core_log(text, timeout=60):
    deadline = time.monotonic() + timeout
    while text not in core_log():
        assert time.monotonic() < deadline, f"{text!r} not in harbor-core's log:\n{core_log()[-3000:]}"
        time.sleep(2)


def clean():
    if on_server(f"ls {TEST_DIR}/*/harbor/docker-compose.yml 2>/dev/null || true"):
        on_server(
            f"for d in {TEST_DIR}/*/harbor; do [ -f $d/docker-compose.yml ] && (cd $d && docker compose down -v); "
            "done; true"
        )
    on_server(f"rm -rf {TEST_DIR} /tmp/standin-state-*")


@pytest.fixture(scope="module")
def bundles(lab, tmp_path_factory):
    """harbor-1 bare, with both releases' offline bundles unpacked; cleaned at the end."""
    reset_harbor_server(SERVER)
    clean()
    place = tmp_path_factory.mktemp("standin-state")
    for version in (OLD, NEW):
        release = json.loads(fetch(f"{lab['mirror_url']}/repos/goharbor/harbor/releases/tags/{version}"))
        name = f"harbor-offline-installer-{version}.tgz"
        url = next(asset["browser_download_url"] for asset in release["assets"] if asset["name"] == name)
        (place / name).write_bytes(fetch(url))
        on_server(f"mkdir -p {TEST_DIR}/{version}")
        subprocess.run(["docker", "cp", str(place / name), f"{SERVER}:{TEST_DIR}/{version}/{name}"], check=True)
        on_server(f"tar -C {TEST_DIR}/{version} -xzf {TEST_DIR}/{version}/{name} && rm {TEST_DIR}/{version}/{name}")
    yield
    clean()
    reset_harbor_server(SERVER)


@pytest.fixture(scope="module")
def installed(bundles):
    write_harbor_yml(OLD)
    compose(OLD, "./install.sh")
    wait_compose_healthy(SERVER, BUNDLED, HEALTH_TIMEOUT)


def test_a_fresh_install_initialises_postgresql_under_the_data_volume(installed):
    # Harbor's harbor-db layout: <data_volume>/database/pg15, owned by its postgres user (999).
    assert on_server(f"cat {DATA_DIR}/database/pg15/PG_VERSION") == "15"
    assert on_server(f"stat -c '%u %a' {DATA_DIR}/database {DATA_DIR}/database/pg15").split() == ["999", "700"] * 2
    assert psql("SELECT version, dirty FROM schema_migrations") == "140|f"
    assert psql("SHOW lc_collate") == "en_US.UTF-8"
    # harbor.yml's database.password is PostgreSQL's, asked over the network as core asks.
    for password, answer in ((DB_PASSWORD, "1"), ("not-it", "")):
        login = docker_exec(
            SERVER,
            'docker exec -e PGPASSWORD="$(cat)" harbor-db sh -c '
            '\'psql -h "$(hostname -i)" -U postgres -d registry -tAc "SELECT 1"\' 2>&1',
            password,
        )
        assert login.stdout.strip() == answer or "password authentication failed" in login.stdout
    assert host_exec(SERVER, "docker exec redis redis-cli ping") == "PONG"


def test_data_written_through_the_api_survives_compose_down_and_up(installed):
    assert api("POST", "/projects", {"project_name": "state", "metadata": {"public": "false"}})[0] == 201
    user = {"username": "carol", "password": "Carol-pw-1", "email": "carol@example.org", "realname": "Carol"}
    assert api("POST", "/users", user)[0] == 201
    robot = {
        "name": "keeper",
        "level": "project",
        "duration": -1,
        "permissions": [
            {"kind": "project", "namespace": "state", "access": [{"resource": "repository", "action": "pull"}]}
        ],
    }
    status, created = api("POST", "/robots", robot)
    assert status == 201
    schedule = {"schedule": {"type": "Custom", "cron": "0 15 3 * * *"}}
    assert api("POST", "/system/gc/schedule", schedule)[0] == 201
    # The rows are PostgreSQL's.
    assert psql("SELECT name FROM project ORDER BY project_id") == "library\nstate"

    compose(OLD, "docker compose down")
    compose(OLD, "docker compose up -d")
    wait_compose_healthy(SERVER, BUNDLED, HEALTH_TIMEOUT)

    assert api("HEAD", "/projects?project_name=state")[0] == 200
    assert [u["username"] for u in api("GET", "/users")[1]] == ["admin", "carol"]
    assert api("GET", "/users/current", auth=("carol", "Carol-pw-1"))[0] == 200
    status, projects = api("GET", "/projects?name=state", auth=(created["name"], created["secret"]))
    assert status == 200 and [project["name"] for project in projects] == ["state"]
    assert api("GET", "/system/gc/schedule")[1]["schedule"]["cron"] == "0 15 3 * * *"


def test_core_reads_the_system_configuration_through_redis(installed):
    assert api("GET", "/configurations")[0] == 200
    assert host_exec(SERVER, "docker exec redis redis-cli EXISTS cache:cfgs") == "1"
    assert api("PUT", "/configurations", {"storage_per_project": 1073741824})[0] == 200
    # A change drops the cached copy; the next read fills it from PostgreSQL.
    assert host_exec(SERVER, "docker exec redis redis-cli EXISTS cache:cfgs") == "0"
    assert api("GET", "/configurations")[1]["storage_per_project"]["value"] == 1073741824
    assert json.loads(host_exec(SERVER, "docker exec redis redis-cli GET cache:cfgs")) == {
        "storage_per_project": 1073741824
    }


def test_a_failed_migration_stops_core_until_the_database_backup_is_restored(installed):
    # The documented upgrade: stop, back up the database, migrate harbor.yml, install.
    compose(OLD, "docker compose down")
    on_server(f"cp -a {DATA_DIR}/database {BACKUP}")
    on_server(f"cp {bundle_dir(OLD)}/harbor.yml {bundle_dir(NEW)}/harbor.yml")
    on_server(f"docker load -q -i {bundle_dir(NEW)}/harbor.{NEW}.tar.gz")
    migrated = on_server(f"docker run --rm -v /:/hostfs goharbor/prepare:{NEW} migrate -i {bundle_dir(NEW)}/harbor.yml")
    assert "Written new values" in migrated
    # The lab's test-only switch: 2.13's migration fails half-way.
    on_server(f"mkdir -p {DATA_DIR}/standin-test && echo 160 > {DATA_DIR}/standin-test/fail-migration")
    compose(NEW, "./install.sh")

    wait_for_core_log("Dirty database version 160. Fix and force version.")
    log = core_log()
    assert "migration failed: stand-in lab switch" in log  # the first start's own failure
    assert "[FATAL] [/core/main.go]: failed to migrate the database, error: Dirty database version 160." in log
    assert psql("SELECT version, dirty FROM schema_migrations") == "160|t"
    assert on_server("docker inspect -f '{{.State.Health.Status}}' harbor-core", check=False) != "healthy"

    # Without the switch it still refuses: a dirty database stays dirty.
    on_server(f"rm {DATA_DIR}/standin-test/fail-migration")
    on_server("docker restart harbor-core >/dev/null")
    time.sleep(5)
    assert core_log().count("Dirty database version 160. Fix and force version.") >= 2
    assert psql("SELECT version, dirty FROM schema_migrations") == "160|t"

    # Restore the backup: the upgrade then migrates 140 -> 160 and the data is there.
    compose(NEW, "docker compose down")
    on_server(f"rm -rf {DATA_DIR}/database && mv {BACKUP} {DATA_DIR}/database")
    compose(NEW, "docker compose up -d")
    wait_compose_healthy(SERVER, BUNDLED, HEALTH_TIMEOUT)
    assert psql("SELECT version, dirty FROM schema_migrations") == "160|f"
    assert psql("SELECT creator FROM robot") == "unknown"  # 2.12's migration of the robot made on 2.11
    assert api("HEAD", "/projects?project_name=state")[0] == 200
