"""The controller loses Harbor's API mid-way through deploys/configure.py, run after run
at later and later points, until a run gets through: every resource exists once, the
robot's secret logs in, and a run afterwards changes nothing. And two configure runs
at once: the second refuses before changing anything, naming the first (the deploy
lock both take on harbor-1 before their first API write).

The API is lost through a TCP relay of this test's own on loopback, between the
controller and harbor-1:8443. After forwarding the controller's n-th write (a request,
or part of a TLS handshake) it lets Harbor act on it, drops that answer and every
connection, and refuses new ones for the rest of the run. Runs through the relay skip
TLS verification (its address is not in the certificate); TLS trust is tested by
test_40 and test_41, the transport is the subject here.
"""

import contextlib
import json
import socket
import subprocess
import threading
import time
import uuid

import pytest

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api.client import HarborClient
from harbor_deploy.lib.harbor_api.resources import AdminAccess
from tests.conftest import ROOT
from tests.lab.conftest import PYINFRA, changed_count, run_pyinfra
from tests.lab.test_52_faults import lock_taken_by, wait_for

# A run through the relay that still fails after this many cuts never converges.
MAX_RUNS = 30


class ApiRelay:
    """Relays loopback connections to Harbor, each of the controller's writes ``delay``
    seconds late; loses the API after the controller's ``cut_after``-th write (never,
    when None)."""

    def __init__(self, upstream, cut_after=None, delay=0):
        self.upstream, self.cut_after, self.delay = upstream, cut_after, delay
        self.writes = 0
        self.lost = threading.Event()
        self.guard = threading.Lock()
        self.sockets = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                controller, _ = self.listener.accept()
            except OSError:
                return  # lost: the listener is closed, new connections are refused
            harbor = socket.create_connection(self.upstream)
            with self.guard:
                self.sockets += [controller, harbor]
            threading.Thread(target=self._requests, args=(controller, harbor), daemon=True).start()
            threading.Thread(target=self._answers, args=(harbor, controller), daemon=True).start()

    def _requests(self, controller, harbor):
        try:
            while data := controller.recv(65536):
                with self.guard:
                    self.writes += 1
                    cut = self.writes == self.cut_after
                    if cut:
                        self.lost.set()  # from now on no answer reaches the controller
                time.sleep(self.delay)
                harbor.sendall(data)
                if cut:
                    time.sleep(1)  # Harbor acts on the request
                    self.lose()
        except OSError:
            pass

    def _answers(self, harbor, controller):
        try:
            while (data := harbor.recv(65536)) and not self.lost.is_set():
                controller.sendall(data)
        except OSError:
            pass

    def lose(self):
        self.lost.set()
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.guard:
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # already closed by its other end
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def url(self):
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def harbor(harbor_server):
    store = SecretStore(harbor_server["secrets_dir"] / harbor_server["hostname"])
    api = HarborClient(
        f"https://{harbor_server['address']}:{harbor_server['https_port']}", verify=str(store.path("ca.crt"))
    )
    return {**harbor_server, "store": store, "admin": AdminAccess(api, store).client}


