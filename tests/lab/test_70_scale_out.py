"""One Harbor on two nodes (client-3, client-4) sharing PostgreSQL, Redis and
Swift on a backing host (bare-3), behind HAProxy (bare-2) ending TLS; installed from
hosts without Harbor, changed and upgraded one node at a time while a client pushes
and pulls through the load balancer in a loop: not one failed request. The values
prepare draws on every run are the same on both nodes: a job one node queues runs on
the other, a UI session's CSRF token moves between them (and both fail, in a control,
with values of the node's own)."""

import json
import secrets
import subprocess
import time

import pytest

from harbor_deploy.facts.harbor import SharedValueDigests
from harbor_deploy.lib.config.defaults import KEYS_BY_NAME
from harbor_deploy.lib.config.secrets import SecretStore, ensure_private_dir, write_private_file
from harbor_deploy.lib.harbor_api.client import HarborClient
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from harbor_deploy.lib.plan import shared_values
from harbor_deploy.lib.plan.instance_keys import NODE_PATHS
from lab import labctl
from tests.conftest import ROOT
from tests.lab.conftest import SERVER_RESET, changed_count, docker_exec, host_exec, run_pyinfra

NODES = ("client-3", "client-4")
LB, BACKING = "bare-2", "bare-3"
PUSHER, PULLER = "client-1", "client-2"
INSTALLED, UPGRADE_TO = "v2.13.1", "v2.14.0"
# The last schema migration of each release (lab/standin/migrations, as Harbor's make/migrations).
SCHEMA = {INSTALLED: "160", UPGRADE_TO: "170"}
HOSTNAME = "harbor-ha.lab.internal"
# The backing services' passwords, as secrets files: {name: prefix}.
BACKING_SECRETS = {"external_db_password": "Db", "external_redis_password": "Redis", "object_store_key": "Swift"}

INVENTORY = f"""
import runpy

_lab = runpy.run_path({str(ROOT / "inventories" / "lab.py")!r})
_state = _lab["_state"]
_hosts = {{name: data for group in ("docker_clients", "bare_hosts") for name, data in _lab[group]}}


def _reach(name):
    return {{key: value for key, value in _hosts[name].items() if key.startswith("ssh_")}}


_lb = _hosts[{LB!r}]["lab_address"]
_backing = _hosts[{BACKING!r}]["lab_address"]
_harbor = {{
    "harbor_hostname": {HOSTNAME!r},
    "harbor_external_url": "https://{HOSTNAME}:8443",
    # The controller is outside the lab's DNS: it calls the API at the load balancer (at
    # the first node while that is a Harbor of one node, ONE_NODE_INVENTORY).
    "harbor_tls_extra_sans": [_lb, _hosts[{NODES[0]!r}]["lab_address"]],
    "harbor_api_url": f"https://{{_lb}}:8443",
    "harbor_lb_tls": "terminate",
    "harbor_secrets_dir": "secrets",
    "harbor_installer_source": "mirror",
    "harbor_mirror_url": _state["mirror_url"],
    "harbor_installer_sha256": _state["installer_sha256"],
    "harbor_external_database": {{
        "host": _backing, "port": 5432, "db_name": "registry", "username": "harbor", "ssl_mode": "verify-full"
    }},
    "harbor_external_redis": {{"host": f"{{_backing}}:6379"}},
    "harbor_storage_service": {{
        "s3": {{
            "region": "us-east-1",
            "regionendpoint": f"http://{{_backing}}:8080",
            "bucket": "harbor",
            "accesskey": "harbor:registry",
            "secretkey": {{"secret": "object_store_key"}},
            "secure": False,
            "v4auth": True,
        }},
        "redirect": {{"disable": True}},
    }},
    # Only the nodes reach PostgreSQL, Redis and Swift on the backing host.
    "harbor_backing_allowed_sources": [_hosts[name]["lab_address"] for name in {NODES!r}],
}}
harbor_servers = [
    (name, {{**_harbor, **_reach(name), "harbor_node_address": _hosts[name]["lab_address"]}}) for name in {NODES!r}
]
harbor_lb = [({LB!r}, {{**_harbor, **_reach({LB!r})}})]
harbor_backing = [({BACKING!r}, {{**_harbor, **_reach({BACKING!r})}})]
docker_clients = [
    (name, {{**_harbor, **_reach(name), "harbor_client_username": "admin"}}) for name in ({PUSHER!r}, {PULLER!r})
]
"""

# What an earlier session's Harbor left in the backing services (the deploy makes the
# database again): the next session installs its nodes on an empty database.
BACKING_RESET = (
    "if command -v psql >/dev/null; then "
    "runuser -u postgres -- psql -qc 'DROP DATABASE IF EXISTS registry WITH (FORCE)' && "
    "systemctl stop redis-server && rm -f /var/lib/redis/dump.rdb && systemctl start redis-server; fi"
)

# Pushes a new image and pulls it back, over and over, until told to stop; counts
# the rounds that worked and those that failed (with the error kept).
CLIENT_LOOP = r"""
set -u
dir=/tmp/ha-loop; mkdir -p $dir; rm -f $dir/stop $dir/errors; ok=0; failed=0; i=0
while [ ! -e $dir/stop ]; do
  i=$((i + 1)); ref="$REGISTRY/ha/loop:$i"
  head -c 200000 /dev/urandom > $dir/layer
  tar -C $dir -cf - layer | docker import - "$ref" >/dev/null
  if docker push -q "$ref" >/dev/null 2>>$dir/errors && docker rmi -f "$ref" >/dev/null \
     && docker pull -q "$ref" >/dev/null 2>>$dir/errors; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
  docker rmi -f "$ref" >/dev/null 2>&1
  echo "$ok $failed" > $dir/counts
done
echo done > $dir/ended
"""


