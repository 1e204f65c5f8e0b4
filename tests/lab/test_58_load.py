"""Load on the lab's Harbor from five clients (trust and login by the client deploy):

- every client builds three images on a base layer they all share (generated the same
  way on each, so the same blob) with layers of its own, one of 256 MiB of random
  data, and all push at the same time; then each pulls the next client's images:
  every push succeeds and every pulled digest equals the pushed one;
- the clients push and pull in a loop while the server deploy re-runs with a config
  change (prepare and a restart of Harbor): what fails during the restart window is
  printed with how long the window lasted, and clients that retry all succeed.

Counts, bytes (images' uncompressed sizes) and throughput are printed (pytest -s).
What the test pushed is removed from the registry afterwards.
"""

import concurrent.futures
import json
import re
import threading
import time

import pytest

from tests.lab.conftest import client_data, host_exec, run_pyinfra

CLIENTS = 5
PROJECT = "library"
REPOSITORY_PREFIX = "hd-load"
WORK = "/var/tmp/hd-load"
MIB = 1024**2
# The base layer: the same bytes on every client (a seeded generator), so one blob.
BASE = f'python3 -c "import random, sys; random.seed(7); sys.stdout.buffer.write(random.randbytes({32 * MIB}))"'
IMAGES = {"small-a": 8 * MIB, "small-b": 8 * MIB, "big": 256 * MIB}
SERVER_DEPLOY = ("inventories/lab.py", "deploys/server.py", "--limit", "harbor-1")
# A client retrying an operation gives up after this long (the restart window is far shorter).
RETRY_FOR = 300


@pytest.fixture(scope="module")
def clients(lab, harbor_server):
    """Five docker clients trusting Harbor and logged in; their load images removed afterwards."""
    found = [(h["name"], h["container"]) for h in lab["hosts"] if h["group"] == "docker_clients"][:CLIENTS]
    assert len(found) == CLIENTS, f"the load test needs {CLIENTS} docker clients, the lab has {len(found)}"
    args = [a for key, value in client_data(harbor_server).items() for a in ("--data", f"{key}={json.dumps(value)}")]
    limits = [a for name, _ in found for a in ("--limit", name)]
    env = {"HARBOR_CLIENT_PASSWORD": harbor_server["admin_password"]().reveal()}
    run_pyinfra("-y", "inventories/lab.py", "deploys/client.py", *limits, *args, env=env)
    yield found
    for _, container in found:
        host_exec(
            container,
            f"rm -rf {WORK}; docker images -q --filter reference='*/*/{REPOSITORY_PREFIX}-*' "
            "| sort -u | xargs -r docker rmi -f >/dev/null",
        )
    storage = "/data/registry/docker/registry/v2/repositories"
    host_exec(harbor_server["container"], f"rm -rf {storage}/{PROJECT}/{REPOSITORY_PREFIX}-*")
    host_exec(
        harbor_server["container"],
        "docker exec registry docker-registry garbage-collect /etc/registry/config.yml >/dev/null",
    )


def reference(harbor_server, client, image, tag="1"):
    return f"{harbor_server['registry']}/{PROJECT}/{REPOSITORY_PREFIX}-{client}-{image}:{tag}"


def in_parallel(function, items):
    with concurrent.futures.ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(function, items))


def build(harbor_server, name, container):
    """The client's images, built with docker's own builder from files made on the client."""
    steps = [f"mkdir -p {WORK} && cd {WORK} && {BASE} > base.bin && touch -d @0 base.bin"]
    for image, size in IMAGES.items():
        steps.append(
            f"mkdir -p {image} && head -c {size} /dev/urandom > {image}/own.bin && cp -p base.bin {image}/ && "
            f"printf 'FROM scratch\\nCOPY base.bin /base.bin\\nCOPY own.bin /own.bin\\n' > {image}/Dockerfile && "
            f"DOCKER_BUILDKIT=0 docker build -q -t {reference(harbor_server, name, image)} {image} >/dev/null"
        )
    host_exec(container, " && ".join(steps))
    return sum(
        int(host_exec(container, f"docker image inspect --format '{{{{.Size}}}}' {reference(harbor_server, name, i)}"))
        for i in IMAGES
    )


def push(container, ref):
    """The digest docker push reports for ``ref``."""
    output = host_exec(container, f"docker push {ref}")
    return re.search(r"digest: (sha256:[0-9a-f]{64})", output).group(1)


def pulled_digest(container, ref):
    host_exec(container, f"docker pull -q {ref} >/dev/null")
    digests = json.loads(host_exec(container, f"docker image inspect --format '{{{{json .RepoDigests}}}}' {ref}"))
    return next(d.split("@", 1)[1] for d in digests if d.startswith(ref.rsplit(":", 1)[0] + "@"))


def layers(container, ref):
    return json.loads(host_exec(container, f"docker image inspect --format '{{{{json .RootFS.Layers}}}}' {ref}"))