@pytest.fixture
def resources(harbor):
    """This test's own projects, user and robots (new names each time), removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    user = {"username": f"cut-{tag}", "email": f"cut-{tag}@lab.internal", "realname": "Cut test"}
    wanted = {
        "harbor_users": [user],
        "harbor_projects": [
            {
                "name": f"cut-{tag}-{n}",
                "members": [{"user": user["username"], "role": "developer"}],
                "retention": {"schedule": "Daily", "rules": [{"template": "latestPushedK", "count": 5}]},
            }
            for n in (1, 2)
        ],
        "harbor_robots": [{"name": f"push{n}", "project": f"cut-{tag}-1"} for n in (1, 2)],
    }
    yield wanted
    absent = {"state": "absent"}
    configure(
        {
            "harbor_robots": [{**robot, **absent} for robot in wanted["harbor_robots"]],
            "harbor_projects": [{"name": p["name"], **absent} for p in wanted["harbor_projects"]],
            "harbor_users": [{**user, **absent}],
        }
    )


def configure_args(data, relay=None):
    if relay:
        data = {**data, "harbor_api_url": relay.url(), "harbor_api_verify": False}
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={json.dumps(value)}")]
    return ["-y", "--json", "inventories/lab.py", "deploys/configure.py", "--limit", "harbor-1", *args]


def configure(data, relay=None, check=True):
    return run_pyinfra(*configure_args(data, relay), check=check)


def exactly_once(items, key, value):
    return [item[key] for item in items].count(value) == 1


def test_configure_cut_again_and_again_converges_without_duplicates(harbor, resources):
    upstream = (harbor["address"], harbor["https_port"])
    cuts, cut_after = [], 4
    while True:
        relay = ApiRelay(upstream, cut_after)
        run = configure(resources, relay, check=False)
        if run.returncode == 0:
            break
        assert relay.lost.is_set(), f"failed without losing the API:\n{run.stderr[-3000:]}"
        assert "ConnectionError" in run.stderr or "Connection" in run.stderr, run.stderr[-3000:]
        cuts.append(cut_after)
        assert len(cuts) < MAX_RUNS, f"no run got through after cuts at writes {cuts}"
        cut_after += 3 + len(cuts)
    print(f"configure: the API lost at write {', '.join(map(str, cuts))} of runs that failed; the next got through")
    assert len(cuts) >= 4

    client = harbor["admin"]()
    user = resources["harbor_users"][0]["username"]
    assert exactly_once(client.list("/users", "users"), "username", user)
    for project in resources["harbor_projects"]:
        found = client.get("/projects", "projects", params={"name": project["name"], "page_size": 100})
        assert exactly_once(found, "name", project["name"])
        [current] = [p for p in found if p["name"] == project["name"]]
        members = client.list(f"/projects/{current['project_id']}/members", "members")
        assert exactly_once(members, "entity_name", user)
        retention = client.get(f"/retentions/{current['metadata']['retention_id']}", "retention")
        assert len(retention["rules"]) == 1
    first = client.get(f"/projects/{resources['harbor_projects'][0]['name']}", "project")
    robots = client.list("/robots", "robots", {"q": f"Level=project,ProjectID={first['project_id']}"})
    for robot in resources["harbor_robots"]:
        name = f"robot${robot['project']}+{robot['name']}"
        assert exactly_once(robots, "name", name)
        secret = harbor["store"].read(f"robots/{robot['project']}+{robot['name']}")
        robot_client = client.with_credentials(name, secret)
        assert robot_client.get(f"/projects/{robot['project']}", "project")["name"] == robot["project"]
    assert changed_count(configure(resources)) == 0


def test_a_second_configure_run_at_once_refuses_naming_the_first(harbor):
    """The first run talks to Harbor through a relay that holds each of its writes a
    second, so it still runs when the second, straight to Harbor, reaches its first
    change: refused on harbor-1's deploy lock before any API write."""
    tag = uuid.uuid4().hex[:6]
    # These projects alone: not the lab inventory's demo robot, whose project this
    # Harbor, installed anew after the upgrade chain, does not have.
    alone = {"harbor_robots": []}
    first_projects = [{"name": f"both-{tag}-{n}"} for n in range(1, 6)]
    second_projects = [{"name": f"both-{tag}-second"}]
    relay = ApiRelay((harbor["address"], harbor["https_port"]), delay=1)
    first = subprocess.Popen(
        [PYINFRA, *configure_args({**alone, "harbor_projects": first_projects}, relay)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: lock_taken_by(first), "the first configure run's lock", timeout=300)
        second = configure({**alone, "harbor_projects": second_projects}, check=False)
    finally:
        output = first.communicate(timeout=600)[0]
    try:
        assert first.returncode == 0, output[-3000:]
        refusal = second.stdout + second.stderr
        assert second.returncode != 0
        assert "another harbor-deploy run holds /run/lock/harbor-deploy" in refusal
        assert f" pid {first.pid} (harbor_configure, started " in refusal and "nothing was changed here" in refusal
        client = harbor["admin"]()
        listed = client.get("/projects", "projects", params={"name": f"both-{tag}", "page_size": 100})
        found = {project["name"] for project in listed}
        assert found == {project["name"] for project in first_projects}  # the second created nothing
        configure({**alone, "harbor_projects": second_projects})  # once the first has ended, the lock is free
    finally:
        gone = [{**project, "state": "absent"} for project in first_projects + second_projects]
        configure({**alone, "harbor_projects": gone})