def container(lab, name):
    return next(h["container"] for h in lab["hosts"] if h["name"] == name)


def address(lab, name):
    return next(h["address"] for h in lab["hosts"] if h["name"] == name)


@pytest.fixture(scope="module")
def scale_out(lab):
    """The lab with a load balancer and a backing host, two clients' Harbor removed
    (and the keys the controller kept of it). The inventory, and
    the secrets (the backing passwords generated once), live with the lab like the
    shared database: a later session finds the same backing services there."""
    state = lab
    place = labctl.state_dir() / "scale-out"
    place.mkdir(exist_ok=True)
    (place / "inventory.py").write_text(INVENTORY)
    store = ensure_private_dir(place / "secrets" / HOSTNAME)
    for name, prefix in BACKING_SECRETS.items():
        if not (store / name).exists():
            write_private_file(store / name, f"{prefix}-{secrets.token_urlsafe(18)}".encode())
    for name in NODES:
        host_exec(container(state, name), SERVER_RESET)
    # The keys the controller kept of the Harbor just wiped: the one installed next on
    # the first node makes its own, which the nodes take when it grows.
    for name in (*NODE_PATHS, shared_values.KEEP_NAME):
        (store / name).unlink(missing_ok=True)
    host_exec(container(state, BACKING), BACKING_RESET)
    lb = address(state, LB)
    yield {"lab": state, "place": place, "lb": lb, "registry": f"{HOSTNAME}:8443"}
    for name in NODES:  # plain clients again, for the next session
        host_exec(container(state, name), SERVER_RESET, check=False)


def deploy(scale_out, entry, *args, env=None, check=True):
    """``deploys/<entry>`` on the scaled-out Harbor's inventory, run from its folder."""
    inventory, entry_file = str(scale_out["place"] / "inventory.py"), str(ROOT / "deploys" / entry)
    return run_pyinfra("-y", "--json", inventory, entry_file, *args, env=env, cwd=scale_out["place"], check=check)


def data_args(*data):
    return [arg for key, value in data for arg in ("--data", f"{key}={json.dumps(value)}")]


def admin(scale_out):
    directory = scale_out["place"] / "secrets" / HOSTNAME
    api = HarborClient(f"https://{scale_out['lb']}:8443", None, None, verify=str(directory / "ca.crt"))
    return AdminAccess(api, SecretStore(directory)).client()


def lb_states(scale_out):
    """{(backend, node): (status, current sessions)} as HAProxy reports them."""
    stat = host_exec(
        container(scale_out["lab"], LB), "echo 'show stat' | socat stdio unix-connect:/run/haproxy/admin.sock"
    )
    rows = [line.split(",") for line in stat.splitlines() if line and not line.startswith("#")]
    return {(row[0], row[1]): (row[17], int(row[4] or 0)) for row in rows if row[1] in NODES}


