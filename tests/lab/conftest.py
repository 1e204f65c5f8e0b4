"""Lab tests run on the real hosts of their lane's lab (``tests/lanes.py`` runs each
file in its lane); without a lab they fail."""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api.client import HarborClient
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from lab import labctl
from tests.conftest import ROOT

PYINFRA = os.path.join(os.path.dirname(sys.executable), "pyinfra")


@pytest.fixture(scope="session")
def lab():
    """This lane's lab (``LAB_PREFIX``, sized by ``LAB_CLIENTS`` and ``LAB_BARE``, as
    ``tests/lanes.py`` sets them); brought up, reusing healthy hosts, if needed."""
    labctl.up()
    return labctl.load_state()


@pytest.fixture(scope="session")
def lab_harbor(lab):
    """Where the lab's Harbor on harbor-1 is and how to reach it, installed or not (a
    test that installs another release of its own needs no install first)."""
    server = next(h for h in lab["hosts"] if h["group"] == "harbor_servers")
    secrets_dir = labctl.state_dir() / "secrets"
    store = SecretStore(secrets_dir / lab["harbor_dns_name"])
    api = HarborClient(
        f"https://{server['address']}:8443", None, None, verify=str(secrets_dir / lab["harbor_dns_name"] / "ca.crt")
    )
    return {
        "hostname": lab["harbor_dns_name"],
        "https_port": 8443,
        "http_port": 8081,
        "registry": f"{lab['harbor_dns_name']}:8443",
        "secrets_dir": secrets_dir,
        "address": server["address"],
        "container": server["container"],
        # An admin client, and its password, with whichever admin password Harbor
        # accepts at the time of the call (tests reinstall Harbor).
        "admin": lambda: AdminAccess(api, store).client(),
        "admin_password": lambda: AdminAccess(api, store).client().session.auth.password,
    }


@pytest.fixture(scope="session")
def harbor_server(lab_harbor):
    """Harbor deployed on harbor-1 by deploys/server.py (a no-op when it already is)."""
    run_pyinfra("-y", "inventories/lab.py", "deploys/server.py", "--limit", "harbor-1")
    return lab_harbor


