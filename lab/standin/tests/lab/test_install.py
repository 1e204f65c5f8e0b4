"""The stand-in Harbor v2.13.1 installed by hand on harbor-1 (shell commands, not the
deploy) and used from client-1 through nginx TLS; the release mirror serving it.

harbor-1 is left as found: the test's compose project, directory and goharbor images
are removed at the end, since the server deploy tests run there next.
"""

import datetime
import hashlib
import json
import re
import secrets
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.labctl import PREFIX
from tests.lab.conftest import docker_exec, fetch, host_exec, reset_harbor_server, wait_compose_healthy

SERVER = f"{PREFIX}-harbor-1"
CLIENT = f"{PREFIX}-client-1"
VERSION = "v2.13.1"
LATEST = "v2.14.0"
BUNDLE = f"harbor-offline-installer-{VERSION}.tgz"
HOSTNAME = "harbor.lab.internal"
HTTP_PORT, HTTPS_PORT = 8081, 8443
REGISTRY = f"{HOSTNAME}:{HTTPS_PORT}"
TEST_DIR = "/opt/standin-test"
HARBOR_DIR = f"{TEST_DIR}/harbor"
DATA_DIR = f"{TEST_DIR}/data"
LOG_DIR = f"{TEST_DIR}/log"
CERT_DIR = f"{TEST_DIR}/cert"
CLIENT_CERTS_D = f"/etc/docker/certs.d/{REGISTRY}"
CLIENT_CA = f"{CLIENT_CERTS_D}/ca.crt"
CLIENT_WORK = "/var/tmp/standin-test"
# docker login keeps the credentials here, not in root's ~/.docker.
CLIENT_DOCKER = f"DOCKER_CONFIG={CLIENT_WORK}/docker docker"
# Created on client-1 by the CA install; removed at the end if it was absent before.
CERTS_D = "/etc/docker/certs.d"
PROJECT = "standin-test"
IMAGE = f"{REGISTRY}/{PROJECT}/hello:v1"
CONTAINERS = {
    "harbor-log",
    "registry",
    "registryctl",
    "harbor-db",
    "harbor-core",
    "harbor-portal",
    "harbor-jobservice",
    "redis",
    "nginx",
    "trivy-adapter",
}
HEALTH_TIMEOUT = 90


def on_server(command, check=True):
    return host_exec(SERVER, command, check=check)


def in_harbor_dir(command, env="TERM=xterm"):
    return docker_exec(SERVER, f"cd {HARBOR_DIR} && {env} {command} 2>&1")


def make_tls():
    """A throwaway CA and a server cert for HOSTNAME (with the subjectAltName clients need)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harbor-deploy stand-in test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTNAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOSTNAME)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "ca": ca.public_bytes(pem).decode(),
        "cert": cert.public_bytes(pem).decode(),
        "key": key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode(),
    }


def make_admin_password():
    """Harbor's rules: 8-128 characters with an upper, a lower case letter and a digit."""
    return f"St{secrets.token_hex(8)}9a"


def harbor_yml(template, certificate, private_key, admin_password):
    """The bundled harbor.yml.tmpl edited the way an operator would (each line once)."""
    edits = [
        (r"^hostname: .*$", f"hostname: {HOSTNAME}"),
        (r"^  port: 80$", f"  port: {HTTP_PORT}"),
        (r"^  port: 443$", f"  port: {HTTPS_PORT}"),
        (r"^  certificate: .*$", f"  certificate: {certificate}"),
        (r"^  private_key: .*$", f"  private_key: {private_key}"),
        (r"^harbor_admin_password: .*$", f"harbor_admin_password: {admin_password}"),
        (r"^data_volume: .*$", f"data_volume: {DATA_DIR}"),
        (r"^    location: /var/log/harbor$", f"    location: {LOG_DIR}"),
    ]
    for pattern, line in edits:
        template, count = re.subn(pattern, line, template, flags=re.M)
        assert count == 1, f"harbor.yml.tmpl: {pattern!r} matched {count} lines"
    return template


def clean_hosts(certs_d_created=False):
    """Remove everything this module puts on harbor-1 and client-1, and nothing else."""
    on_server(
        f"if [ -f {HARBOR_DIR}/docker-compose.yml ]; then cd {HARBOR_DIR} && docker compose down -v; fi", check=False
    )
    on_server(f"rm -rf {TEST_DIR}")
    images = on_server("docker images --format '{{.Repository}}:{{.Tag}}' | grep '^goharbor/' || true")
    if images:
        on_server(f"docker image rm {' '.join(images.split())}")
    host_exec(
        CLIENT,
        f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{REGISTRY}/' "
        f"| xargs -r docker image rm -f; rm -rf {CLIENT_CERTS_D} {CLIENT_WORK}"
        + (f" && rmdir {CERTS_D}" if certs_d_created else ""),
        check=False,
    )


