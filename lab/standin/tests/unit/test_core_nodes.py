"""Two nodes of one Harbor (each a core and a jobservice, in process, on one PostgreSQL
and one Redis): a job one node queues runs on the other, and a UI session's CSRF token
moves between them, when they hold the same per-run values; with values of their own
(as prepare draws them on each node) both fail, as in real Harbor."""

import threading
import time
from http.server import ThreadingHTTPServer

import pytest
import requests

from lab.standin.tests.in_process import INITIAL_ADMIN_PASSWORD, RunningCore
from lab.standin.tests.support import load_runtime

jobservice = load_runtime("jobservice")
csrf = load_runtime("harbor_core.csrf")
ADMIN = ("admin", INITIAL_ADMIN_PASSWORD)
NAMESPACE = "harbor_job_service_namespace"


def values(seed):
    """Per-run values as prepare draws them on one node (16, 16, 32 characters)."""
    return {"JOBSERVICE_SECRET": seed * 16, "CORE_SECRET": seed.upper() * 16, "CSRF_KEY": seed * 32}


class Node:
    """A core and its jobservice (API always; worker when ``works``)."""

    def __init__(self, tmp_path, backing, redis_server, own, works):
        self.stop_worker = tmp_path / "no-worker"
        if not works:
            self.stop_worker.touch()
        connection = redis_server.client(db=2)
        env = dict(own)
        self.jobs = ThreadingHTTPServer(("127.0.0.1", 0), jobservice.handler(env, connection, NAMESPACE))
        threading.Thread(target=self.jobs.serve_forever, args=(0.05,), daemon=True).start()
        self.core = RunningCore(
            {
                "DATA_DIR": str(tmp_path),
                "HARBOR_ADMIN_PASSWORD": INITIAL_ADMIN_PASSWORD,
                "EXT_ENDPOINT": "https://harbor.test.internal",
                "JOBSERVICE_URL": f"http://127.0.0.1:{self.jobs.server_address[1]}",
                **backing,
                **own,
            }
        )
        env["CORE_URL"] = self.core.url
        worker = threading.Thread(
            target=jobservice.work, args=(env, connection, NAMESPACE, str(self.stop_worker)), daemon=True
        )
        worker.start()

    def stop(self):
        self.stop_worker.touch()
        time.sleep(2.5)  # a worker waiting on the queue gives up within 2 s: it takes no later test's job
        self.jobs.shutdown()
        self.core.stop()


@pytest.fixture
def nodes(tmp_path, core_backing, redis_server, request):
    """(first, second): the first's jobservice takes no job, so the second runs them."""
    first_values, second_values = request.param
    redis_server.client(db=2).flushdb()
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = Node(tmp_path / "one", core_backing, redis_server, first_values, works=False)
    second = Node(tmp_path / "two", core_backing, redis_server, second_values, works=True)
    yield first, second
    first.stop()
    second.stop()


def replicate_through(node):
    """An execution of a policy to another registry, started through ``node``'s API: how it ended."""
    store = node.core.app.store
    registry_id = store.create_registry(
        {"name": "elsewhere", "url": "https://elsewhere.test", "type": "harbor", "insecure": True, "description": ""}
    )
    policy = {
        "name": "out",
        "description": "",
        "creator": "admin",
        "src_registry_id": 0,
        "dest_registry_id": registry_id,
        "dest_namespace": "",
        "dest_namespace_replace_count": -1,
        "filters": [],
        "trigger": {"type": "manual"},
        "deletion": False,
        "override": True,
        "enabled": True,
        "speed": 0,
        "copy_by_chunk": False,
    }
    policy_id = store.save_replication_policy(policy)
    url = f"{node.core.url}/api/v2.0/replication/executions"
    answer = requests.post(url, json={"policy_id": policy_id}, auth=ADMIN, timeout=30)
    assert answer.status_code == 201, answer.text
    deadline = time.monotonic() + 30
    while True:
        [execution] = requests.get(url, params={"policy_id": policy_id}, auth=ADMIN, timeout=30).json()
        if execution["status"] != "InProgress" or time.monotonic() > deadline:
            return execution
        time.sleep(0.2)