def host_exec(container, command, check=True):
    """Ground truth read straight from a lab container, bypassing pyinfra."""
    result = subprocess.run(
        ["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{container}: {command} failed: {result.stderr}")
    return result.stdout.strip()


# Everything the server deploy creates on a server (and any other container), so a
# test can start from a bare one; the deploy's stand-in images go too.
SERVER_RESET = (
    "systemctl stop harbor-deploy-upgrade.service 2>/dev/null; "
    "systemctl disable --now harbor.service 2>/dev/null; "
    "[ -f /usr/local/harbor/docker-compose.yml ] && docker compose -p harbor "
    "-f /usr/local/harbor/docker-compose.yml down -v; "
    "docker ps -aq | xargs -r docker rm -f; docker image prune -af >/dev/null; "
    "rm -rf /usr/local/harbor /usr/local/harbor-v* /data /var/log/harbor /etc/harbor "
    "/var/cache/harbor-deploy /var/log/harbor-deploy /var/lib/harbor-deploy /etc/systemd/system/harbor.service; "
    "systemctl daemon-reload; "
    "for p in 8081 8443; do firewall-cmd -q --permanent --remove-port=$p/tcp; "
    "firewall-cmd -q --remove-port=$p/tcp; done; "
    "firewall-cmd -q --permanent --remove-service=harbor; firewall-cmd -q --permanent --delete-service=harbor; "
    "firewall-cmd -q --reload; true"
)


def client_data(harbor_server, **extra):
    """The server's keys for a client deploy, the clients logging in as admin
    (HARBOR_CLIENT_PASSWORD) rather than the lab's demo robot, which configure may not
    have made yet."""
    return {
        "harbor_hostname": harbor_server["hostname"],
        "harbor_client_username": "admin",
        "harbor_https_port": harbor_server["https_port"],
        "harbor_http_port": harbor_server["http_port"],
        "harbor_secrets_dir": str(harbor_server["secrets_dir"]),
        **extra,
    }


def docker_exec(container, command, stdin=""):
    """Like host_exec, but feeding ``stdin`` (secrets never go on a command line)."""
    return subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read()


def wait_compose_healthy(container, expected, timeout):
    """Wait until the Harbor compose project on ``container`` runs exactly the
    containers ``expected``, all healthy; on timeout fail with their states and the
    log tails of the unhealthy ones."""
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        listing = host_exec(
            container,
            "docker ps -aq --filter label=com.docker.compose.project=harbor "
            "| xargs -r docker inspect -f "
            "'{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}'",
        )
        states = {line.split()[0].lstrip("/"): " ".join(line.split()[1:]) for line in listing.splitlines()}
        if set(states) == set(expected) and all(state == "running healthy" for state in states.values()):
            return states
        time.sleep(2)
    report = [f"containers not all healthy after {timeout}s (expected {sorted(expected)}):"]
    for name, state in sorted(states.items()):
        report.append(f"  {name}: {state}")
        if state != "running healthy":
            tail = host_exec(
                container,
                f"docker logs --tail 15 {name} 2>&1; docker inspect -f "
                "'{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' " + name,
                check=False,
            )
            report.extend(f"    | {line}" for line in tail.splitlines())
    raise AssertionError("\n".join(report))


def reset_harbor_server(container):
    host_exec(container, SERVER_RESET)


def run_pyinfra(*args, check=True, env=None, cwd=None):
    """pyinfra run from the checkout, or from ``cwd`` (another folder, the checkout on
    PYTHONPATH); ``env`` joins the environment."""
    extra = {**({"PYTHONPATH": str(ROOT)} if cwd else {}), **(env or {})}
    result = subprocess.run(
        [PYINFRA, *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **extra} if extra else None,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"pyinfra {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def configure(*flags, check=True, env=None, **data):
    """deploys/configure.py on harbor-1 (``--json``, ``-y``), ``data`` given with ``--data``."""
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={json.dumps(value)}")]
    return run_pyinfra(
        "-y", "--json", *flags, "inventories/lab.py", "deploys/configure.py", "--limit", "harbor-1", *args,
        check=check, env=env,
    )  # fmt: skip


def api_changes(run):
    """The changes a configure run made, as it logged them."""
    return [line.split("Harbor API: ", 1)[1] for line in run.stderr.splitlines() if "Harbor API: " in line]


def request_log_mark(harbor):
    """A unique request written to Harbor's request log (``harbor``: its ``container``
    and an ``anonymous`` client), once it is there: the line count."""
    marker = uuid.uuid4().hex
    harbor["anonymous"].request("GET", "/ping", "mark", params={"mark": marker}, accept="text/plain")
    for _ in range(40):
        lines = host_exec(harbor["container"], "cat /var/log/harbor/core.log").splitlines()
        if any(marker in line for line in lines):
            return len(lines)
        time.sleep(0.5)
    raise AssertionError("the marker request never reached /var/log/harbor/core.log")


def writes_between(harbor, start, end):
    """The API write requests of Harbor's request log between two marks."""
    lines = host_exec(harbor["container"], "cat /var/log/harbor/core.log").splitlines()[start:end]
    return [line for line in lines if any(f'"{method} /api/' in line for method in ("POST", "PUT", "PATCH", "DELETE"))]


def lab_check_report(output):
    """Parse the `lab-check <host> <json>` lines of deploys/lab_check.py."""
    lines = [line.strip() for line in output.splitlines()]
    return {line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2]) for line in lines if line.startswith("lab-check ")}


def changed_count(result):
    """Operations that changed something, from a `pyinfra --json -y` run's stdout."""
    return json.loads(result.stdout)["results"]["totals"]["success"]


def harbor_content(lab, harbor_server, tag):
    """A project ``<tag>`` with a robot ``puller`` (by the configure deploy), and an image
    pushed to it from the first docker client (trust and login by the client deploy on
    the first two, as admin)."""
    project = tag
    data = {"harbor_projects": [{"name": project}], "harbor_robots": [{"name": "puller", "project": project}]}
    args = [a for key, value in data.items() for a in ("--data", f"{key}={json.dumps(value)}")]
    run_pyinfra("-y", "inventories/lab.py", "deploys/configure.py", "--limit", "harbor-1", *args)
    clients = [h for h in lab["hosts"] if h["group"] == "docker_clients"][:2]
    client_args = [
        a for key, value in client_data(harbor_server).items() for a in ("--data", f"{key}={json.dumps(value)}")
    ]
    env = {"HARBOR_CLIENT_PASSWORD": harbor_server["admin_password"]().reveal()}
    limits = [a for h in clients for a in ("--limit", h["name"])]
    run_pyinfra("-y", "inventories/lab.py", "deploys/client.py", *limits, *client_args, env=env)
    reference = f"{harbor_server['registry']}/{project}/app:1"
    output = host_exec(
        clients[0]["container"],
        f"head -c 2000000 /dev/urandom > /tmp/{tag}.bin && tar -C /tmp -cf - {tag}.bin | docker import - {reference} "
        f">/dev/null && docker push {reference}",
    )
    return {
        "project": project,
        "robot": f"{project}+puller",
        "reference": reference,
        "digest": next(word for word in output.split() if word.startswith("sha256:")),
        "pusher": clients[0]["container"],
        "puller": clients[1]["container"],
    }