def wait_healthy(expected=CONTAINERS, timeout=HEALTH_TIMEOUT):
    return wait_compose_healthy(SERVER, expected, timeout)


def client_curl(args, password=None):
    """curl on client-1 trusting only the test CA; credentials come from stdin (-K -)."""
    auth = f'user = "admin:{password}"\n' if password else ""
    result = docker_exec(CLIENT, f"curl -sS --cacert {CLIENT_CA} {'-K - ' if auth else ''}{args}", stdin=auth)
    assert result.returncode == 0, f"curl {args} on client-1 failed: {result.stderr}"
    return result.stdout


def api_status(method, path, password):
    return client_curl(
        f"-o /dev/null -w '%{{http_code}}' -X {method} " f"'https://{REGISTRY}/api/v2.0{path}'", password
    )


def image_id(name):
    return host_exec(CLIENT, f"docker image inspect -f '{{{{.Id}}}}' {name}")


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hosts(lab):
    """harbor-1 starts bare (a deployed Harbor is removed); whatever happens, it is cleaned at the end."""
    reset_harbor_server(SERVER)
    clean_hosts()  # leftovers of an interrupted run
    certs_d_created = not host_exec(CLIENT, f"test -e {CERTS_D} && echo yes", check=False)
    yield lab
    clean_hosts(certs_d_created)


@pytest.fixture(scope="module")
def mirrored_bundle(lab, tmp_path_factory):
    """The v2.13.1 offline bundle and its md5sum file downloaded from the release mirror."""
    release = json.loads(fetch(f"{lab['mirror_url']}/repos/goharbor/harbor/releases/tags/{VERSION}"))
    urls = {asset["name"]: asset["browser_download_url"] for asset in release["assets"]}
    path = tmp_path_factory.mktemp("standin") / BUNDLE
    path.write_bytes(fetch(urls[BUNDLE]))
    return {"release": release, "path": path, "md5sum": fetch(urls["md5sum"]).decode()}


@pytest.fixture(scope="module")
def tls():
    return make_tls()


@pytest.fixture(scope="module")
def admin_password():
    return make_admin_password()


@pytest.fixture(scope="module")
def bundle(hosts, mirrored_bundle, tls, admin_password):
    """The bundle extracted on harbor-1 with a harbor.yml written from its template."""
    on_server(f"mkdir -p {CERT_DIR}")
    subprocess.run(["docker", "cp", str(mirrored_bundle["path"]), f"{SERVER}:{TEST_DIR}/{BUNDLE}"], check=True)
    on_server(f"tar -C {TEST_DIR} -xzf {TEST_DIR}/{BUNDLE}")
    for name, text, mode in (("server.crt", tls["cert"], "644"), ("server.key", tls["key"], "600")):
        written = docker_exec(SERVER, f"umask 077 && cat > {CERT_DIR}/{name} && chmod {mode} {CERT_DIR}/{name}", text)
        assert written.returncode == 0, written.stderr
    config = harbor_yml(
        on_server(f"cat {HARBOR_DIR}/harbor.yml.tmpl") + "\n",
        f"{CERT_DIR}/server.crt",
        f"{CERT_DIR}/server.key",
        admin_password,
    )
    written = docker_exec(SERVER, f"umask 077 && cat > {HARBOR_DIR}/harbor.yml", config)
    assert written.returncode == 0, written.stderr
    return HARBOR_DIR


@pytest.fixture(scope="module")
def installed(bundle):
    result = in_harbor_dir("./install.sh --with-trivy")
    assert result.returncode == 0, f"install.sh --with-trivy failed:\n{result.stdout[-3000:]}"
    wait_healthy()
    return result.stdout


@pytest.fixture(scope="module")
def client(installed, tls, admin_password):
    """client-1 trusting the test CA (certs.d) and logged in as admin."""
    written = docker_exec(CLIENT, f"mkdir -p {CLIENT_CERTS_D} && cat > {CLIENT_CA} && chmod 644 {CLIENT_CA}", tls["ca"])
    assert written.returncode == 0, written.stderr
    login = docker_exec(CLIENT, f"{CLIENT_DOCKER} login {REGISTRY} -u admin --password-stdin", admin_password)
    assert login.returncode == 0, f"docker login failed: {login.stderr}"
    return CLIENT


# --- the release mirror ------------------------------------------------------------


