"""A Harbor installed by hand, the manual guide's way, on the lab's ``bare-1`` host:
the offline installer unpacked to a plain /usr/local/harbor, harbor.yml edited from
harbor.yml.tmpl (hostname, ports 8081/8443, a certificate from a CA of its own,
admin and database passwords), ``./install.sh --with-trivy``, the guide's
harbor.service (``docker compose up`` / ``down``), ports opened with firewall-cmd,
and an image pushed to it.

The server deploy refuses to replace the certificate its clients trust, changing
nothing; given that certificate, it adopts the Harbor: the passwords taken back from
harbor.yml, the release moved to a versioned directory behind the symlink, our unit
and firewalld service, at most one restart; every byte of the data volume kept
(the image pulls with its digest); a second run changes nothing."""

import hashlib
import shutil
import subprocess
import time
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harbor_deploy.lib.plan import installer
from tests.lab.conftest import (
    BARE_SERVER_INVENTORY,
    SERVER_RESET,
    changed_count,
    deploy_bare_server,
    host_exec,
    run_pyinfra,
)

VERSION = "v2.13.1"
BUNDLE = f"harbor-offline-installer-{VERSION}.tgz"
ADMIN, DB = "Hand3dAdminPass", "Hand3dDbPass"
# The guide's commands, as an operator types them on the server (ADDR: its address).
GUIDE = f"""
set -e
tar xzf /root/{BUNDLE} -C /usr/local/
mkdir -p /data/cert && cd /data/cert
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt -subj "/CN=Hand CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout harbor.key -out harbor.csr -subj "/CN=$ADDR" 2>/dev/null
printf 'subjectAltName=IP:%s\\n' "$ADDR" > v3.ext
openssl x509 -req -in harbor.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile v3.ext \\
  -out harbor.crt 2>/dev/null
cd /usr/local/harbor
cp harbor.yml.tmpl harbor.yml
sed -i -e "s/^hostname: .*/hostname: $ADDR/" -e 's/^  port: 80$/  port: 8081/' -e 's/^  port: 443$/  port: 8443/' \\
  -e 's#/your/certificate/path#/data/cert/harbor.crt#' -e 's#/your/private/key/path#/data/cert/harbor.key#' \\
  -e 's/^harbor_admin_password: .*/harbor_admin_password: {ADMIN}/' -e 's/^  password: root123$/  password: {DB}/' \\
  harbor.yml
TERM=xterm ./install.sh --with-trivy >/tmp/install.log 2>&1
cat > /etc/systemd/system/harbor.service <<'UNIT'
[Unit]
Description=Harbor
After=docker.service systemd-networkd.service systemd-resolved.service
Requires=docker.service
Documentation=http://github.com/vmware/harbor

[Service]
Type=simple
Restart=on-failure
RestartSec=5
ExecStart=/usr/bin/docker compose -f /usr/local/harbor/docker-compose.yml up
ExecStop=/usr/bin/docker compose -f /usr/local/harbor/docker-compose.yml down

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now harbor
firewall-cmd -q --permanent --add-port=8081/tcp --add-port=8443/tcp
firewall-cmd -q --reload
"""
PUSH = f"""
set -e
mkdir -p /etc/docker/certs.d/$ADDR:8443 && cp /data/cert/ca.crt /etc/docker/certs.d/$ADDR:8443/ca.crt
printf %s {ADMIN} | docker login -u admin --password-stdin $ADDR:8443 >/dev/null 2>&1
head -c 3000000 /dev/urandom > /tmp/hand.bin
tar -C /tmp -cf - hand.bin | docker import - $ADDR:8443/library/hand:1 >/dev/null
docker push $ADDR:8443/library/hand:1
"""
UNIT_FILE = "/etc/systemd/system/harbor.service"
# The data volume's files that only Harbor's writes change: image blobs and the
# per-instance secrets (secret/cert holds prepare's copy of the served certificate).
DATA_SUMS = "cd /data && find registry secret -path secret/cert -prune -o -type f -print | sort | xargs sha256sum"