def pulled_digest(container, reference):
    """The digest ``container`` pulls for ``reference``."""
    host_exec(container, f"docker rmi -f {reference} >/dev/null 2>&1; docker pull -q {reference} >/dev/null")
    digests = json.loads(host_exec(container, f"docker image inspect --format '{{{{json .RepoDigests}}}}' {reference}"))
    return next(d.split("@", 1)[1] for d in digests if d.startswith(reference.rsplit(":", 1)[0] + "@"))


# A second Harbor on the lab's first bare host: harbor-1's data, named by its address,
# its secrets in "secrets" beside this inventory (in a test's own folder).
BARE_SERVER_INVENTORY = f"""
import runpy

_lab = runpy.run_path({str(ROOT / "inventories" / "lab.py")!r})
_template = _lab["harbor_servers"][0][1]
_name, _data = _lab["bare_hosts"][0]
_address = _data["lab_address"]
harbor_servers = [(_name, {{**_template, **{{key: value for key, value in _data.items() if key.startswith("ssh_")}},
                            "lab_address": _address, "harbor_hostname": _address,
                            "harbor_tls_extra_sans": [], "harbor_api_url": f"https://{{_address}}:8443",
                            "harbor_secrets_dir": "secrets"}})]
"""


def deploy_bare_server(place, *flags, env=None, data=(), check=True):
    """deploys/server.py on ``place``'s ``inventory.py`` (``BARE_SERVER_INVENTORY``), run
    from ``place``; ``data``: ``(key, value)`` pairs given with ``--data``."""
    args = [arg for key, value in data for arg in ("--data", f"{key}={json.dumps(value)}")]
    inventory, deploy = str(place / "inventory.py"), str(ROOT / "deploys" / "server.py")
    return run_pyinfra(*flags, inventory, deploy, *args, env=env, check=check, cwd=place)


# Accepted: quotes inside, @ ! % # (not after a blank), a backslash, unicode, 128 characters.
SECOND_ADMIN_PASSWORD = "Qu\"o'te@!%ü#x\\y=z(){}[]<>|~^&*+,.;:Ab1-"
SECOND_ADMIN_PASSWORD += "Zz9" * ((128 - len(SECOND_ADMIN_PASSWORD)) // 3)
SECOND_ADMIN_PASSWORD += "Q" * (128 - len(SECOND_ADMIN_PASSWORD))
# No single quote: harbor-db's first start pastes database.password into SQL
# (test_20_server shows it refused); no blank or backslash: core puts it unquoted into
# its database connection string (src/common/dao/pgsql.go).
SECOND_DB_PASSWORD = 'Db@!%é#x=ÿ"end9A`'


@pytest.fixture(scope="session")
def second_harbor(lab, tmp_path_factory):
    """A second Harbor, on the lab's bare-1 (docker installed by the deploy), installed
    by the server deploy with awkward but accepted passwords from the environment
    (test_24_values.py checks they reach Harbor byte-exact); its data named by its
    address, its inventory and secrets in a folder of its own. Later tests of the lane
    take bare-1 over (test_25_adopt.py resets it first); removed at the lane's end."""
    bare = next(h for h in lab["hosts"] if h["group"] == "bare_hosts")
    place = tmp_path_factory.mktemp("second")
    (place / "inventory.py").write_text(BARE_SERVER_INVENTORY)
    host_exec(bare["container"], SERVER_RESET + " 2>/dev/null; true", check=False)
    server = {
        "place": place,
        "container": bare["container"],
        "address": bare["address"],
        "url": f"https://{bare['address']}:8443",
        "secrets": place / "secrets" / bare["address"],
    }
    env = {"HARBOR_ADMIN_PASSWORD": SECOND_ADMIN_PASSWORD, "HARBOR_DB_PASSWORD": SECOND_DB_PASSWORD}
    run = deploy_bare_server(place, "-y", env=env)
    yield {**server, "install": run}
    host_exec(bare["container"], SERVER_RESET, check=False)