def test_mirror_latest_is_the_newest_release_and_points_at_itself(lab):
    latest = json.loads(fetch(f"{lab['mirror_url']}/repos/goharbor/harbor/releases/latest"))
    assert latest["tag_name"] == LATEST
    names = {asset["name"] for asset in latest["assets"]}
    assert {f"harbor-offline-installer-{LATEST}.tgz", f"harbor-online-installer-{LATEST}.tgz", "md5sum"} <= names
    for asset in latest["assets"]:
        assert asset["browser_download_url"] == (
            f"{lab['mirror_url']}/goharbor/harbor/releases/download/{LATEST}/{asset['name']}"
        )


def test_mirror_tag_release_and_md5sum_match_the_download(lab, mirrored_bundle):
    release = mirrored_bundle["release"]
    assert release["tag_name"] == VERSION
    assert all(
        asset["browser_download_url"].startswith(f"{lab['mirror_url']}/goharbor/harbor/releases/download/")
        for asset in release["assets"]
    )
    sums = dict(reversed(line.split("  ", 1)) for line in mirrored_bundle["md5sum"].splitlines())
    assert set(sums) == {BUNDLE, f"harbor-online-installer-{VERSION}.tgz"}
    assert sums[BUNDLE] == hashlib.md5(mirrored_bundle["path"].read_bytes()).hexdigest()
    size = {asset["name"]: asset["size"] for asset in release["assets"]}[BUNDLE]
    assert size == mirrored_bundle["path"].stat().st_size


# --- install.sh refusals (before anything is installed) ----------------------------


def test_bundle_has_the_real_layout(bundle):
    files = set(on_server(f"ls {bundle}").split())
    assert {"install.sh", "prepare", "common.sh", "harbor.yml.tmpl", "LICENSE", f"harbor.{VERSION}.tar.gz"} <= files


def test_install_without_term_fails_in_tput(bundle):
    result = in_harbor_dir("./install.sh --with-trivy", env="env -u TERM")
    assert result.returncode != 0
    assert "TERM" in result.stdout, result.stdout
    assert not on_server("docker images -q 'goharbor/*'"), "install.sh went on without TERM"


def test_install_with_notary_prints_usage_and_exits_1(bundle):
    result = in_harbor_dir("./install.sh --with-notary")
    assert result.returncode == 1, result.stdout
    assert "--with-trivy" in result.stdout
    assert not on_server("docker images -q 'goharbor/*'"), "install.sh went on with --with-notary"


# --- installed -----------------------------------------------------------------


def test_install_loaded_the_real_image_names_and_started_every_container(installed):
    assert "Harbor has been installed and started successfully" in installed
    images = set(on_server("docker images --format '{{.Repository}}:{{.Tag}}' 'goharbor/*'").split())
    for name in (
        "nginx-photon",
        "registry-photon",
        "harbor-core",
        "harbor-log",
        "prepare",
        "trivy-adapter-photon",
        "harbor-db",
        "redis-photon",
    ):
        assert f"goharbor/{name}:{VERSION}" in images
    restart = on_server("docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' " + " ".join(sorted(CONTAINERS)))
    assert set(restart.split()) == {"always"}
    ports = on_server("docker port nginx; docker port harbor-log")
    assert f"8080/tcp -> 0.0.0.0:{HTTP_PORT}" in ports
    assert f"8443/tcp -> 0.0.0.0:{HTTPS_PORT}" in ports
    assert "10514/tcp -> 127.0.0.1:1514" in ports
    assert on_server(f"cat {DATA_DIR}/secret/cert/server.crt") == on_server(f"cat {CERT_DIR}/server.crt")
    # Filed by syslog tag under log.local.location like real Harbor's harbor-log. Only
    # services logging every healthcheck are waited for: a line a service writes while
    # harbor-log is still starting can be lost (as with real Harbor).
    deadline, logs = time.monotonic() + 20, set()
    while not {"core.log", "registry.log", "proxy.log", "portal.log", "jobservice.log"} <= logs:
        assert time.monotonic() < deadline, f"missing service logs in {LOG_DIR}: {sorted(logs)}"
        time.sleep(1)
        logs = set(on_server(f"ls {LOG_DIR}").split())
    assert all(re.fullmatch(r"[a-z-]+\.log", name) for name in logs), logs


def test_health_over_https_from_client(client):
    health = json.loads(client_curl(f"--fail https://{REGISTRY}/api/v2.0/health"))
    assert health["status"] == "healthy", health
    assert {c["name"] for c in health["components"]} == {
        "core",
        "portal",
        "jobservice",
        "registry",
        "registryctl",
        "database",
        "redis",
        "trivy",
    }
    redirect = client_curl(f"-o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://{HOSTNAME}:{HTTP_PORT}/")
    assert redirect.split()[0] in ("301", "308") and redirect.split()[1].startswith(f"https://{HOSTNAME}"), redirect


