"""Values reach Harbor byte-exact, or are refused before any change; no secret in any
output. A second Harbor on the lab's ``bare-1`` host (docker installed by the deploy
if missing) is installed with awkward but accepted passwords: the admin logs in with
exactly the stored value, Harbor's containers hold exactly the stored passwords after
docker compose read its env files, and core logs in to its database through the
connection string it builds of them. Each class of value that docker compose, the
registry's raw config.yml or that connection string would change is refused, naming
the key and the character, with the host untouched; with the deploy's validation
bypassed, core itself refuses to start on a database password holding a blank, as
Harbor's does. ``--dry --diff``, ``--json`` and ``-vvv`` show no storage, proxy or
password secret."""

import json

import pytest
import requests

from tests.lab.conftest import (
    SECOND_ADMIN_PASSWORD,
    SECOND_DB_PASSWORD,
    changed_count,
    deploy_bare_server,
    host_exec,
)

ADMIN, DB = SECOND_ADMIN_PASSWORD, SECOND_DB_PASSWORD
REFUSED = [
    ({"HARBOR_ADMIN_PASSWORD": "Adm1n$HOME"}, (), "admin_password (env HARBOR_ADMIN_PASSWORD)", "'$'"),
    ({"HARBOR_ADMIN_PASSWORD": "Adm1n #rest"}, (), "admin_password (env HARBOR_ADMIN_PASSWORD)", "followed by '#'"),
    (
        {"HARBOR_ADMIN_PASSWORD": "'Adm1nQuoted'"},
        (),
        "admin_password (env HARBOR_ADMIN_PASSWORD)",
        "starts with a quote",
    ),
    ({"HARBOR_ADMIN_PASSWORD": "Adm1nPadded "}, (), "admin_password (env HARBOR_ADMIN_PASSWORD)", "ends with a blank"),
    (
        {},
        ("harbor_storage_service", {"s3": {"bucket": "b", "secretkey": "*alias"}}),
        "harbor_storage_service.s3.secretkey",
        "registry's config.yml",
    ),
    ({}, ("harbor_proxy", {"http_proxy": "http://me:pa$s@proxy:3128"}), "harbor_proxy.http_proxy", "'$'"),
    ({}, ("harbor_data_volume", "/srv/harbor data"), "harbor_data_volume", "not ' '"),
    (
        {},
        (
            "harbor_external_database",
            {
                "host": "db.lab.internal",
                "port": 5432,
                "db_name": "registry",
                "username": "harbor",
                "password": "Ext db1",
            },
        ),
        "harbor_external_database.password",
        "contains a blank",
    ),
    (
        {},
        ("harbor_storage_service", {"s3": {"region": "eu-1", "bucket": "1e3"}}),
        "harbor_storage_service.s3.bucket",
        "reads as a number",
    ),
]


@pytest.fixture(scope="module")
def second(second_harbor):
    return second_harbor


def deploy(server, *flags, env=None, data=(), check=True):
    return deploy_bare_server(server["place"], *flags, env=env, data=data, check=check)


def container_env(server, container):
    raw = host_exec(server["container"], f"docker inspect --format '{{{{json .Config.Env}}}}' {container}")
    return dict(item.split("=", 1) for item in json.loads(raw))


def test_awkward_passwords_reach_harbor_byte_exact(second):
    assert len(ADMIN) == 128
    for value in (ADMIN, DB):
        assert value not in second["install"].stdout + second["install"].stderr
    assert not (second["secrets"] / "admin_password").exists()  # given by env, not kept on disk
    assert container_env(second, "harbor-core")["HARBOR_ADMIN_PASSWORD"] == ADMIN
    assert container_env(second, "harbor-core")["POSTGRESQL_PASSWORD"] == DB
    assert container_env(second, "harbor-db")["POSTGRES_PASSWORD"] == DB
    url = f"https://{second['address']}:8443/api/v2.0/users/current"
    verify = str(second["secrets"] / "ca.crt")
    login = requests.get(url, auth=(b"admin", ADMIN.encode()), verify=verify, timeout=30)
    assert login.status_code == 200 and login.json()["username"] == "admin"
    assert requests.get(url, auth=(b"admin", ADMIN[:-1].encode()), verify=verify, timeout=30).status_code == 401


