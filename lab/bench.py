"""`make bench`: every timing against the floor of reaching the same hosts.

    python -m lab.bench                       # the full benchmark (N = 1, 5, 10, 20 clients)
    python -m lab.bench --clients 1 --runs 1 --bare 0 --out /tmp/smoke    # what `make test` runs

The floor is ``pyinfra -y <inventory> exec -- true`` on exactly the hosts of a case,
timed in turn with it (floor, case, floor, case, ...) on this shared, noisy machine:
each figure is the median of the pairwise ratios, with min and max. Remote commands
and uploaded bytes are read from the hosts' own journals (sshd logs each command,
sftp-server each file's bytes, see ``lab/images/host-setup.sh``; a streamed upload
logs the bytes it received, ``upload.receive_command``), facts from pyinfra's
``-v`` lines in one extra run: counting changes nothing in what the deploy does.
CPU seconds (user + system) beside each time: on the controller those of the run's
processes (pyinfra, ssh, scp), on the hosts those their containers' cgroups account, per
host; the same for the floor, so the figures read alike on a machine with more cores.
Prints one table and writes ``results.json`` and ``results.png`` to ``--out``.
Benchmarks measure; nothing here asserts a time.
"""

import argparse
import itertools
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harbor_deploy.lib.config.defaults import DEFAULT_VERSION
from harbor_deploy.lib.plan import installer
from harbor_deploy.operations.upload import UPLOAD_LOG_TAG
from lab import labctl
from lab.rootfs import log
from lab.standin import build as standin

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
INVENTORY = "lab/bench_inventory.py"
SERVER = "harbor-1"
# A harbor.yml value that changes nothing but itself: a config change costs prepare + restart.
CONFIG_KEY, CONFIG_VALUES = "harbor_log_rotate_count", (51, 50)
POLL_INTERVAL = 0.1
TARGETS = {
    "server_converged": ("converged server run, × floor", 2.5, "max"),
    "fleet_converged": ("converged fleet of the most clients, × floor", 2.0, "max"),
    "rollout_scaling": ("first rollout time(most) / time(1)", 2.5, "max"),
    "transfer_vs_scp": ("installer upload speed / scp", 0.8, "min"),
}


@dataclass
class Run:
    seconds: float
    controller_cpu: float | None = None  # user + system seconds of the run's processes here
    hosts_cpu: float | None = None  # the same, summed over the hosts' containers
    changes: int = 0
    commands: int | None = None
    uploaded_bytes: int | None = None
    facts: int | None = None


@dataclass
class Case:
    name: str
    hosts: dict
    floors: list = field(default_factory=list)
    runs: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def figures(self):
        ratios = [run.seconds / floor.seconds for run, floor in zip(self.runs, self.floors, strict=False)]
        first = self.runs[0]

        def cpu(runs, key, per=1):
            found = [getattr(run, key) for run in runs if getattr(run, key) is not None]
            return round(statistics.median(found) / per, 3) if found else None

        return {
            "case": self.name,
            "hosts": len(self.hosts),
            "runs": len(self.runs),
            "seconds_median": statistics.median(r.seconds for r in self.runs),
            "floor_median": statistics.median(f.seconds for f in self.floors),
            "controller_cpu_seconds": cpu(self.runs, "controller_cpu"),
            "floor_controller_cpu_seconds": cpu(self.floors, "controller_cpu"),
            "cpu_seconds_per_host": cpu(self.runs, "hosts_cpu", len(self.hosts)),
            "floor_cpu_seconds_per_host": cpu(self.floors, "hosts_cpu", len(self.hosts)),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "changes": first.changes,
            "remote_commands": first.commands,
            "uploaded_bytes": first.uploaded_bytes,
            "facts": first.facts,
            **self.notes,
        }


def containers(hosts):
    return [f"{labctl.PREFIX}-{name}" for name in hosts]


def exec_all(hosts, command):
    """``command`` in every named lab host at once (ground truth, bypassing pyinfra)."""

    def one(container):
        return subprocess.run(
            ["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True, check=False
        )

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, containers(hosts)))