def test_login_push_pull_through_nginx_tls(client, admin_password):
    created = client_curl(
        f"-o /dev/null -w '%{{http_code}}' -X POST -H 'Content-Type: application/json' "
        f'-d \'{{"project_name": "{PROJECT}"}}\' https://{REGISTRY}/api/v2.0/projects',
        admin_password,
    )
    assert created == "201"
    host_exec(
        CLIENT,
        f"mkdir -p {CLIENT_WORK} && printf 'stand-in test\\n' > {CLIENT_WORK}/hello.txt && "
        f"tar -C {CLIENT_WORK} -c hello.txt | docker import - {IMAGE}",
    )
    imported = image_id(IMAGE)
    push = host_exec(CLIENT, f"{CLIENT_DOCKER} push {IMAGE} 2>&1")
    assert "digest: sha256:" in push, push
    assert on_server(f"ls {DATA_DIR}/registry/docker/registry/v2/repositories/{PROJECT}"), "no blobs in data_volume"
    host_exec(CLIENT, f"docker image rm {IMAGE}")
    host_exec(CLIENT, f"{CLIENT_DOCKER} pull {IMAGE}")
    assert image_id(IMAGE) == imported


def test_project_robot_pushes_only_to_its_project(client, admin_password):
    body = json.dumps(
        {
            "name": "ci",
            "level": "project",
            "duration": -1,
            "permissions": [
                {
                    "kind": "project",
                    "namespace": PROJECT,
                    "access": [
                        {"resource": "repository", "action": "push"},
                        {"resource": "repository", "action": "pull"},
                    ],
                }
            ],
        }
    )
    robot = json.loads(
        client_curl(
            f"--fail -X POST -H 'Content-Type: application/json' -d '{body}' " f"https://{REGISTRY}/api/v2.0/robots",
            admin_password,
        )
    )
    assert robot["name"] == f"robot${PROJECT}+ci"
    try:
        login = docker_exec(
            CLIENT, f"{CLIENT_DOCKER} login {REGISTRY} -u '{robot['name']}' --password-stdin", robot["secret"]
        )
        assert login.returncode == 0, f"robot docker login failed: {login.stderr}"
        host_exec(
            CLIENT,
            f"docker tag {IMAGE} {REGISTRY}/{PROJECT}/robot:v1 && " f"docker tag {IMAGE} {REGISTRY}/library/robot:v1",
        )
        allowed = docker_exec(CLIENT, f"{CLIENT_DOCKER} push {REGISTRY}/{PROJECT}/robot:v1")
        assert allowed.returncode == 0, allowed.stderr
        denied = docker_exec(CLIENT, f"{CLIENT_DOCKER} push {REGISTRY}/library/robot:v1")
        assert denied.returncode != 0
        assert "denied" in denied.stderr or "unauthorized" in denied.stderr, denied.stderr
    finally:
        host_exec(CLIENT, f"docker image rm {REGISTRY}/{PROJECT}/robot:v1 {REGISTRY}/library/robot:v1", check=False)
        login = docker_exec(CLIENT, f"{CLIENT_DOCKER} login {REGISTRY} -u admin --password-stdin", admin_password)
        assert login.returncode == 0, f"admin docker login failed: {login.stderr}"


def test_data_survives_compose_down_v_and_up(client, admin_password):
    imported = image_id(IMAGE)
    stop = in_harbor_dir("docker compose stop")
    assert stop.returncode == 0, f"docker compose stop failed:\n{stop.stdout}"
    # Like real services they end on SIGTERM: none was killed (137) after docker's timeout.
    exits = host_exec(
        SERVER,
        "docker ps -aq --filter label=com.docker.compose.project=harbor "
        "| xargs docker inspect --format '{{.Name}} {{.State.ExitCode}} {{.State.OOMKilled}}'",
    ).splitlines()
    assert len(exits) >= 10 and not [line for line in exits if line.split()[1] == "137"], exits
    down = in_harbor_dir("docker compose down -v")
    assert down.returncode == 0, f"docker compose down -v failed:\n{down.stdout}"
    up = in_harbor_dir("docker compose up -d")
    assert up.returncode == 0, f"docker compose up -d failed:\n{up.stdout}"
    wait_healthy()
    assert api_status("HEAD", f"/projects?project_name={PROJECT}", admin_password) == "200"
    host_exec(CLIENT, f"docker image rm {IMAGE} && {CLIENT_DOCKER} pull {IMAGE}")
    assert image_id(IMAGE) == imported