def test_five_clients_push_at_once_then_pull_each_others_images(clients, harbor_server):
    sizes = in_parallel(lambda client: build(harbor_server, *client), clients)
    refs = [(container, reference(harbor_server, name, image)) for name, container in clients for image in IMAGES]
    assert len({layers(c, r)[0] for c, r in refs}) == 1  # one base layer under every image

    started = time.monotonic()
    pushed = dict(zip([r for _, r in refs], in_parallel(lambda item: push(*item), refs), strict=True))
    push_seconds = time.monotonic() - started

    pulls = [
        (clients[(i + 1) % CLIENTS][1], r) for i, (name, _) in enumerate(clients) for _, r in refs if f"-{name}-" in r
    ]
    started = time.monotonic()
    pulled = dict(zip([r for _, r in pulls], in_parallel(lambda item: pulled_digest(*item), pulls), strict=True))
    pull_seconds = time.monotonic() - started

    total = sum(sizes)
    print(
        f"\nload: {CLIENTS} clients pushed {len(pushed)} images ({total / MIB:.0f} MiB, one shared base layer) "
        f"at once in {push_seconds:.1f}s ({total / MIB / push_seconds:.1f} MiB/s); "
        f"each pulled the next client's: {len(pulled)} images in {pull_seconds:.1f}s "
        f"({total / MIB / pull_seconds:.1f} MiB/s)"
    )
    assert pulled == pushed


def failure_kind(message):
    """A failed attempt's error without its client, image, addresses or ports."""
    error = message.split(" failed: ", 1)[-1]
    error = re.sub(r'"https://[^"]*?(/v2/|/service/token)[^"]*"', r'"https://…\1…"', error)
    return re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "…", error)


class Loop:
    """One client pushing a new tag and pulling another client's, over and over; a
    failed operation is retried until it succeeds. Records every failure."""

    def __init__(self, harbor_server, name, container, other):
        self.harbor_server, self.name, self.container, self.other = harbor_server, name, container, other
        self.failures, self.operations, self.pushed, self.pushed_after_failing = [], 0, {}, set()
        self.stop = threading.Event()

    def retried(self, action):
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                return action()
            except AssertionError as error:
                self.failures.append((time.monotonic(), str(error).strip().splitlines()[-1]))
                assert time.monotonic() < deadline, f"{self.name}: still failing after {RETRY_FOR}s: {error}"
                time.sleep(1)

    def run(self):
        source = reference(self.harbor_server, self.name, "small-a")
        round_number = 0
        while not self.stop.is_set():
            round_number += 1
            ref = reference(self.harbor_server, self.name, "small-a", f"round-{round_number}")
            host_exec(self.container, f"docker tag {source} {ref}")
            failed_before = len(self.failures)
            self.pushed[ref] = self.retried(lambda r=ref: push(self.container, r))
            if len(self.failures) > failed_before:
                self.pushed_after_failing.add(ref)
            self.retried(lambda: pulled_digest(self.container, reference(self.harbor_server, self.other, "small-a")))
            self.operations += 2


def test_clients_that_retry_succeed_through_a_config_change_restart(clients, harbor_server):
    server = harbor_server["container"]
    started_before = host_exec(server, "docker inspect --format '{{.State.StartedAt}}' registry")
    rotate = int(host_exec(server, "sed -n 's/^ *rotate_count: *//p' /usr/local/harbor/harbor.yml"))
    loops = [
        Loop(harbor_server, name, container, clients[(i + 1) % CLIENTS][0])
        for i, (name, container) in enumerate(clients)
    ]
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        running = [pool.submit(loop.run) for loop in loops]
        time.sleep(5)  # the loops are going before the change
        deploy_started = time.monotonic()
        run_pyinfra("-y", *SERVER_DEPLOY, "--data", f"harbor_log_rotate_count={rotate + 1}")
        deploy_seconds = time.monotonic() - deploy_started
        time.sleep(10)  # and go on after it
        for loop in loops:
            loop.stop.set()
        for future in running:
            future.result()
    assert host_exec(server, "docker inspect --format '{{.State.StartedAt}}' registry") != started_before

    failures = sorted(failure for loop in loops for failure in loop.failures)
    operations = sum(loop.operations for loop in loops)
    window = failures[-1][0] - failures[0][0] if failures else 0.0
    kinds = sorted({failure_kind(message) for _, message in failures})
    print(
        f"\nrestart under load: server deploy took {deploy_seconds:.0f}s; {operations} push/pull operations "
        f"succeeded, {len(failures)} attempts failed within a window of {window:.1f}s and were retried:"
    )
    for kind in kinds:
        print(f"  failed: {kind}")
    # What was pushed through the window (after failed attempts) and last pulls with
    # the digest it was pushed with.
    for loop in loops:
        for ref in loop.pushed_after_failing | {list(loop.pushed)[-1]}:
            assert pulled_digest(clients[0][1], ref) == loop.pushed[ref]
    run_pyinfra("-y", *SERVER_DEPLOY)  # back to the inventory's configuration