# cpu.stat of each lab host's container cgroup, by container name (None: not found).
# A host made anew (a bare host, between cases) gets another container id: found again.
CPU_STATS = {}


def cpu_stat(container):
    """The cpu.stat of ``container``'s cgroup on this machine: the one above its init
    process (the lab runs them with the host's cgroup namespace) named after its id, in
    the cgroup v2 hierarchy (``/sys/fs/cgroup``, or ``unified/`` beside v1's)."""
    cached = CPU_STATS.get(container)
    if cached is None or not cached.exists():  # not found yet, or the host made anew since
        found = subprocess.run(
            ["docker", "inspect", "-f", "{{.Id}} {{.State.Pid}}", container],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        CPU_STATS[container] = None
        proc = Path(f"/proc/{found[1]}/cgroup") if len(found) == 2 else None
        if proc is not None and proc.exists():
            cgroups = proc.read_text().splitlines()
            unified = next((line[3:] for line in cgroups if line.startswith("0::")), "")
            for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                path = root / unified.lstrip("/")
                while path != root and found[0] not in path.name:
                    path = path.parent
                if found[0] in path.name and (path / "cpu.stat").exists():
                    CPU_STATS[container] = path / "cpu.stat"
                    break
    return CPU_STATS[container]


def hosts_cpu(hosts):
    """CPU seconds the named lab hosts' containers used so far (None when unreadable)."""
    total = 0.0
    for container in containers(hosts):
        path = cpu_stat(container)
        if path is None:
            return None
        try:
            total += int(re.search(r"^usage_usec (\d+)$", path.read_text(), re.M).group(1)) / 1e6
        except FileNotFoundError:  # the host made anew meanwhile
            return None
    return total


def controller_cpu():
    """CPU seconds of this process's finished children (a pyinfra run, scp)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


class CpuMeter:
    """CPU seconds a timed step used here and on ``hosts``, set on ``run`` when done."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.controller, self.remote = controller_cpu(), hosts_cpu(hosts)

    def done(self, run):
        run.controller_cpu = round(controller_cpu() - self.controller, 3)
        remote = hosts_cpu(self.hosts)
        run.hosts_cpu = None if remote is None or self.remote is None else round(remote - self.remote, 3)
        return run


def journal_cursors(hosts):
    return [
        result.stdout.strip().removeprefix("-- cursor: ")
        for result in exec_all(hosts, "journalctl -q -n 0 --show-cursor")
    ]


def journal_counts(hosts, cursors):
    """Remote commands and uploaded bytes since ``cursors``: sshd's commands, the bytes
    sftp-server wrote and those a streamed upload logged it received."""
    commands = uploaded = 0
    for container, cursor in zip(containers(hosts), cursors, strict=True):
        text = subprocess.run(
            ["docker", "exec", container, "journalctl", "-q", "-o", "short", f"--after-cursor={cursor}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        commands += len(re.findall(r"Starting session: command ", text))
        uploaded += sum(int(n) for n in re.findall(r": close .* bytes read \d+ written (\d+)$", text, re.M))
        uploaded += sum(int(n) for n in re.findall(rf"{UPLOAD_LOG_TAG}\[\d+\]: received (\d+) bytes ", text))
    return commands, uploaded


def pyinfra(hosts, *args, count=False, verbose=False, env=None):
    """One pyinfra run on exactly ``hosts`` ({name: role}); fails loudly."""
    cursors = journal_cursors(hosts) if count else None
    env = {**os.environ, **(env or {}), "HD_BENCH_HOSTS": ",".join(f"{name}={role}" for name, role in hosts.items())}
    flags = ["-v"] if verbose else []
    meter = CpuMeter(hosts)
    started = time.monotonic()
    result = subprocess.run(
        [PYINFRA, "-y", *flags, INVENTORY, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    run = meter.done(Run(seconds=time.monotonic() - started))
    if result.returncode != 0:
        raise SystemExit(f"pyinfra {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    total = re.search(r"Grand total\s+\d+\s+(\S+)", result.stdout + result.stderr)  # the table is on stderr
    run.changes = int(total.group(1)) if total and total.group(1).isdigit() else 0
    if count:
        run.commands, run.uploaded_bytes = journal_counts(hosts, cursors)
    if verbose:
        run.facts = (result.stdout + result.stderr).count("Loaded fact")
    return run


def floor(hosts):
    return pyinfra(hosts, "exec", "--", "true")


def measure(case, runs, deploy, *args, prepare=None, count=True):
    """``runs`` pairs of (floor, case); ``prepare()`` before each case run (not timed)."""
    for index in range(runs):
        case.floors.append(floor(case.hosts))
        if prepare:
            prepare(index)
        case.runs.append(pyinfra(case.hosts, deploy, *args, count=count and index == 0))
    if count:
        case.runs[0].facts = pyinfra(case.hosts, deploy, *args, verbose=True).facts if not prepare else None
    return case


def lab_sizes():
    state = labctl.load_state()
    clients = [h["name"] for h in state["hosts"] if h["group"] == "docker_clients"]
    bare = [h["name"] for h in state["hosts"] if h["group"] == "bare_hosts"]
    return state, clients, bare


def registry(state):
    return f"{state['harbor_dns_name']}:8443"


def reset_clients(state, names):
    """Undo a client rollout (HTTPS trust: the certs.d CA and root's login): first-run state."""
    reg = registry(state)
    exec_all(names, f"rm -rf /etc/docker/certs.d/{reg}; docker logout {reg} >/dev/null 2>&1; true")


class Poller:
    """Asks the registry (/v2/, 401 expected) and the API (/api/v2.0/ping, 200) every
    100 ms; the outage is the longest stretch in which either failed."""

    def __init__(self, address, ca):
        self.base, self.ca = f"https://{address}:8443", ca
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def ok(self, path, status):
        try:
            return requests.get(self.base + path, verify=self.ca, timeout=1).status_code == status
        except requests.RequestException:
            return False

    def run(self):
        while not self.stop.is_set():
            at = time.monotonic()
            self.samples.append((at, self.ok("/v2/", 401) and self.ok("/api/v2.0/ping", 200)))
            self.stop.wait(max(0.0, POLL_INTERVAL - (time.monotonic() - at)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def outage(self):
        longest, began = 0.0, None
        for at, ok in self.samples:
            if not ok and began is None:
                began = at
            elif ok and began is not None:
                longest, began = max(longest, at - began), None
        if began is not None:
            longest = max(longest, self.samples[-1][0] - began)
        return {"outage_seconds": round(longest, 2), "failed_polls": sum(1 for _, ok in self.samples if not ok)}


def server_cases(state, runs):
    server = {SERVER: "server"}
    pyinfra(server, "deploys/server.py")  # converge first: the benchmark is the re-run
    yield measure(Case("server converged", server), runs, "deploys/server.py")

    address = next(h["address"] for h in state["hosts"] if h["name"] == SERVER)
    ca = str(labctl.state_dir() / "secrets" / state["harbor_dns_name"] / "ca.crt")
    change = Case("server config change until healthy", server)
    with Poller(address, ca) as poller:
        for index in range(runs):
            change.floors.append(floor(server))
            value = CONFIG_VALUES[index % 2]
            change.runs.append(
                pyinfra(server, "deploys/server.py", "--data", f"{CONFIG_KEY}={value}", count=index == 0)
            )
    change.notes = poller.outage()
    if runs % 2:
        pyinfra(server, "deploys/server.py")  # back to the inventory's value
    yield change


def transfer_case(state, runs):
    """The installer upload (stage alone, bundle removed first) against scp of the same file."""
    server = {SERVER: "server"}
    info = next(h for h in state["hosts"] if h["name"] == SERVER)
    version = DEFAULT_VERSION  # what the lab inventory installs
    bundle = standin.offline_installer(standin.build(), version)
    case = Case("installer upload (× scp)", server)
    env = {"HD_BENCH_BUNDLE": str(bundle), "HD_BENCH_BUNDLE_SHA256": installer.file_hashes(bundle)[1]}
    remove = "rm -f /var/cache/harbor-deploy/harbor-offline-installer-* /tmp/hd-bench-scp.tgz"
    for _ in range(runs):
        exec_all(server, remove)
        meter = CpuMeter(server)
        started = time.monotonic()
        subprocess.run(
            ["scp", "-q", "-i", state["key"], "-o", f"UserKnownHostsFile={state['known_hosts']}",
             "-P", str(info["ssh_port"]), str(bundle), "root@127.0.0.1:/tmp/hd-bench-scp.tgz"],
            check=True,
        )  # fmt: skip
        case.floors.append(meter.done(Run(seconds=time.monotonic() - started)))
        base = floor(server)
        upload = pyinfra(server, "lab/bench_deploys/installer.py", count=True, env=env)
        upload.seconds = max(upload.seconds - base.seconds, 0.001)  # the upload, without reaching the host
        upload.controller_cpu = round(upload.controller_cpu - base.controller_cpu, 3)
        if upload.hosts_cpu is not None and base.hosts_cpu is not None:
            upload.hosts_cpu = round(upload.hosts_cpu - base.hosts_cpu, 3)
        case.runs.append(upload)
    exec_all(server, remove)
    resend = pyinfra(server, "lab/bench_deploys/installer.py", count=True, env=env)
    kept = pyinfra(server, "lab/bench_deploys/installer.py", count=True, env=env)
    case.notes = {
        "bundle_bytes": bundle.stat().st_size,
        "bytes_when_kept": kept.uploaded_bytes,
        "bytes_when_missing": resend.uploaded_bytes,
    }
    return case


def client_cases(state, sizes, runs):
    _, clients, _ = lab_sizes()
    for size in sizes:
        hosts = {name: "client" for name in clients[:size]}
        first = measure(
            Case(f"clients first rollout N={size}", hosts),
            runs,
            "deploys/client.py",
            prepare=lambda _, names=list(hosts): reset_clients(state, names),
        )
        first.notes = {"clients": size}
        yield first
        again = measure(Case(f"clients converged N={size}", hosts), runs, "deploys/client.py")
        again.notes = {"clients": size}
        yield again


def fresh_cases(clients, bare_count):
    """A bare host to a healthy Harbor, and bare hosts to clients (docker installed by the
    deploy): each from a newly created host, once."""
    names = [f"bare-{index}" for index in range(1, bare_count + 1)]
    labctl.recreate(names, clients=clients, bare=bare_count)
    hosts = {name: "client" for name in names}
    case = Case(f"docker-less clients first rollout N={bare_count}", hosts)
    case.floors.append(floor(hosts))
    case.runs.append(pyinfra(hosts, "deploys/client.py", count=True))
    yield case
    labctl.recreate(names[:1], clients=clients, bare=bare_count)
    hosts = {names[0]: "fresh_server"}
    case = Case("server fresh install from a bare host", hosts)
    case.floors.append(floor(hosts))
    case.runs.append(pyinfra(hosts, "deploys/server.py", count=True))
    yield case
    labctl.recreate(names[:1], clients=clients, bare=bare_count)  # bare again, as the lab expects


def targets(rows):
    by_case = {row["case"]: row for row in rows}
    sizes = sorted(row["clients"] for row in rows if row["case"].startswith("clients first"))
    most = sizes[-1]
    transfer = by_case["installer upload (× scp)"]
    found = {
        "server_converged": by_case["server converged"]["ratio_median"],
        "fleet_converged": by_case[f"clients converged N={most}"]["ratio_median"],
        "rollout_scaling": by_case[f"clients first rollout N={most}"]["seconds_median"]
        / by_case["clients first rollout N=1"]["seconds_median"],
        "transfer_vs_scp": 1 / transfer["ratio_median"],
    }
    return {
        key: {
            "what": what,
            "target": bound,
            "value": round(found[key], 2),
            "met": found[key] <= bound if kind == "max" else found[key] >= bound,
        }
        for key, (what, bound, kind) in TARGETS.items()
    }


def table(rows, reached):
    lines = [
        f"{'case':44} {'hosts':>5} {'median s':>9} {'floor s':>8} {'× floor (min-max)':>20} "
        f"{'changes':>7} {'cmds':>5} {'bytes up':>10} {'facts':>5} {'cpu here s':>12} {'cpu/host s':>12}"
    ]
    for row in rows:
        spread = f"{row['ratio_median']:.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"
        counted = ["-" if row[key] is None else row[key] for key in ("remote_commands", "uploaded_bytes", "facts")]
        cpu = [
            "-" if row[key] is None else f"{row[key]:.2f}/{row[f'floor_{key}']:.2f}"
            for key in ("controller_cpu_seconds", "cpu_seconds_per_host")
        ]
        lines.append(
            f"{row['case']:44} {row['hosts']:>5} {row['seconds_median']:9.2f} {row['floor_median']:8.2f} "
            f"{spread:>20} {row['changes']:>7} {counted[0]:>5} {counted[1]:>10} {counted[2]:>5} "
            f"{cpu[0]:>12} {cpu[1]:>12}"
        )
    extra = [row for row in rows if "outage_seconds" in row or "bundle_bytes" in row]
    for row in extra:
        notes = {k: row[k] for k in ("outage_seconds", "failed_polls", "bundle_bytes", "bytes_when_kept") if k in row}
        lines.append(f"  {row['case']}: {notes}")
    lines.append("targets:")
    for item in reached.values():
        lines.append(
            f"  {item['what']}: {item['value']} (target {item['target']}) {'met' if item['met'] else 'MISSED'}"
        )
    return "\n".join(lines)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(7, 4.5))
    for label, prefix in (("first rollout", "clients first rollout"), ("converged", "clients converged")):
        points = sorted(
            (row["clients"], row["seconds_median"], row["floor_median"])
            for row in rows
            if row["case"].startswith(prefix)
        )
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"client deploy, {label}")
    floors = sorted(
        (row["clients"], row["floor_median"]) for row in rows if row["case"].startswith("clients converged")
    )
    axis.plot([p[0] for p in floors], [p[1] for p in floors], marker="s", linestyle="--", label="floor (exec true)")
    axis.set_xlabel("clients (N)")
    axis.set_ylabel("seconds (median)")
    axis.set_title("harbor-deploy client runs against the floor")
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,5,10,20", help="client counts N, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (medians)")
    parser.add_argument(
        "--bare", type=int, default=2, help="bare hosts for the docker-less and fresh cases (0: without those cases)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench"), help="where results.json and results.png go")
    args = parser.parse_args(argv)
    sizes = sorted({int(n) for n in args.clients.split(",")})
    try:
        _, clients, bare = lab_sizes()
    except SystemExit:  # no lab yet
        clients, bare = [], []
    lab_clients, lab_bare = max(len(clients), sizes[-1]), max(len(bare), args.bare)
    log(f"bench: lab with {lab_clients} clients and {lab_bare} bare hosts")
    state = labctl.up(clients=lab_clients, bare=lab_bare)
    pyinfra({SERVER: "server"}, "deploys/server.py")
    pyinfra({SERVER: "server"}, "deploys/configure.py")  # the robot the clients log in as

    rows = []
    cases = itertools.chain(
        server_cases(state, args.runs),
        (transfer_case(state, args.runs) for _ in [None]),
        client_cases(state, sizes, args.runs),
        fresh_cases(lab_clients, args.bare) if args.bare else (),
    )
    for case in cases:  # measured one after the other, each reported when done
        rows.append(case.figures())
        log(f"bench: {case.name}: {rows[-1]['ratio_median']:.2f} × floor")
    reached = targets(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"cases": rows, "targets": reached}, indent=2) + "\n")
    plot(rows, out / "results.png")
    print(table(rows, reached))
    print(f"written: {out / 'results.json'}, {out / 'results.png'}")


if __name__ == "__main__":
    main()