def test_core_refuses_to_start_on_a_database_password_its_connection_string_splits(second):
    """The deploy refuses such a password (above); bypassing it, the stand-in core, like
    Harbor's, builds ``host=... password=Pass word1 dbname=...`` unquoted and exits: the
    lab sees what a real Harbor would do. A one-off core container, the running Harbor
    left as it is."""
    compose = "docker compose -p harbor -f /usr/local/harbor/docker-compose.yml"
    run = host_exec(
        second["container"],
        f"{compose} run --rm --no-deps -T --name harbor-core-dsn-check -e 'POSTGRESQL_PASSWORD=Pass word1' core 2>&1;"
        " echo rc=$?",
        check=False,
    )
    assert "failed to initialize database: cannot parse the connection string" in run, run
    assert run.rstrip().endswith("rc=1"), run
    assert "word1" not in run.replace("Pass word1", "")
    assert container_env(second, "harbor-core")["POSTGRESQL_PASSWORD"] == DB


@pytest.mark.parametrize("env, data, key, why", REFUSED, ids=[case[2] + ":" + case[3] for case in REFUSED])
def test_each_refused_class_is_named_and_leaves_the_host_untouched(second, env, data, key, why):
    before = host_exec(second["container"], "sha256sum /usr/local/harbor/harbor.yml; docker ps -q | sort")
    run = deploy(second, "-y", env=env, data=[data] if data else (), check=False)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    line = next((line for line in output.splitlines() if key in line), "")
    assert why in line, output
    for value in env.values():
        assert value not in output
    assert host_exec(second["container"], "sha256sum /usr/local/harbor/harbor.yml; docker ps -q | sort") == before


def test_dry_diff_json_and_verbose_output_hold_no_secret(second):
    storage = {
        "s3": {
            "region": "eu-1",
            "bucket": "harbor-blobs",
            "accesskey": "AKIAVISIBLEKEY",
            "secretkey": {"secret": "s3_secretkey"},
        },
        "redirect": {"disable": True},
    }
    proxy = {
        "http_proxy": "http://proxyuser:Pr0xyPassw0rd@proxy.lab.internal:3128",
        "https_proxy": {"secret": "https_proxy"},
        "no_proxy": "10.0.0.1",
        "components": ["core"],
    }
    env = {"HARBOR_SECRET_S3_SECRETKEY": "S3SecretKeyValue", "HARBOR_SECRET_HTTPS_PROXY": "http://u:Https0nly@p:3128"}
    data = [("harbor_storage_service", storage), ("harbor_proxy", proxy)]
    secrets = ("S3SecretKeyValue", "AKIAVISIBLEKEY", "Pr0xyPassw0rd", "Https0nly", ADMIN, DB)
    before = host_exec(second["container"], "sha256sum /usr/local/harbor/harbor.yml")
    for flags in (("--dry", "--diff", "-vvv"), ("--dry", "--json"), ("--dry", "--diff", "--json", "-vv")):
        run = deploy(second, *flags, env=env, data=data)
        output = run.stdout + run.stderr
        for secret in secrets:
            assert secret not in output, (flags, secret[:4])
        if "--diff" in flags:
            assert "bucket: harbor-blobs" in output and "http://*****@proxy.lab.internal:3128" in output
    assert host_exec(second["container"], "sha256sum /usr/local/harbor/harbor.yml") == before
    # Without the env vars the installed passwords are taken back (kept on the controller), then nothing.
    recovering = deploy(second, "-y", "--json")
    assert [op["name"] for op in json.loads(recovering.stdout)["results"]["operations"] if op["success"]] == [
        "Harbor server | Controller secrets | Keep Harbor's secrets in the controller secrets dir"
    ]
    assert (second["secrets"] / "admin_password").read_text() == ADMIN
    assert (second["secrets"] / "db_password").read_text() == DB
    assert changed_count(deploy(second, "-y", "--json")) == 0