def lb_counters(scale_out):
    """The load balancer's failure counters since it started: 5xx answers sent to
    clients, and request, connection and response errors."""
    stat = host_exec(
        container(scale_out["lab"], LB), "echo 'show stat' | socat stdio unix-connect:/run/haproxy/admin.sock"
    )
    header = stat.splitlines()[0].lstrip("# ").split(",")
    totals = dict.fromkeys(("hrsp_5xx", "ereq", "econ", "eresp"), 0)
    for line in stat.splitlines()[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("svname") in ("FRONTEND", "BACKEND"):
            for field in totals:
                totals[field] += int(row.get(field) or 0)
    return totals


def wait_lb(scale_out, node, status, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {key: value for key, value in lb_states(scale_out).items() if key[1] == node}
        if found and all(value[0] == status for value in found.values()):
            return
        time.sleep(1)
    raise AssertionError(f"{node} not {status} on the load balancer: {lb_states(scale_out)}")


def core_started(scale_out, node):
    return host_exec(container(scale_out["lab"], node), "docker inspect -f '{{.State.StartedAt}}' harbor-core")


def running_version(scale_out, node):
    return host_exec(container(scale_out["lab"], node), "readlink /usr/local/harbor").rsplit("-", 1)[1]


# The first node alone, as the guide installs Harbor: its own database and disk. The
# first client reaches it directly.
ONE_NODE_INVENTORY = """
import runpy

_cluster = runpy.run_path({cluster!r})
_shared = ("harbor_external_database", "harbor_external_redis", "harbor_storage_service", "harbor_lb_tls",
           "harbor_backing_allowed_sources")
_one = {{key: value for key, value in _cluster["_harbor"].items() if key not in _shared}}
_name, _node = _cluster["harbor_servers"][0]
_one["harbor_api_url"] = f"https://{{_node['harbor_node_address']}}:8443"
harbor_servers = [(_name, {{**_one, **{{k: v for k, v in _node.items() if k.startswith("ssh_")}}}})]
docker_clients = [
    (name, {{**_one, **{{k: v for k, v in data.items() if k.startswith("ssh_")}}, "harbor_client_username": "admin"}})
    for name, data in _cluster["docker_clients"] if name == {pusher!r}
]
"""


def resolve(scale_out, names, target):
    """``names`` (clients) resolve the Harbor's name to ``target``'s address; docker
    bind-mounts /etc/hosts: rewritten in place."""
    where = address(scale_out["lab"], target)
    for name in names:
        host_exec(
            container(scale_out["lab"], name),
            f"grep -v ' {HOSTNAME}$' /etc/hosts > /tmp/hosts; echo '{where} {HOSTNAME}' >> /tmp/hosts; "
            "cat /tmp/hosts > /etc/hosts",
        )


@pytest.fixture(scope="module")
def grown(scale_out):
    """The first node installed alone from a host without Harbor, the way the guide
    does, an image pushed to it; then the backing services, and that Harbor grown into
    them (planned with --dry, refused without the hostname, confirmed): the image
    pushed, (reference, digest)."""
    one_node = scale_out["place"] / "one-node.py"
    one_node.write_text(ONE_NODE_INVENTORY.format(cluster=str(scale_out["place"] / "inventory.py"), pusher=PUSHER))
    lone = lambda entry, *args, **kwargs: run_pyinfra(  # noqa: E731
        "-y", str(one_node), str(ROOT / "deploys" / entry), *args, cwd=scale_out["place"], **kwargs
    )
    lone("server.py")
    directory = scale_out["place"] / "secrets" / HOSTNAME
    api = HarborClient(
        f"https://{address(scale_out['lab'], NODES[0])}:8443", None, None, verify=str(directory / "ca.crt")
    )
    client = AdminAccess(api, SecretStore(directory)).client()
    resolve(scale_out, [PUSHER], NODES[0])
    lone("client.py", env={"HARBOR_CLIENT_PASSWORD": client.session.auth.password.reveal()})
    client.post("/projects", "project", {"project_name": "ha", "metadata": {"public": "false"}})
    pushed = push(scale_out, "grown")
    deploy(scale_out, "backing.py")
    grow = data_args(("harbor_grow_from", NODES[0]))
    confirm = data_args(("harbor_grow_hostname", HOSTNAME))
    planned = run_pyinfra(
        "--dry", str(scale_out["place"] / "inventory.py"), str(ROOT / "deploys" / "grow.py"), *grow, *confirm,
        cwd=scale_out["place"],
    )  # fmt: skip
    assert "Stop Harbor, dump its database, copy its registry's files into harbor" in planned.stdout + planned.stderr
    assert host_exec(container(scale_out["lab"], NODES[0]), "systemctl is-active harbor.service") == "active"
    refused = deploy(scale_out, "grow.py", *grow, check=False)
    assert refused.returncode != 0 and "must repeat harbor_hostname" in refused.stdout + refused.stderr
    deploy(scale_out, "grow.py", *grow, *confirm)
    return pushed


@pytest.fixture(scope="module")
def installed(scale_out, grown):
    """The grown Harbor: both nodes and the load balancer (the second node from a host
    without Harbor); then the two clients trust it through the load balancer and log in."""
    deploy(scale_out, "server.py")
    resolve(scale_out, [PUSHER, PULLER], LB)
    client = admin(scale_out)
    password = client.session.auth.password.reveal()
    deploy(scale_out, "client.py", env={"HARBOR_CLIENT_PASSWORD": password})
    return password


def test_two_nodes_install_one_after_the_other_behind_the_load_balancer(scale_out, installed):
    for node in NODES:
        wait_lb(scale_out, node, "UP")
        assert running_version(scale_out, node) == "v2.13.1"
    # One at a time: the second node's core started after the first one's.
    assert core_started(scale_out, NODES[0]) < core_started(scale_out, NODES[1])


def test_every_node_holds_the_same_instance_keys(scale_out, installed):
    digests = {
        node: host_exec(
            container(scale_out["lab"], node), "sha256sum " + " ".join(f"/data/{path}" for path in NODE_PATHS.values())
        )
        for node in NODES
    }
    assert digests[NODES[0]] == digests[NODES[1]] and len(digests[NODES[0]].splitlines()) == 3


def value_digests(scale_out, node):
    """{env file: {key: digest}} of the per-run values in the node's generated
    configuration, and {container: {key: digest}} of those its containers run with."""
    fact = SharedValueDigests()
    lab_host = container(scale_out["lab"], node)
    files = fact.process(host_exec(lab_host, fact.command("/usr/local/harbor")).splitlines())
    running = {}
    for name in ("harbor-core", "harbor-jobservice", "registryctl"):
        env = json.loads(host_exec(lab_host, f"docker inspect -f '{{{{json .Config.Env}}}}' {name}"))
        pairs = dict(item.split("=", 1) for item in env)
        running[name] = {key: shared_values.digest(pairs[key]) for key in shared_values.LENGTHS if key in pairs}
    return files, running


def assert_same_per_run_values(scale_out):
    """Every node's env files and containers hold the values this Harbor keeps on the
    controller (compared by digest)."""
    kept = scale_out["place"] / "secrets" / HOSTNAME / shared_values.KEEP_NAME
    wanted = shared_values.digests(shared_values.parse(kept.read_bytes()))
    for node in NODES:
        files, running = value_digests(scale_out, node)
        assert set(files) == set(shared_values.ENV_FILES)
        assert shared_values.differences(wanted, files) == []
        assert running["harbor-core"] == wanted
        for name in ("harbor-jobservice", "registryctl"):
            assert running[name] == {key: wanted[key] for key in ("CORE_SECRET", "JOBSERVICE_SECRET")}


def test_every_node_holds_the_same_per_run_values_and_logs_jobs_in_the_database(scale_out, installed):
    assert_same_per_run_values(scale_out)
    for node in NODES:
        loggers = host_exec(container(scale_out["lab"], node), "grep -A3 'job_loggers:' /usr/local/harbor/harbor.yml")
        assert "- DB" in loggers


def push(scale_out, tag):
    """A new image pushed from the first client through the load balancer: its digest."""
    reference = f"{scale_out['registry']}/ha/app:{tag}"
    output = host_exec(
        container(scale_out["lab"], PUSHER),
        f"head -c 1000000 /dev/urandom > /tmp/{tag}.bin && tar -C /tmp -cf - {tag}.bin | docker import - {reference} "
        f">/dev/null && docker push {reference}",
    )
    return reference, next(word for word in output.split() if word.startswith("sha256:"))


def pulled(scale_out, reference):
    """Pulled afresh by the second client: the digest it got."""
    found = host_exec(
        container(scale_out["lab"], PULLER),
        f"docker rmi -f {reference} >/dev/null 2>&1; docker pull {reference} | grep -o 'sha256:[0-9a-f]*'",
    )
    return found.splitlines()[0]


def test_pushed_through_the_load_balancer_pulled_by_another_client_stored_in_swift(scale_out, installed):
    reference, digest = push(scale_out, "one")
    assert pulled(scale_out, reference) == digest
    for node in NODES:  # the layers are in the object store, on no node
        found = host_exec(container(scale_out["lab"], node), f"find /data/registry -path '*{digest[7:]}*' | wc -l")
        assert found == "0"


def test_a_one_node_harbor_grown_into_two_nodes_serves_its_images_with_the_same_digests(scale_out, grown):
    reference, digest = grown
    assert pulled(scale_out, reference) == digest


def curl_on_lb(scale_out, node, path, config):
    """``path`` of Harbor's URL, answered by ``node`` itself (curl on the load balancer,
    verifying the certificate as the load balancer does); ``config``: curl options on stdin."""
    url = f"https://{scale_out['lb']}:8443{path}"
    target = f"{scale_out['lb']}:8443:{address(scale_out['lab'], node)}:8443"
    return docker_exec(
        container(scale_out["lab"], LB),
        f"curl -sS -o /dev/stdout -w '\\n%{{http_code}}' -K - --cacert /etc/haproxy/harbor-nodes-ca.crt "
        f"--connect-to {target} '{url}'",
        stdin=config,
    ).stdout.rsplit("\n", 1)


def test_a_token_one_node_issues_opens_the_other_nodes_registry(scale_out, installed):
    reference, _ = push(scale_out, "token")
    scope = "repository:ha/app:pull"
    body, status = curl_on_lb(
        scale_out, NODES[0], f"/service/token?service=harbor-registry&scope={scope}", f'user = "admin:{installed}"\n'
    )
    assert status == "200", body
    token = json.loads(body)["token"]
    _, status = curl_on_lb(scale_out, NODES[1], "/v2/ha/app/tags/list", f'header = "Authorization: Bearer {token}"\n')
    assert status == "200"
    # The control: the second node refuses a token signed by another key.
    _, status = curl_on_lb(
        scale_out, NODES[1], "/v2/ha/app/tags/list", 'header = "Authorization: Bearer e30.e30.e30"\n'
    )
    assert status == "401"


def status(scale_out):
    """deploys/status.py over the whole inventory: {host: report}, and its exit code."""
    inventory, entry_file = str(scale_out["place"] / "inventory.py"), str(ROOT / "deploys" / "status.py")
    result = run_pyinfra("-y", inventory, entry_file, check=False, cwd=scale_out["place"])
    lines = [
        line.split("harbor-status ", 1)[1]
        for line in (result.stdout + result.stderr).splitlines()
        if "harbor-status " in line
    ]
    return {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in lines}, result.returncode


def test_status_shows_every_node_the_load_balancers_view_and_the_backing_services(scale_out, installed):
    reports, code = status(scale_out)
    assert code == 0 and set(reports) == {*NODES, LB, BACKING}
    assert all(reports[node]["health"] == "healthy" and not reports[node]["problems"] for node in NODES)
    assert {node for nodes in reports[LB]["load_balancer"].values() for node in nodes} == set(NODES)
    assert reports[BACKING]["backing"] == {"postgresql": True, "redis": True, "swift": True}


def reaches(lab, source, target, port):
    """Whether a TCP connection from host ``source`` to ``target``:``port`` is accepted."""
    answer = host_exec(
        container(lab, source),
        f"timeout 5 bash -c '</dev/tcp/{address(lab, target)}/{port}' 2>/dev/null && echo open || echo closed",
    )
    return answer == "open"


def test_the_backing_services_answer_the_nodes_only(scale_out, installed):
    lab = scale_out["lab"]
    for port in (5432, 6379, 8080):
        assert reaches(lab, NODES[0], BACKING, port), port  # the control: a node gets in
        assert not reaches(lab, PUSHER, BACKING, port), port  # a host of the lab outside the sources does not
        assert not reaches(lab, LB, BACKING, port), port


def test_the_backing_host_runs_no_swift_daemon_in_a_restart_loop(scale_out, installed):
    """Debian's packages enable sharder, container sync and reconstructor, which exit at
    start without a section of their own: the deploy stops and disables them; every
    other Swift daemon runs without systemd restarting it."""
    backing = container(scale_out["lab"], BACKING)
    states = host_exec(
        backing,
        "for u in swift-container-sharder swift-container-sync swift-object-reconstructor; do "
        "echo $u $(systemctl is-enabled $u) $(systemctl is-active $u); done",
    )
    assert all(line.split()[1:] == ["disabled", "inactive"] for line in states.splitlines()), states
    assert host_exec(backing, "systemctl list-units --failed --plain --no-legend 'swift*'") == ""
    restarts = host_exec(
        backing, "for u in $(systemctl list-units --plain --no-legend --state=running 'swift*' | cut -d' ' -f1); do "
        "echo $u $(systemctl show -P NRestarts $u); done",
    ).splitlines()  # fmt: skip
    assert len(restarts) >= 13 and all(int(line.split()[1]) < 3 for line in restarts), restarts


def test_the_backing_host_keeps_the_database_password_in_no_file(scale_out, installed):
    password = (scale_out["place"] / "secrets" / HOSTNAME / "external_db_password").read_text().strip()
    backing = container(scale_out["lab"], BACKING)
    # grep reads the password on stdin (-f -): never on a command line.
    found = docker_exec(backing, "grep -rlFf - /etc /root /var/lib/postgresql /tmp || true", stdin=password + "\n")
    assert found.stdout.strip() == ""
    assert host_exec(backing, "ls /etc/harbor-backing/postgres-role.sql 2>&1 || true").endswith(
        "No such file or directory"
    )
    # The files that must hold a secret: each readable by its service alone.
    modes = host_exec(
        backing,
        "stat -c '%n %a %U %G' /etc/harbor-backing/redis.conf /etc/swift/proxy-server.conf /etc/swift/swift.conf "
        "/etc/harbor-backing/postgresql.key",
    ).splitlines()
    assert modes == [
        "/etc/harbor-backing/redis.conf 600 redis redis",
        "/etc/swift/proxy-server.conf 640 root swift",
        "/etc/swift/swift.conf 640 root swift",
        "/etc/harbor-backing/postgresql.key 600 postgres postgres",
    ]


# Run by the stand-in core's Python on a node: a connection to the backing host's
# PostgreSQL verified as core's is (sslmode verify-full, the system roots its start
# rebuilt), under the name given; no password, so what fails is TLS or the login.
VERIFY_FULL = """
import sys, psycopg2
name, address = sys.argv[1], sys.argv[2]
try:
    psycopg2.connect(host=name, hostaddr=address, port=5432, user="harbor", dbname="registry",
                     sslmode="verify-full", sslrootcert="/etc/ssl/certs/ca-certificates.crt", connect_timeout=5)
except psycopg2.OperationalError as error:
    print(str(error).strip().splitlines()[-1])
"""


def test_the_nodes_reach_postgresql_over_tls_verifying_its_certificate_and_name(scale_out, installed):
    lab, backing = scale_out["lab"], address(scale_out["lab"], BACKING)
    for node in NODES:
        env = host_exec(container(lab, node), "cat /usr/local/harbor/common/config/core/env")
        assert "POSTGRESQL_SSLMODE=verify-full" in env.splitlines()
        core = f"docker exec harbor-core python3 -c '{VERIFY_FULL}'"
        # The certificate verified, the name matching: the server then asks for the password.
        assert "password" in host_exec(container(lab, node), f"{core} {backing} {backing}")
        # The control: the same server under a name its certificate does not hold.
        assert "does not match host name" in host_exec(container(lab, node), f"{core} backing.invalid {backing}")
    # Every connection of core's role on the backing host is TLS, from a node.
    sessions = host_exec(
        container(lab, BACKING),
        'runuser -u postgres -- psql -d postgres -Atc "select client_addr, ssl from pg_stat_activity '
        "join pg_stat_ssl using (pid) where usename = 'harbor'\"",
    ).splitlines()
    nodes = {address(lab, node) for node in NODES}
    assert sessions and all(line.split("|")[0] in nodes and line.split("|")[1] == "t" for line in sessions)


def test_haproxy_serves_as_its_own_user_in_a_chroot_with_a_private_admin_socket(scale_out, installed):
    lb = container(scale_out["lab"], LB)
    # The master (root) only starts and reloads; the workers, children of it, serve.
    master = host_exec(lb, "systemctl show -p MainPID --value haproxy.service")
    workers = host_exec(lb, f"ps -o pid=,user= --ppid {master}").split("\n")
    assert workers and all(line.split()[1] == "haproxy" for line in workers), workers
    for line in workers:
        assert host_exec(lb, f"readlink /proc/{line.split()[0]}/root") == "/var/lib/haproxy"
    assert host_exec(lb, "stat -c '%a %U' /run/haproxy/admin.sock") in ("600 root", "600 haproxy")


def test_files_the_packages_installed_are_kept_as_first_found(scale_out, installed):
    lb = container(scale_out["lab"], LB)
    config = "/etc/haproxy/haproxy.cfg"
    ours = host_exec(lb, f"cat {config}")
    # As on a host where the package's file was never replaced yet (no copy kept).
    host_exec(lb, f"rm -f {config}.harbor-deploy-orig && printf '# as the package shipped it\\n' > {config}")
    deploy(scale_out, "server.py")
    assert host_exec(lb, f"cat {config}.harbor-deploy-orig") == "# as the package shipped it"
    assert host_exec(lb, f"cat {config}") == ours
    # Replaced again later (changed by hand here): the first copy is kept, never overwritten.
    host_exec(lb, f"printf '# changed by hand\\n' > {config}")
    deploy(scale_out, "server.py")
    assert host_exec(lb, f"cat {config}.harbor-deploy-orig") == "# as the package shipped it"
    assert host_exec(lb, f"cat {config}") == ours
    # The backing host's pg_hba.conf, replaced by an earlier run: kept as first found.
    backing, hba = container(scale_out["lab"], BACKING), "/etc/postgresql/17/main/pg_hba.conf"
    assert host_exec(backing, f"cat {hba}.harbor-deploy-orig") != host_exec(backing, f"cat {hba}")


def test_a_stopped_node_is_taken_out_pulls_go_on_and_status_says_so(scale_out, installed):
    reference, digest = push(scale_out, "stop")
    node = container(scale_out["lab"], NODES[0])
    host_exec(node, "systemctl stop harbor.service")
    try:
        wait_lb(scale_out, NODES[0], "DOWN")
        for _ in range(3):
            assert pulled(scale_out, reference) == digest
        reports, code = status(scale_out)
        assert code != 0 and f"node {NODES[0]} is DOWN in harbor_https" in reports[LB]["problems"]
        assert reports[NODES[1]]["problems"] == []
    finally:
        host_exec(node, "systemctl start harbor.service")
    wait_lb(scale_out, NODES[0], "UP", timeout=300)


# The stand-in's test-only switch: this node's jobservice takes no job from the queue.
NO_WORKER = "/data/job_logs/standin-test-no-worker"


@pytest.fixture(scope="module")
def replication_policy(scale_out, installed):
    """A replication policy from this Harbor to itself reached through the load balancer
    (a policy needs one remote side; the stand-in's core reads no layer in the object
    store, so its executions copy nothing): its id."""
    client = admin(scale_out)
    if not [item for item in client.list("/registries", "registries") if item["name"] == "self"]:
        url = f"https://{scale_out['lb']}:8443"
        client.post("/registries", "registry", {"name": "self", "type": "harbor", "url": url, "insecure": True})
    [registry] = [item for item in client.list("/registries", "registries") if item["name"] == "self"]
    found = [item for item in client.list("/replication/policies", "policies") if item["name"] == "to-self"]
    if not found:
        client.post(
            "/replication/policies",
            "policy",
            {
                "name": "to-self",
                "dest_registry": {"id": registry["id"]},
                "dest_namespace": "ha-copy",
                "filters": [{"type": "name", "value": "ha/app"}],
                "trigger": {"type": "manual"},
                "enabled": True,
            },
        )
        found = [item for item in client.list("/replication/policies", "policies") if item["name"] == "to-self"]
    return found[0]["id"]


def job_through_first_node(scale_out, policy_id, password):
    """A replication execution started through the first node (its core queues the job)
    and run by the second node's jobservice (the first one's takes none meanwhile): the
    execution as it ended."""
    first = container(scale_out["lab"], NODES[0])
    host_exec(first, f"touch {NO_WORKER} && sleep 3")  # a worker waiting on the queue gives up within 2 s
    try:
        body, status = curl_on_lb(
            scale_out,
            NODES[0],
            "/api/v2.0/replication/executions",
            f'user = "admin:{password}"\nrequest = "POST"\nheader = "Content-Type: application/json"\n'
            f'data = "{{\\"policy_id\\": {policy_id}}}"\n',
        )
        assert status == "201", body
        client = admin(scale_out)
        deadline = time.monotonic() + 60
        while True:
            [execution, *_] = client.get("/replication/executions", "executions", params={"policy_id": policy_id})
            if execution["status"] != "InProgress" or time.monotonic() > deadline:
                return execution
            time.sleep(1)
    finally:
        host_exec(first, f"rm -f {NO_WORKER}")


def csrf_login(scale_out, password):
    """The UI's sign-in on the second node with the CSRF token and cookie the first node
    gave: the HTTP status."""
    lb = container(scale_out["lab"], LB)
    url = f"https://{scale_out['lb']}:8443/c/login"
    options = f"--cacert /etc/haproxy/harbor-nodes-ca.crt -c /tmp/csrf-jar -b /tmp/csrf-jar {url}"
    via = {node: f"--connect-to {scale_out['lb']}:8443:{address(scale_out['lab'], node)}:8443" for node in NODES}
    host_exec(lb, f"rm -f /tmp/csrf-jar; curl -sS -o /dev/null -D /tmp/csrf-headers {via[NODES[0]]} {options}")
    token = host_exec(lb, "grep -i '^x-harbor-csrf-token:' /tmp/csrf-headers | cut -d' ' -f2 | tr -d '\\r'")
    assert token
    answer = docker_exec(
        lb,
        f"curl -sS -o /dev/null -w '%{{http_code}}' -H 'X-Harbor-CSRF-Token: {token}' "
        f"--data-urlencode principal=admin --data-urlencode password@- {via[NODES[1]]} {options}",
        stdin=password,
    )
    return answer.stdout


def test_a_job_one_node_queues_runs_on_the_other_and_a_csrf_token_moves(scale_out, installed, replication_policy):
    execution = job_through_first_node(scale_out, replication_policy, installed)
    assert execution["status"] == "Succeed", execution
    assert csrf_login(scale_out, installed) == "200"


def node_values(scale_out, node, values):
    """``values`` ({key: value}) written into the node's generated configuration and its
    containers recreated with them, as if prepare had drawn them there (no restart of
    harbor.service, which writes the shared values back)."""
    lab_host = container(scale_out["lab"], node)
    edits = " ".join(f"-e 's/^{key}=.*/{key}={value}/'" for key, value in values.items())
    host_exec(
        lab_host,
        f"cd /usr/local/harbor/common/config && sed -i {edits} core/env jobservice/env registryctl/env && "
        "docker compose -p harbor -f /usr/local/harbor/docker-compose.yml up -d >/dev/null 2>&1",
    )
    wait_containers_healthy(scale_out, node)


def wait_containers_healthy(scale_out, node, timeout=180):
    lab_host = container(scale_out["lab"], node)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = host_exec(
            lab_host, "docker inspect -f '{{.State.Health.Status}}' harbor-core harbor-jobservice nginx", check=False
        )
        if states.split() == ["healthy"] * 3:
            return
        time.sleep(2)
    raise AssertionError(f"{node}: Harbor's containers not healthy: {states}")


def test_with_values_of_its_own_a_node_fails_the_job_and_the_csrf_token_until_restarted(
    scale_out, installed, replication_policy
):
    second = container(scale_out["lab"], NODES[1])
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    own = {key: "".join(secrets.choice(alphabet) for _ in range(n)) for key, n in shared_values.LENGTHS.items()}
    node_values(scale_out, NODES[1], own)
    try:
        execution = job_through_first_node(scale_out, replication_policy, installed)
        assert execution["status"] == "Failed" and "HTTP 401" in execution["status_text"], execution
        assert csrf_login(scale_out, installed) == "403"
        reports, code = status(scale_out)
        assert code != 0 and any("differ from the ones every node" in p for p in reports[NODES[1]]["problems"])
        assert reports[NODES[0]]["problems"] == []
    finally:
        # A restart (as after prepare) writes the shared values back before the containers start.
        host_exec(second, "systemctl restart harbor.service")
        wait_containers_healthy(scale_out, NODES[1])
        wait_lb(scale_out, NODES[1], "UP", timeout=300)
    assert_same_per_run_values(scale_out)
    assert job_through_first_node(scale_out, replication_policy, installed)["status"] == "Succeed"
    assert csrf_login(scale_out, installed) == "200"


@pytest.fixture
def client_loop(scale_out, installed):
    """The first client pushing and pulling through the load balancer in a loop while
    the test runs; yields a function stopping it and returning (rounds ok, failed,
    errors, the load balancer's new failure counters)."""
    pusher = container(scale_out["lab"], PUSHER)
    host_exec(pusher, "rm -rf /tmp/ha-loop")
    before = lb_counters(scale_out)
    subprocess.run(
        ["docker", "exec", "-d", "-e", f"REGISTRY={scale_out['registry']}", pusher, "bash", "-c", CLIENT_LOOP],
        check=True,
    )

    def stop():
        host_exec(pusher, "touch /tmp/ha-loop/stop")
        deadline = time.monotonic() + 120
        while host_exec(pusher, "cat /tmp/ha-loop/ended 2>/dev/null", check=False) != "done":
            assert time.monotonic() < deadline, "the client loop did not end"
            time.sleep(1)
        ok, failed = (int(n) for n in host_exec(pusher, "cat /tmp/ha-loop/counts").split())
        errors = host_exec(pusher, "cat /tmp/ha-loop/errors", check=False)
        after = lb_counters(scale_out)
        return ok, failed, errors, {field: after[field] - before[field] for field in after}

    yield stop
    host_exec(pusher, "touch /tmp/ha-loop/stop", check=False)


def rolling(scale_out, client_loop, *data):
    started = {node: core_started(scale_out, node) for node in NODES}
    args = [arg for key, value in data for arg in ("--data", f"{key}={json.dumps(value)}")]
    result = deploy(scale_out, "server.py", *args)
    ok, failed, errors, counters = client_loop()
    print(f"client loop during the rolling change: {ok} rounds ok, {failed} failed; load balancer: {counters}")
    assert ok > 0 and failed == 0, errors
    assert counters == dict.fromkeys(counters, 0)
    restarted = {node: core_started(scale_out, node) for node in NODES}
    assert all(restarted[node] != started[node] for node in NODES)
    # One at a time: the second node restarted after the first one was back.
    assert restarted[NODES[0]] < restarted[NODES[1]]
    return result


def test_a_rolling_configuration_change_fails_no_request(scale_out, client_loop):
    rolling(scale_out, client_loop, ("harbor_log_level", "debug"))
    assert all(running_version(scale_out, node) == "v2.13.1" for node in NODES)
    assert_same_per_run_values(scale_out)  # prepare drew new ones on each node


# Takes a node's HTTPS port as soon as its Harbor lets it go (its upgrade stops it), as
# another service on the host would: the new release's install.sh then fails, its
# containers unable to publish the port. Started and stopped by the test, by its pid.
PORT_HOLDER = """
import os, socket, time
open("/tmp/ha-port-holder.pid", "w").write(str(os.getpid()))
holder = socket.socket()
# As docker-proxy does: the closed connections of the port's last listener (TIME_WAIT)
# don't stop the bind, a listener does.
holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
while True:
    try:
        holder.bind(("0.0.0.0", 8443))
        break
    except OSError:
        time.sleep(0.05)
holder.listen(16)
open("/tmp/ha-port-holder.bound", "w").write("yes")
while True:
    holder.accept()[0].close()
"""


def schema(scale_out):
    return host_exec(
        container(scale_out["lab"], BACKING),
        "runuser -u postgres -- psql -d registry -Atc 'select version, dirty from schema_migrations'",
    )


def admin_state(scale_out, node):
    """The node's administrative state on the load balancer's HTTPS backend (HAProxy's
    srv_admin_state bits: 0x08 drained by the runtime API)."""
    lines = host_exec(
        container(scale_out["lab"], LB),
        "echo 'show servers state harbor_https' | socat stdio unix-connect:/run/haproxy/admin.sock",
    ).splitlines()
    row = next(line.split() for line in lines if len(line.split()) > 6 and line.split()[3] == node)
    return int(row[6])


@pytest.fixture(scope="module")
def before_upgrade(scale_out, installed):
    """An image pushed before the failed upgrade: (reference, digest)."""
    return push(scale_out, "before-upgrade")


def test_an_upgrade_whose_second_node_fails_leaves_the_first_serving_and_the_second_drained(
    scale_out, before_upgrade, client_loop
):
    second = container(scale_out["lab"], NODES[1])
    host_exec(second, "rm -f /tmp/ha-port-holder.*")
    subprocess.run(["docker", "exec", "-d", second, "python3", "-c", PORT_HOLDER], check=True)
    try:
        result = deploy(
            scale_out,
            "server.py",
            *data_args(("harbor_log_level", "debug"), ("harbor_version", UPGRADE_TO)),
            check=False,
        )
        ok, failed, errors, counters = client_loop()
        held = host_exec(second, "cat /tmp/ha-port-holder.bound", check=False)
    finally:
        host_exec(second, "kill $(cat /tmp/ha-port-holder.pid)", check=False)
    print(f"client loop during the failed upgrade: {ok} rounds ok, {failed} failed; load balancer: {counters}")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and held == "yes", output[-6000:]
    assert "This node of several stays drained, Harbor stopped on it" in output, output[-6000:]
    assert ok > 0 and failed == 0, errors
    assert counters == dict.fromkeys(counters, 0)
    # The first node serves the new release on the migrated database; the second one,
    # on it too, is stopped and stays drained (its older release could not start).
    assert running_version(scale_out, NODES[0]) == UPGRADE_TO
    wait_lb(scale_out, NODES[0], "UP")
    assert schema(scale_out) == f"{SCHEMA[UPGRADE_TO]}|f"
    assert running_version(scale_out, NODES[1]) == UPGRADE_TO
    assert host_exec(second, "systemctl is-active harbor.service", check=False) != "active"
    assert admin_state(scale_out, NODES[1]) & 0x08
    # The backing host dumped the shared database before the first node migrated it.
    dump = host_exec(
        container(scale_out["lab"], BACKING),
        "ls /var/backups/harbor-deploy/harbor-db-*Z-before-upgrade.pgdump | tail -n1",
    )
    migrations = host_exec(
        container(scale_out["lab"], BACKING),
        f"pg_restore -a -t schema_migrations -f - {dump} | sed -n '/^COPY/{{n;p}}'",
    )
    assert migrations.split()[0] == SCHEMA[INSTALLED]


def test_the_cluster_rollback_needs_the_hostname_then_brings_every_node_and_the_data_back(scale_out, before_upgrade):
    back = ("harbor_version", INSTALLED)
    backing = container(scale_out["lab"], BACKING)
    safety_dumps = "ls /var/backups/harbor-deploy/ | grep 'Z-before-rollback.pgdump$'; true"
    before = set(host_exec(backing, safety_dumps).split())
    refused = deploy(scale_out, "rollback.py", *data_args(back), check=False)
    assert refused.returncode != 0
    assert "must repeat harbor_hostname" in refused.stdout + refused.stderr
    assert running_version(scale_out, NODES[0]) == UPGRADE_TO  # nothing changed
    deploy(scale_out, "rollback.py", *data_args(back, ("harbor_rollback_hostname", HOSTNAME)))
    assert schema(scale_out) == f"{SCHEMA[INSTALLED]}|f"
    for node in NODES:
        assert running_version(scale_out, node) == INSTALLED
        wait_lb(scale_out, node, "UP")
        assert admin_state(scale_out, node) & 0x08 == 0
    # The safety dump keeps the database as the rollback found it (on a reused lab the
    # oldest ones give way: harbor_backup_keep of them are kept).
    after = set(host_exec(backing, safety_dumps).split())
    (safety,) = after - before
    assert len(after) <= KEYS_BY_NAME["harbor_backup_keep"].default
    migrations = host_exec(
        backing,
        f"pg_restore -a -t schema_migrations -f - /var/backups/harbor-deploy/{safety} | sed -n '/^COPY/{{n;p}}'",
    )
    assert migrations.split()[0] == SCHEMA[UPGRADE_TO]
    reference, digest = before_upgrade
    assert pulled(scale_out, reference) == digest


def test_a_rolling_upgrade_fails_no_request_and_migrates_the_shared_database(scale_out, client_loop):
    rolling(scale_out, client_loop, ("harbor_log_level", "debug"), ("harbor_version", UPGRADE_TO))
    assert all(running_version(scale_out, node) == UPGRADE_TO for node in NODES)
    assert schema(scale_out) == f"{SCHEMA[UPGRADE_TO]}|f"  # v2.14.0's last migration, finished
    assert_same_per_run_values(scale_out)


def test_backup_dumps_the_shared_database_once_and_each_node_its_own_files(scale_out, installed):
    inventory, entry_file = str(scale_out["place"] / "inventory.py"), str(ROOT / "deploys" / "backup.py")
    result = run_pyinfra("-y", inventory, entry_file, cwd=scale_out["place"])
    assert "the registry's layers are not in this backup" in result.stdout + result.stderr
    copies = scale_out["place"] / "harbor-backups"
    dump = max((copies / BACKING).glob("harbor-db-*.pgdump"))
    tables = subprocess.run(
        ["docker", "exec", "-i", container(scale_out["lab"], BACKING), "pg_restore", "--list"],
        input=dump.read_bytes(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "TABLE public project " in tables and "TABLE public robot " in tables
    for node in NODES:
        manifest = json.loads(max((copies / node).glob("harbor-*/manifest.json")).read_text())
        assert manifest["database"].startswith("external: not in this backup")


def test_a_second_run_changes_nothing(scale_out, installed):
    data = [("harbor_log_level", "debug"), ("harbor_version", UPGRADE_TO)]
    args = [arg for key, value in data for arg in ("--data", f"{key}={json.dumps(value)}")]
    assert changed_count(deploy(scale_out, "server.py", *args)) == 0
    assert changed_count(deploy(scale_out, "backing.py")) == 0