def sign_in_moving(first, second):
    """The UI's sign-in on ``second`` with the CSRF token and cookie ``first`` gave."""
    given = requests.get(f"{first.core.url}/c/login", timeout=30)
    token = given.headers[csrf.HEADER]
    cookie = given.cookies[csrf.COOKIE]
    return requests.post(
        f"{second.core.url}/c/login",
        data={"principal": "admin", "password": INITIAL_ADMIN_PASSWORD},
        headers={csrf.HEADER: token},
        cookies={csrf.COOKIE: cookie},
        timeout=30,
    )


@pytest.mark.parametrize("nodes", [(values("a"), values("a"))], indirect=True)
def test_with_shared_values_a_job_queued_on_one_node_runs_on_the_other_and_the_csrf_token_moves(nodes):
    first, second = nodes
    execution = replicate_through(first)
    # Nothing to copy in an empty storage: the job ran, with the Local credential accepted.
    assert (execution["status"], execution["status_text"]) == ("Succeed", "no resources need to be replicated")
    assert ("POST", "/service/standin/jobs/replication") in second.core.received
    assert ("POST", "/service/standin/jobs/replication") not in first.core.received
    assert sign_in_moving(first, second).status_code == 200


@pytest.mark.parametrize("nodes", [(values("a"), values("b"))], indirect=True)
def test_with_values_of_each_node_the_job_and_the_csrf_token_fail_on_the_other_node(nodes):
    first, second = nodes
    execution = replicate_through(first)
    assert execution["status"] == "Failed" and "HTTP 401" in execution["status_text"], execution
    answer = sign_in_moving(first, second)
    assert answer.status_code == 403 and "CSRF token invalid" in answer.text
    assert sign_in_moving(second, second).status_code == 200  # the node's own token works


def test_jobservice_takes_jobs_only_from_its_own_core(redis_server):
    connection = redis_server.client(db=2)
    connection.delete(f"{NAMESPACE}:jobs:REPLICATION")
    server = ThreadingHTTPServer(("127.0.0.1", 0), jobservice.handler({"CORE_SECRET": "s" * 16}, connection, NAMESPACE))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/jobs"
    job = {"job": {"name": "REPLICATION", "parameters": {"execution_id": 1}}}
    try:
        assert requests.post(url, json=job, headers={"Authorization": "Harbor-Secret " + "x" * 16}).status_code == 401
        assert requests.post(url, json=job).status_code == 401
        assert connection.llen(f"{NAMESPACE}:jobs:REPLICATION") == 0
        assert requests.post(url, json=job, headers={"Authorization": "Harbor-Secret " + "s" * 16}).status_code == 202
        assert connection.llen(f"{NAMESPACE}:jobs:REPLICATION") == 1
    finally:
        server.shutdown()


KEY = "k" * 32


def test_csrf_tokens_are_skipped_for_api_clients_given_on_reads_and_checked_on_changes():
    headers, refused = csrf.check(KEY, "POST", "/api/v2.0/projects", {})
    assert (headers, refused) == ({}, None)  # an API client without a session
    given, refused = csrf.check(KEY, "GET", "/c/login", {})
    assert refused is None and given[csrf.HEADER] and given["Set-Cookie"].startswith(f"{csrf.COOKIE}=")
    cookie = given["Set-Cookie"].split(";")[0]
    sent = {"Cookie": cookie, csrf.HEADER: given[csrf.HEADER]}
    assert csrf.check(KEY, "POST", "/c/login", sent)[1] is None
    # A session makes the API checked too.
    assert csrf.check(KEY, "PUT", "/api/v2.0/users/1", {"Cookie": "sid=abc"})[1].status == 403
    assert csrf.check(KEY, "POST", "/c/login", {"Cookie": cookie})[1].message.endswith("not found in request")
    assert csrf.check("o" * 32, "POST", "/c/login", sent)[1].message == "forbidden - CSRF token invalid"
    assert csrf.check("short", "GET", "/c/login", {})[1].status == 500  # a key not of 32 characters
