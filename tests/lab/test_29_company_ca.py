"""A certificate from a company CA (``harbor_tls_mode: provided``), end to end: a root
and an issuing CA made with ``openssl`` here sign the certificate of a second Harbor
on the lab's ``bare-1``. A chain without its root is refused before any change,
naming ``harbor_tls_chain``; with the root, the server deploy installs Harbor and
keeps the chain for the clients, configure reaches the API trusting that chain alone,
two clients trust it by default (no CA key given them, no ``harbor_client_ca_source``)
and push and pull as a robot, and status reads Harbor healthy with the certificate's
expiry."""

import datetime
import json
import subprocess

import pytest

from lab.labctl import PREFIX
from tests.conftest import ROOT
from tests.lab.conftest import SERVER_RESET, host_exec, run_pyinfra

CLIENTS = ("client-1", "client-2")
# A project and robot of this Harbor's own: the clients log in as the robot.
INVENTORY = f"""
import runpy

_lab = runpy.run_path({str(ROOT / "inventories" / "lab.py")!r})
_name, _data = _lab["bare_hosts"][0]
_address = _data["lab_address"]
_shared = {{"harbor_hostname": _address, "harbor_secrets_dir": "secrets"}}
harbor_servers = [(_name, {{
    **{{key: value for key, value in _data.items() if key.startswith(("ssh_", "lab_"))}},
    **_shared,
    "harbor_installer_source": "mirror",
    "harbor_mirror_url": _lab["harbor_servers"][0][1]["harbor_mirror_url"],
    "harbor_installer_sha256": _lab["harbor_servers"][0][1]["harbor_installer_sha256"],
    "harbor_tls_mode": "provided",
    "harbor_tls_certificate": "ca/harbor.crt",
    "harbor_tls_private_key": "ca/harbor.key",
    "harbor_tls_chain": "ca/chain.pem",
    "harbor_projects": [{{"name": "company"}}],
    "harbor_robots": [{{"name": "ci", "project": "company"}}],
}})]
docker_clients = [
    (name, {{**data, **_shared, "harbor_client_username": "robot$company+ci"}})
    for name, data in _lab["docker_clients"] if name in {CLIENTS!r}
]
"""
# The company's PKI as an operator makes it: a root, an issuing CA below it, and
# Harbor's certificate (its address as subjectAltName) from the issuing CA.
OPENSSL = """
set -e
openssl req -x509 -new -nodes -newkey rsa:2048 -days 3650 -keyout root.key -out root.crt \\
  -subj "/CN=Example Corp Root CA" -addext "basicConstraints=critical,CA:TRUE" \\
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -keyout issuing.key -out issuing.csr -subj "/CN=Example Corp Issuing CA" \\
  2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > issuing.ext
openssl x509 -req -in issuing.csr -CA root.crt -CAkey root.key -CAcreateserial -days 1825 -extfile issuing.ext \\
  -out issuing.crt 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -keyout harbor.key -out harbor.csr -subj "/CN=$ADDR" 2>/dev/null
printf 'subjectAltName=IP:%s\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' "$ADDR" > harbor.ext
openssl x509 -req -in harbor.csr -CA issuing.crt -CAkey issuing.key -CAcreateserial -days 365 -extfile harbor.ext \\
  -out harbor.crt 2>/dev/null
cat issuing.crt root.crt > chain.pem
"""


def pyinfra(place, entry, *args, check=True):
    inventory, deploy = str(place / "inventory.py"), str(ROOT / "deploys" / entry)
    return run_pyinfra("-y", inventory, deploy, *args, check=check, cwd=place)


def clients_reset(address):
    """What this Harbor left on the lane's clients: its CA, logins and images."""
    registry = f"{address}:8443"
    for name in CLIENTS:
        host_exec(
            f"{PREFIX}-{name}",
            f"rm -rf /etc/docker/certs.d/{registry}; docker logout {registry} >/dev/null 2>&1; "
            f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{registry}/' | xargs -r docker rmi -f "
            ">/dev/null; true",
            check=False,
        )


