"""Signing in through LDAP on real lab hosts: Debian's slapd on client-2 serves the lab's
directory (lab/ldap_directory.py); the configure deploy switches the lane's Harbor
(new, after test_62's purge: admin its only user) to LDAP auth, declares the LDAP
group ``developers`` and makes it a member of a project. An LDAP user of that group
then logs in with ``docker login`` on client-1 and pushes there; a user outside it
is denied; a re-run of configure changes nothing."""

import json
import secrets

import ldap3
import pytest

from lab import ldap_directory
from lab.labctl import PREFIX
from tests.lab.conftest import changed_count, client_data, docker_exec, host_exec, run_pyinfra

DIRECTORY = "/var/tmp/hd-ldap"
PROJECT = "ldapteam"
PASSWORD_ENV = "LDAP_BIND_PASSWORD"


@pytest.fixture(scope="module")
def directory(lab):
    """slapd on client-2 with the lab's tree, reachable from the lab on port 389."""
    host = next(h for h in lab["hosts"] if h["name"] == "client-2")
    root_password = secrets.token_urlsafe(12)
    config = ldap_directory.slapd_config(DIRECTORY, root_password)
    written = docker_exec(host["container"], f"mkdir -p {DIRECTORY}/data && cat > {DIRECTORY}/slapd.conf", stdin=config)
    assert written.returncode == 0, written.stderr
    host_exec(host["container"], f"slapd -f {DIRECTORY}/slapd.conf -h ldap:/// && firewall-cmd -q --add-port=389/tcp")
    url = f"ldap://{host['address']}:389"
    with ldap3.Connection(url, ldap_directory.ROOT_DN, root_password, auto_bind=True) as connection:
        for dn, classes, attributes in ldap_directory.entries():
            assert connection.add(dn, classes, attributes), connection.result
    yield url
    host_exec(
        host["container"],
        f"kill $(cat {DIRECTORY}/slapd.pid); firewall-cmd -q --remove-port=389/tcp; rm -rf {DIRECTORY}",
        check=False,
    )


def configure(url, check=True):
    data = {
        "harbor_auth": {
            "mode": "ldap",
            "ldap_url": url,
            "ldap_search_dn": ldap_directory.SEARCH_DN,
            "ldap_search_password_env": PASSWORD_ENV,
            "ldap_base_dn": ldap_directory.PEOPLE,
            "ldap_filter": "(objectClass=inetOrgPerson)",
            "ldap_uid": "uid",
            "ldap_scope": 2,
            "ldap_verify_cert": False,
            "ldap_group_base_dn": ldap_directory.GROUPS,
            "ldap_group_search_filter": "(objectClass=groupOfNames)",
            "ldap_group_attribute_name": "cn",
            "ldap_group_search_scope": 2,
            "ldap_group_membership_attribute": "memberof",
        },
        "harbor_groups": [{"name": "developers", "ldap_group_dn": ldap_directory.group_dn("developers")}],
        "harbor_projects": [{"name": PROJECT, "members": [{"group": "developers", "role": "developer"}]}],
        "harbor_robots": [],
    }
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={json.dumps(value)}")]
    return run_pyinfra(
        "-y",
        "--json",
        "inventories/lab.py",
        "deploys/configure.py",
        "--limit",
        "harbor-1",
        *args,
        env={PASSWORD_ENV: ldap_directory.SEARCH_PASSWORD},
        check=check,
    )


@pytest.fixture(scope="module")
def client(harbor_server):
    """client-1 trusting the lane's Harbor, logged in as nobody yet."""
    data = client_data(harbor_server, harbor_client_login_users=[])
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={json.dumps(value)}")]
    run_pyinfra("-y", "inventories/lab.py", "deploys/client.py", "--limit", "client-1", *args)
    return f"{PREFIX}-client-1"


def push_as(container, registry, user):
    """docker login as ``user`` (LDAP password on stdin) and a push to the project."""
    password = ldap_directory.USERS[user][0]
    reference = f"{registry}/{PROJECT}/hello:{user}"
    return docker_exec(
        container,
        f"docker login {registry} -u {user} --password-stdin && "
        f"head -c 100000 /dev/urandom > /tmp/{user}.bin && tar -C /tmp -cf - {user}.bin "
        f"| docker import - {reference} >/dev/null && docker push {reference}; "
        f"status=$?; docker logout {registry} >/dev/null; exit $status",
        stdin=password,
    )


def test_an_ldap_user_pushes_to_the_project_its_group_is_a_member_of(harbor_server, directory, client):
    first = configure(directory)
    assert changed_count(first) > 0
    pushed = push_as(client, harbor_server["registry"], "ldapalice")  # in developers
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "Login Succeeded" in pushed.stdout
    admin = harbor_server["admin"]()
    tags = admin.get(f"/projects/{PROJECT}/repositories/hello/artifacts", "artifacts", params={"with_tag": "true"})
    assert [tag["name"] for artifact in tags for tag in artifact.get("tags") or []] == ["ldapalice"]
    denied = push_as(client, harbor_server["registry"], "ldapcarol")  # not in developers
    assert denied.returncode != 0
    assert "Login Succeeded" in denied.stdout  # a real LDAP login, without a role in the project
    assert changed_count(configure(directory)) == 0