def wait_healthy(container, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if '"status":"healthy"' in host_exec(
            container, "curl -sk --max-time 5 https://127.0.0.1:8443/api/v2.0/health | tr -d ' '", check=False
        ):
            return
        time.sleep(3)
    raise AssertionError(f"the Harbor installed by hand on {container} never got healthy")


def host_state(container):
    """What a refused run must leave as it was."""
    return host_exec(
        container,
        f"stat -c '%F %n' /usr/local/harbor; sha256sum /usr/local/harbor/harbor.yml {UNIT_FILE}; "
        "ls -d /usr/local/harbor-v* 2>/dev/null; firewall-cmd --permanent --list-ports; docker ps -q | sort",
        check=False,
    )


@pytest.fixture(scope="module")
def by_hand(lab, tmp_path_factory):
    """bare-1 with Harbor installed by the guide's commands and an image pushed to it; reset afterwards."""
    bare = next(h for h in lab["hosts"] if h["group"] == "bare_hosts")
    container, address = bare["container"], bare["address"]
    place = tmp_path_factory.mktemp("adopt")
    (place / "inventory.py").write_text(BARE_SERVER_INVENTORY)
    host_exec(container, SERVER_RESET, check=False)
    # The guide starts from a host with docker and compose v2: ours installs them when missing.
    run_pyinfra("-y", "inventories/lab.py", "deploys/docker.py", "--limit", bare["name"])
    url = installer.download_url(lab["mirror_url"].rstrip("/"), VERSION, BUNDLE)
    with urllib.request.urlopen(url, timeout=120) as answer, open(place / BUNDLE, "wb") as out:
        shutil.copyfileobj(answer, out)
    subprocess.run(["docker", "cp", str(place / BUNDLE), f"{container}:/root/{BUNDLE}"], check=True)
    host_exec(container, f"export ADDR={address}\n{GUIDE}")
    wait_healthy(container)
    pushed = host_exec(container, f"export ADDR={address}\n{PUSH}")
    yield {
        "place": place,
        "container": container,
        "address": address,
        "reference": f"{address}:8443/library/hand:1",
        "digest": next(word for word in pushed.split() if word.startswith("sha256:")),
        "secrets": place / "secrets" / address,
        "data": host_exec(container, DATA_SUMS),
    }
    host_exec(
        container,
        f"{SERVER_RESET}; docker logout {address}:8443; rm -rf /etc/docker/certs.d/{address}:8443 "
        f"/root/{BUNDLE} /root/.docker",
        check=False,
    )


def test_a_generated_certificate_is_refused_as_it_would_break_the_clients_nothing_changes(by_hand):
    before = host_state(by_hand["container"])
    run = deploy_bare_server(by_hand["place"], "-y", check=False)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    line = next((line for line in output.splitlines() if "not adopted" in line), "")
    assert "harbor_tls_mode" in line and "/data/cert/harbor.crt" in line and "nothing was changed" in line, output
    assert ADMIN not in output and DB not in output
    assert host_state(by_hand["container"]) == before
    assert not by_hand["secrets"].exists() or not list(by_hand["secrets"].iterdir())


def test_adopted_with_its_certificate_data_and_passwords_in_at_most_one_restart(by_hand):
    container, place = by_hand["container"], by_hand["place"]
    tls = place / "tls"
    tls.mkdir()
    for name in ("harbor.crt", "harbor.key", "ca.crt"):
        (tls / name).write_text(host_exec(container, f"cat /data/cert/{name}") + "\n")
    provided = [
        ("harbor_tls_mode", "provided"),
        ("harbor_tls_certificate", str(tls / "harbor.crt")),
        ("harbor_tls_private_key", str(tls / "harbor.key")),
        ("harbor_tls_chain", str(tls / "ca.crt")),
    ]
    since = host_exec(container, "date +%s")
    adopted = deploy_bare_server(place, "-y", data=provided)
    output = adopted.stdout + adopted.stderr
    assert "Adopt the Harbor v2.13.1 installed by hand" in output
    assert ADMIN not in output and DB not in output
    starts = host_exec(
        container,
        f"docker events --since {since} --until $(date +%s) --filter container=harbor-core --filter event=start "
        "--format '{{.Time}}'",
    )
    # Our harbor.yml differs from the hand-written one: prepare, then the one restart.
    assert len(starts.splitlines()) == 1, starts
    # The managed layout: the release behind the symlink, the hand-written harbor.yml kept.
    assert host_exec(container, "readlink /usr/local/harbor") == f"/usr/local/harbor-{VERSION}"
    assert host_exec(container, f"stat -c %a /usr/local/harbor-{VERSION}/harbor.yml.before-harbor-deploy") == "600"
    assert f"hostname: {by_hand['address']}" in host_exec(
        container, f"cat /usr/local/harbor-{VERSION}/harbor.yml.before-harbor-deploy"
    )
    assert "Managed by harbor-deploy" in host_exec(container, f"cat {UNIT_FILE}")
    assert not {"8081/tcp", "8443/tcp"} & set(host_exec(container, "firewall-cmd --permanent --list-ports").split())
    assert "harbor" in host_exec(container, "firewall-cmd --permanent --list-services").split()
    # The passwords Harbor runs with, taken back to the controller.
    assert (by_hand["secrets"] / "admin_password").read_text() == ADMIN
    assert (by_hand["secrets"] / "db_password").read_text() == DB
    # Every blob and secret kept byte for byte, the certificate its clients trust still served.
    assert host_exec(container, DATA_SUMS) == by_hand["data"]
    served = host_exec(
        container,
        "openssl s_client -connect 127.0.0.1:8443 </dev/null 2>/dev/null | openssl x509 -outform DER | sha256sum",
    ).split()[0]
    trusted = x509.load_pem_x509_certificate((tls / "harbor.crt").read_bytes()).public_bytes(Encoding.DER)
    assert served == hashlib.sha256(trusted).hexdigest()
    reference = by_hand["reference"]
    host_exec(container, f"docker rmi -f {reference} >/dev/null && docker pull -q {reference} >/dev/null")
    digests = host_exec(container, f"docker image inspect --format '{{{{json .RepoDigests}}}}' {reference}")
    assert f"@{by_hand['digest']}" in digests
    assert changed_count(deploy_bare_server(place, "-y", "--json", data=provided)) == 0
