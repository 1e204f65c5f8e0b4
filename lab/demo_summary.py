"""The closing lines of `make demo`: where Harbor is, and who pushed and pulled what.

Reads the lab hosts directly (ground truth, after the deploys ran).
"""

import subprocess

from lab.labctl import load_state, ssh_command, state_dir

PROJECT = "demo"


def images(container, repository):
    """``{tag: digest}`` of the images of ``repository`` on a lab host."""
    listing = subprocess.run(
        ["docker", "exec", container, "docker", "image", "ls", repository, "--format", "{{.Tag}} {{.ID}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split() for line in listing.splitlines())


def main():
    state = load_state()
    registry = f"{state['harbor_dns_name']}:8443"
    repository = f"{registry}/{PROJECT}/hd-smoke"
    secrets = state_dir() / "secrets" / state["harbor_dns_name"]
    server = next(h for h in state["hosts"] if h["group"] == "harbor_servers")
    print(
        f"\nHarbor is up: https://{server['address']}:8443 from this machine "
        f"(curl --cacert {secrets / 'ca.crt'} https://{server['address']}:8443/api/v2.0/ping)"
    )
    print(f"  inside the lab it is https://{registry}; to use that name here, add this line to /etc/hosts:")
    print(f"    {server['address']} {state['harbor_dns_name']}")
    print(
        f"  admin password: {secrets / 'admin_password_managed'} (rotated by deploys/configure.py; "
        f"the first-start one is {secrets / 'admin_password'})"
    )
    print(f"  robot account robot${PROJECT}+ci: secret in {secrets / 'robots' / (PROJECT + '+ci')}")
    print("Push and pull through Harbor, logged in as the robot:")
    for host in (h for h in state["hosts"] if h["group"] == "docker_clients"):
        tags = images(host["container"], repository)
        pulled = sorted(tag for tag in tags if tag != host["name"])
        print(
            f"  {host['name']}: pushed {repository}:{host['name']}"
            + (f", pulled {', '.join(f'{repository}:{tag}' for tag in pulled)}" if pulled else "")
        )
    print("Into a lab host (make lab-status shows every host and Harbor's health):")
    for host in state["hosts"]:
        print(f"  {host['name']}: {ssh_command(state, host)}")


if __name__ == "__main__":
    main()
