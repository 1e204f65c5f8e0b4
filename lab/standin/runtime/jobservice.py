"""Harbor's jobservice, where the nodes of one Harbor show it.

    jobservice.py serve    # /etc/jobservice/config.yml and the env prepare wrote

- ``POST /api/v1/jobs`` takes a job from core when it proves itself with
  ``Authorization: Harbor-Secret <CORE_SECRET>`` (src/jobservice/api/authenticator.go
  checks ``config.GetUIAuthSecret()``, this node's CORE_SECRET), else 401; the job goes
  into the Redis queue of ``worker_pool.redis_pool`` (gocraft/work's list
  ``<namespace>:jobs:<job name>``), which every node of one Harbor shares.
- A worker takes the jobs of that queue, whichever node queued them, and runs them
  against this node's core (``CORE_URL``). A replication job reaches the "Local"
  registry with the credential the queueing core put into it (pkg/reg/manager.go):
  the stand-in hands the job to core's ``RUN_PATH`` with it (core does the copy,
  ``harbor_core.jobs``), and reports a refusal through the job status hook.
- GET answers as the idle stand-ins do (``/api/v1/stats``: its health check).

**Test-only switch:** while ``<data_volume>/job_logs/standin-test-no-worker`` exists
(``/var/log/jobs`` here), this node's worker takes no job, so that a test decides which
node runs a job another node queued; real Harbor has nothing like it.
"""

import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

import idle
import redis
import yaml
from go_listener import GoHTTPServer
from harbor_core import cache

CONFIG = "/etc/jobservice/config.yml"
SECRET_PREFIX = "Harbor-Secret "
RUN_PATH = "/service/standin/jobs/replication"
HOOK_PATH = "/service/notifications/jobs/replication/{}"
NO_WORKER = "/var/log/jobs/standin-test-no-worker"
# The job names this stand-in runs.
JOB_NAMES = ("REPLICATION",)


def queue_key(namespace, name):
    return f"{namespace}:jobs:{name}"


def queue(config):
    """(Redis client, namespace) of ``worker_pool.redis_pool`` in config.yml."""
    pool = config["worker_pool"]["redis_pool"]
    return cache.client(pool["redis_url"]), pool["namespace"]


def handler(env, connection, namespace):
    class Handler(idle.http_handler("jobservice")):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/api/v1/jobs":
                return self.answer(404, {"message": "not found"})
            if self.headers.get("Authorization") != SECRET_PREFIX + env.get("CORE_SECRET", ""):
                return self.answer(401, {"code": 401, "message": "unauthorized"})
            job = json.loads(body or b"{}").get("job") or {}
            if job.get("name") not in JOB_NAMES:
                return self.answer(400, {"message": f"job {job.get('name')} is not known"})
            connection.lpush(queue_key(namespace, job["name"]), json.dumps(job["parameters"]))
            return self.answer(202, {"job": {"status": "Pending"}})

        def answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def post(url, payload, authorization=None):
    """(status, text) of a JSON POST."""
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def run_replication(core_url, parameters):
    """One replication job, run against this node's core with the job's "Local" credential."""
    secret = parameters["local_registry"]["credential"]["access_secret"]
    status, text = post(f"{core_url}{RUN_PATH}", parameters, SECRET_PREFIX + secret)
    if status != 200:
        message = f"the job's call to core with the Local registry's credential failed: HTTP {status} {text[:200]}"
        post(f"{core_url}{HOOK_PATH.format(parameters['execution_id'])}", {"status": "Error", "message": message})


def work(env, connection, namespace, no_worker=NO_WORKER):
    """Takes jobs from the shared queue, one at a time, for ever."""
    core_url = env.get("CORE_URL", "http://core:8080").rstrip("/")
    keys = [queue_key(namespace, name) for name in JOB_NAMES]
    while True:
        if os.path.exists(no_worker):
            time.sleep(1)
            continue
        try:
            found = connection.brpop(keys, timeout=2)
        except redis.RedisError as error:
            print(f"jobservice: the queue does not answer: {error}", file=sys.stderr, flush=True)
            time.sleep(2)
            continue
        if found:
            try:
                run_replication(core_url, json.loads(found[1]))
            except (OSError, ValueError, KeyError) as error:
                print(f"jobservice: a job failed: {error}", file=sys.stderr, flush=True)


def main(argv):
    if argv != ["serve"]:
        print(__doc__, file=sys.stderr)
        return 2
    # As PID 1 python ignores SIGTERM: exit on it, so `docker stop` needs no 10s kill timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(CONFIG) as file:
        connection, namespace = queue(yaml.safe_load(file))
    threading.Thread(target=work, args=(os.environ, connection, namespace), daemon=True).start()
    server = GoHTTPServer(("0.0.0.0", idle.SERVICES["jobservice"]), handler(os.environ, connection, namespace))
    print("jobservice stand-in listening on :8080", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