@pytest.fixture(scope="module")
def company(lab, tmp_path_factory):
    """bare-1 reset, the company PKI on the controller and this Harbor's inventory."""
    bare = next(h for h in lab["hosts"] if h["group"] == "bare_hosts")
    place = tmp_path_factory.mktemp("company")
    (place / "ca").mkdir()
    subprocess.run(
        ["sh", "-c", OPENSSL], cwd=place / "ca", env={"ADDR": bare["address"], "PATH": "/usr/bin:/bin"}, check=True
    )
    (place / "inventory.py").write_text(INVENTORY)
    host_exec(bare["container"], SERVER_RESET + " 2>/dev/null; true", check=False)
    yield {"place": place, "container": bare["container"], "address": bare["address"], "name": bare["name"]}
    host_exec(bare["container"], SERVER_RESET, check=False)
    clients_reset(bare["address"])


def test_a_chain_without_its_root_is_refused_before_any_change(company):
    (company["place"] / "ca" / "issuing-only.pem").write_bytes((company["place"] / "ca" / "issuing.crt").read_bytes())
    run = pyinfra(company["place"], "server.py", "--data", "harbor_tls_chain=ca/issuing-only.pem", check=False)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    line = next(line for line in output.splitlines() if "harbor_tls_chain:" in line)
    assert "holds no root CA" in line and "CN=Example Corp Root CA" in line, output
    assert host_exec(company["container"], "ls /usr/local/harbor /etc/harbor 2>&1 || true").count("No such file") == 2


def test_server_configure_clients_and_status_on_a_company_ca(company):
    place, address = company["place"], company["address"]
    pyinfra(place, "server.py")
    chain = (place / "ca" / "chain.pem").read_bytes()
    secrets = place / "secrets" / address
    assert (secrets / "provided-chain.crt").read_bytes() == chain
    assert not (secrets / "ca.key").exists()  # nothing generated in this mode
    served = host_exec(
        company["container"],
        f"openssl s_client -connect 127.0.0.1:8443 -servername {address} -showcerts </dev/null 2>/dev/null "
        "| grep -c 'BEGIN CERTIFICATE'",
    )
    assert int(served) >= 2  # the certificate and its chain

    pyinfra(place, "configure.py")  # the controller trusts harbor_tls_chain alone
    assert (secrets / "robots" / "company+ci").is_file()

    clients = pyinfra(
        place,
        "client.py",
        "--data",
        "harbor_client_smoke_test=true",
        "--data",
        "harbor_client_smoke_project=company",
    )
    assert "hd-smoke" in clients.stdout + clients.stderr
    registry = f"{address}:8443"
    for name in CLIENTS:
        container = f"{PREFIX}-{name}"
        assert host_exec(container, f"cat /etc/docker/certs.d/{registry}/ca.crt").encode() == chain.strip()
        images = host_exec(container, "docker images --format '{{.Repository}}:{{.Tag}}'").splitlines()
        assert f"{registry}/company/hd-smoke:{name}" in images  # pushed
        peer = CLIENTS[(CLIENTS.index(name) + 1) % len(CLIENTS)]
        assert f"{registry}/company/hd-smoke:{peer}" in images  # and the other client's, pulled

    status = pyinfra(place, "status.py")
    line = next(
        line.strip().split(" ", 2)[2]
        for line in (status.stdout + status.stderr).splitlines()
        if line.strip().startswith(f"harbor-status {company['name']} ")
    )
    report = json.loads(line)
    assert report["health"] == "healthy" and report["problems"] == []
    not_after = subprocess.run(
        ["openssl", "x509", "-in", str(place / "ca" / "harbor.crt"), "-noout", "-enddate"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert report["certificate_not_after"].startswith(
        datetime.datetime.strptime(not_after.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z").date().isoformat()
    )
