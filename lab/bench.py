"""`make bench`: how long converged (no-op) runs take on the lab, and how many
remote round trips they make (facts and commands, from pyinfra's -v output).

Benchmarks measure; nothing here asserts a time.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
RUNS = 3
CASES = (
    ("server deploy, converged (harbor-1)", ["deploys/server.py", "--limit", "harbor-1"]),
    ("client deploy, converged (all clients)", ["deploys/client.py", "--limit", "docker_clients"]),
    ("status (harbor-1)", ["deploys/status.py", "--limit", "harbor-1"]),
)


def run(args):
    started = time.monotonic()
    result = subprocess.run(
        [PYINFRA, "-y", "-v", "inventories/lab.py", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"pyinfra {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    facts = result.stdout.count("Loaded fact") + result.stderr.count("Loaded fact")
    return elapsed, facts


def main():
    print(f"{'case':42} {'median s':>9} {'min s':>7} {'facts':>6}")
    for label, args in CASES:
        run(args)  # converge first: the benchmark is the no-op run
        timings, facts = zip(*(run(args) for _ in range(RUNS)), strict=False)
        print(f"{label:42} {statistics.median(timings):9.2f} {min(timings):7.2f} {facts[0]:6d}")


if __name__ == "__main__":
    main()
