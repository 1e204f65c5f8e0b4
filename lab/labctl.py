"""Lab of real hosts for harbor-deploy: systemd containers reached over SSH.

    python -m lab.labctl up      # create or reuse the lab (idempotent)
    python -m lab.labctl down    # remove containers, network, volumes, state
    python -m lab.labctl status  # print the state file

Hosts are Debian trixie containers booting systemd as PID 1 with sshd, firewalld
and (except the ``bare-*`` hosts) docker.io with the compose v2 plugin. Images are
built once from a debootstrap rootfs and tagged by a hash of their recipe, so a
changed recipe rebuilds them and an unchanged one is reused.

Environment: ``LAB_CLIENTS`` (default 2), ``LAB_BARE`` (docker-less hosts,
default 1), ``LAB_STATE_DIR`` (default ``~/.local/state/harbor-deploy-lab``),
``LAB_PREFIX`` (container/network/volume name prefix, default ``hd-lab``),
``LAB_MIRROR_PORT`` (loopback port of the release mirror, default 18480).
"""

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harbor_deploy.lib.plan import installer
from lab.rootfs import SUITE, apt_install, chroot_run, debootstrap, docker, image_exists, import_rootfs, log, run
from lab.standin import build as standin

LAB_DIR = Path(__file__).resolve().parent
SETUP_SCRIPT = LAB_DIR / "images" / "host-setup.sh"
PREFIX = os.environ.get("LAB_PREFIX", "hd-lab")
NETWORK = PREFIX
LABEL = f"harbor-deploy-lab={PREFIX}"
# The DNS name Harbor is served under in the lab (a reserved private-use TLD).
HARBOR_DNS_NAME = "harbor.lab.internal"
# slapd: the directory a Harbor in LDAP auth mode signs in against (tests/lab/test_63_ldap.py
# starts it with the lab's tree on one host; its own service stays off).
BASE_PACKAGES = (
    "systemd systemd-sysv libpam-systemd dbus openssh-server firewalld iproute2 "
    "ca-certificates curl sudo procps less slapd"
).split()
DOCKER_PACKAGES = ["docker.io", "docker-cli", "docker-compose"]
RUN_FLAGS = [
    "--cap-add",
    "ALL",
    "--cap-drop",
    "SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "--cgroupns=host",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
]
BOOT_TIMEOUT = 120
# systemd in each lab host holds about 9 inotify instances (PID 1, journald, logind,
# dbus, dockerd...): with the kernel's default of 128 per user, a 20-client lab does
# not boot. Hosts are started this many at a time.
INOTIFY_PER_HOST = 12
INOTIFY_MARGIN = 32
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
PARALLEL_BOOTS = 6
# Non-root SSH users of every host (see images/host-setup.sh): sudo without and with a password.
SUDO_USERS = ("ops", "opspw")
PASSWORD_SUDO_USER = "opspw"
MIRROR_PORT = int(os.environ.get("LAB_MIRROR_PORT", 18480))


@dataclass
class LabHost:
    name: str
    group: str
    docker: bool
    ssh_port: int = 0
    address: str = ""
    dns_names: tuple = ()

    @property
    def container(self):
        return f"{PREFIX}-{self.name}"

    @property
    def volume(self):
        return f"{self.container}-docker"


def state_dir():
    default = Path.home() / ".local" / "state" / f"harbor-deploy-lab-{PREFIX}"
    return Path(os.environ.get("LAB_STATE_DIR", default))


def planned_hosts(clients=None, bare=None):
    """The hosts a lab of this size holds, in inventory order."""
    clients = int(os.environ.get("LAB_CLIENTS", 2) if clients is None else clients)
    bare = int(os.environ.get("LAB_BARE", 1) if bare is None else bare)
    if clients < 1 or bare < 0:
        raise SystemExit("LAB_CLIENTS must be >= 1 and LAB_BARE >= 0")
    hosts = [LabHost("harbor-1", "harbor_servers", True, dns_names=(HARBOR_DNS_NAME,))]
    hosts += [LabHost(f"client-{i}", "docker_clients", True) for i in range(1, clients + 1)]
    hosts += [LabHost(f"bare-{i}", "bare_hosts", False) for i in range(1, bare + 1)]
    return hosts


def recipe_hash():
    digest = hashlib.sha256()
    for part in (
        SUITE,
        " ".join(BASE_PACKAGES),
        " ".join(DOCKER_PACKAGES),
        " ".join(RUN_FLAGS),
        SETUP_SCRIPT.read_text(),
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


def image_tag(docker):
    return f"harbor-deploy-lab/host:{recipe_hash()}-{'docker' if docker else 'bare'}"


# --- docker engine on the controller -------------------------------------------

DOCKERD_PIDFILE = Path("/var/run/docker.pid")
CONTAINERD_PIDFILE = Path("/var/run/docker/containerd/containerd.pid")


def pidfile_process(path):
    """The command name of the live process a pid file names, or None.

    A killed dockerd whose parent is gone may linger as a zombie: that is not live.
    """
    try:
        stat = Path(f"/proc/{int(path.read_text())}/stat").read_text()
    except (OSError, ValueError):
        return None
    name, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
    return None if state in "ZX" else name


def ensure_dockerd():
    """Start dockerd when it is not answering, clearing leftovers of a killed one."""
    if run("docker", "info", check=False).returncode == 0:
        return
    if not shutil.which("dockerd"):
        raise SystemExit("dockerd not found: install docker.io (make deps does)")
    # Lab hosts run dockerd too, so only this machine's pid file tells whether ours runs.
    if pidfile_process(DOCKERD_PIDFILE) != "dockerd":
        # A killed dockerd leaves pid files whose numbers may now belong to other
        # processes; dockerd and its containerd then refuse to start.
        for stale in (DOCKERD_PIDFILE, CONTAINERD_PIDFILE):
            stale.unlink(missing_ok=True)
        log("starting dockerd in the background (log: /var/log/harbor-deploy-lab-dockerd.log)")
        with open("/var/log/harbor-deploy-lab-dockerd.log", "ab") as out:
            subprocess.Popen(["dockerd"], stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    for _ in range(60):
        if run("docker", "info", check=False).returncode == 0:
            return
        time.sleep(1)
    raise SystemExit("dockerd did not answer within 60s (see /var/log/harbor-deploy-lab-dockerd.log)")


# --- images ----------------------------------------------------------------------


def docker_debs():
    """The package files the docker image's packages came with, beyond the bare image's:
    what a docker-less host needs, which the lab serves as an internal repository."""
    return standin.cache_dir() / "docker-debs" / recipe_hash()


def build_images():
    """Build both host images from one debootstrap when either is missing (or the
    docker packages they were built with are)."""
    tags = {docker_flag: image_tag(docker_flag) for docker_flag in (False, True)}
    if all(image_exists(tag) for tag in tags.values()) and any(docker_debs().glob("*.deb")):
        return tags
    boot = ['CMD ["/sbin/init"]', "ENV container=docker"]
    with debootstrap(BASE_PACKAGES) as root:
        (root / "tmp/host-setup.sh").write_text(SETUP_SCRIPT.read_text())
        chroot_run(root, "sh /tmp/host-setup.sh && rm /tmp/host-setup.sh")
        import_rootfs(root, tags[False], boot)
        apt_install(root, DOCKER_PACKAGES, keep_debs=docker_debs())
        import_rootfs(root, tags[True], boot)
    return tags


# --- hosts -----------------------------------------------------------------------


def ensure_ssh_key(directory):
    key_path = directory / "id_ed25519"
    if not key_path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        (directory / "id_ed25519.pub").write_text(public.decode() + " harbor-deploy-lab\n")
    return key_path


def ensure_network():
    if docker("network", "inspect", NETWORK, check=False).returncode != 0:
        docker("network", "create", "--label", LABEL, NETWORK)


def container_info(host):
    result = docker("container", "inspect", host.container, check=False)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def system_state(host):
    result = docker("exec", host.container, "systemctl", "is-system-running", check=False)
    return result.stdout.strip()


def wait_booted(host, timeout=BOOT_TIMEOUT, degraded_ok=False):
    """Whether ``host`` boots to a running systemd with sshd up: "degraded" (a unit
    failed) counts only with ``degraded_ok`` (a host in use whose unit a test made fail
    is still that host; a new one that boots degraded is not sound)."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = system_state(host)
        if state == "running" or (state == "degraded" and degraded_ok):
            ssh_up = (
                docker("exec", host.container, "systemctl", "is-active", "ssh", check=False).stdout.strip() == "active"
            )
            if ssh_up:
                return True
        elif state == "degraded":
            break
        time.sleep(1)
    failed = docker("exec", host.container, "systemctl", "--failed", "--no-legend", check=False).stdout.strip()
    log(f"{host.name}: system state {state or 'unknown'}; failed units: {failed or 'none'}")
    return False


def as_built(host):
    """A bare host stays bare: a deploy that installed docker on it made it a new host."""
    has_docker = docker("exec", host.container, "sh", "-c", "command -v dockerd", check=False).returncode == 0
    return has_docker == host.docker


def start_container(host, image, pubkey_path):
    docker("volume", "create", "--label", LABEL, host.volume)
    args = [
        "run",
        "-d",
        "--name",
        host.container,
        "--hostname",
        host.name,
        "--label",
        LABEL,
        "--network",
        NETWORK,
        "--network-alias",
        host.name,
        "--restart",
        "unless-stopped",
        "--stop-signal",
        "SIGRTMIN+3",
        "-p",
        "127.0.0.1::22",
        "-v",
        f"{host.volume}:/var/lib/docker",
        "-v",
        f"{pubkey_path}:/root/.ssh/authorized_keys:ro",
    ]
    for user in SUDO_USERS:
        args += ["-v", f"{pubkey_path}:/home/{user}/.ssh/authorized_keys:ro"]
    for alias in host.dns_names:
        args += ["--network-alias", alias]
    docker(*args, *RUN_FLAGS, image)


def ensure_host(host, image, pubkey_path):
    """Reuse a healthy container of the right image; otherwise (re)create it."""
    info = container_info(host)
    if info and info["Config"]["Image"] == image:
        if not info["State"]["Running"]:
            log(f"{host.name}: starting stopped container")
            docker("start", host.container, check=False)
        if wait_booted(host, degraded_ok=True) and as_built(host):
            log(f"{host.name}: reused")
            return
        log(f"{host.name}: not healthy or no longer as built, recreating")
    elif info:
        log(f"{host.name}: image changed, recreating")
    if info:
        # The docker state goes with the rest: a new root filesystem beside an old
        # dockerd state (containers bind-mounting paths that are gone) is no real host.
        docker("rm", "-f", host.container)
        docker("volume", "rm", "-f", host.volume)
    for attempt in (1, 2):
        start_container(host, image, pubkey_path)
        if wait_booted(host):
            log(f"{host.name}: created")
            return
        if attempt == 1:  # a unit that failed at boot on a loaded machine: once more, from scratch
            log(f"{host.name}: did not boot cleanly, creating it again")
            docker("rm", "-f", host.container)
            docker("volume", "rm", "-f", host.volume)
    raise SystemExit(f"{host.name} did not boot to a running systemd within {BOOT_TIMEOUT}s")


def inotify_instances_in_use():
    """inotify instances held by the processes this user can see (lab hosts' included)."""
    count = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            count += sum(1 for fd in fd_dir.iterdir() if os.readlink(fd) == "anon_inode:inotify")
        except OSError:
            continue  # gone, or not ours to read
    return count


def ensure_inotify_instances(new_hosts):
    """Raise the per-user inotify instance limit only when booting ``new_hosts`` more
    would exhaust it; say exactly what to change when it is not writable here."""
    if not new_hosts:
        return
    current = int(INOTIFY_LIMIT.read_text())
    needed = inotify_instances_in_use() + INOTIFY_PER_HOST * new_hosts + INOTIFY_MARGIN
    if current >= needed:
        return
    try:
        INOTIFY_LIMIT.write_text(f"{needed}\n")
    except OSError as error:
        raise SystemExit(
            f"{new_hosts} more lab hosts need more inotify instances than fs.inotify.max_user_instances={current} "
            f"allows ({error.strerror}): run `sysctl -w fs.inotify.max_user_instances={needed}` as root"
        ) from None
    log(
        f"raised fs.inotify.max_user_instances from {current} to {needed}: {new_hosts} more lab hosts (systemd in each)"
    )


def ensure_sudo_password(directory):
    """The lab's password for sudo as ``PASSWORD_SUDO_USER`` (generated once, 0600)."""
    path = directory / "sudo_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18) + "\n")
        path.chmod(0o600)
    return path


def set_sudo_password(host, password_file):
    """Give the sudo user its password (from stdin: never on a command line)."""
    password = password_file.read_text().strip()
    subprocess.run(
        ["docker", "exec", "-i", host.container, "chpasswd"],
        input=f"{PASSWORD_SUDO_USER}:{password}\n",
        text=True,
        check=True,
        capture_output=True,
    )


def read_host_details(host):
    info = container_info(host)
    host.ssh_port = int(info["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
    host.address = info["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
    host_key = docker("exec", host.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout
    return f"[127.0.0.1]:{host.ssh_port} {' '.join(host_key.split()[:2])}"


def wait_ssh(host, key_path, known_hosts, timeout=30):
    """Prove the controller reaches the host's sshd with the lab key and host key."""
    import paramiko

    deadline = time.monotonic() + timeout
    while True:
        client = paramiko.SSHClient()
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                "127.0.0.1",
                port=host.ssh_port,
                username="root",
                key_filename=str(key_path),
                look_for_keys=False,
                allow_agent=False,
                timeout=5,
            )
            client.close()
            return
        except (paramiko.SSHException, OSError) as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"{host.name}: SSH on 127.0.0.1:{host.ssh_port} failed: {error}") from None
            time.sleep(1)


def mirror_answers(url):
    try:
        with urllib.request.urlopen(f"{url}/repos/goharbor/harbor/releases/latest", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def ensure_mirror(directory, root):
    """Serve the stand-in releases on loopback; reuse a running mirror of this root."""
    url = f"http://127.0.0.1:{MIRROR_PORT}"
    pidfile, rootfile = directory / "mirror.pid", directory / "mirror.root"
    running = pidfile_process(pidfile) is not None
    if running and rootfile.exists() and rootfile.read_text() == str(root) and mirror_answers(url):
        return url
    stop_mirror(directory)
    with open(directory / "mirror.log", "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lab.mirror", "--root", str(root), "--port", str(MIRROR_PORT)],
            cwd=LAB_DIR.parent,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pidfile.write_text(str(process.pid))
    rootfile.write_text(str(root))
    for _ in range(50):
        if mirror_answers(url):
            log(f"release mirror on {url}")
            return url
        time.sleep(0.2)
    raise SystemExit(f"release mirror did not answer on {url} (see {directory / 'mirror.log'})")


def forget_stale_installers(releases, mirror_url):
    """A rebuilt stand-in re-publishes the same tags, which real releases never do:
    drop the controller's cached installers of those tags (from this lab's mirror
    only) when their md5sum differs."""
    source = installer.source_key({"harbor_installer_source": "mirror", "harbor_mirror_url": mirror_url})
    for version in standin.VERSIONS:
        cached = installer.default_cache_dir() / source / version
        published = releases / standin.RELEASE_PATH / version / "md5sum"
        if (cached / "md5sum").exists() and (cached / "md5sum").read_text() != published.read_text():
            shutil.rmtree(cached)


def installer_pins(releases):
    """{version: sha256} of each stand-in offline installer in ``releases``: the lab's
    mirror is plain HTTP, so the lab inventory pins what was built here."""
    return {
        version: installer.file_hashes(standin.offline_installer(releases, version))[1] for version in standin.VERSIONS
    }


def stop_mirror(directory):
    pidfile = directory / "mirror.pid"
    if pidfile_process(pidfile) is not None:
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    pidfile.unlink(missing_ok=True)


def lab_containers():
    return docker("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}").stdout.split()


def up(clients=None, bare=None):
    ensure_dockerd()
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = ensure_ssh_key(directory)
    tags = build_images()
    releases = standin.build()
    forget_stale_installers(releases, f"http://127.0.0.1:{MIRROR_PORT}")
    mirror_url = ensure_mirror(directory, releases)
    ensure_network()
    hosts = planned_hosts(clients, bare)
    wanted = {host.container for host in hosts}
    stale = set(lab_containers()) - wanted
    if lab_standin(directory) not in (None, releases.name):
        # Its hosts hold Harbors of another stand-in build under the same version tags,
        # which a deploy would never replace: they start anew.
        log("the stand-in Harbor was rebuilt: every host of this lab is made anew")
        stale |= set(lab_containers())
    for extra in stale:
        log(f"removing {extra} ({'not in this lab' if extra not in wanted else 'an older stand-in'})")
        docker("rm", "-f", "-v", extra)
        docker("volume", "rm", "-f", f"{extra}-docker", check=False)
    sudo_password = ensure_sudo_password(directory)
    running = set(lab_containers())
    ensure_inotify_instances(sum(1 for host in hosts if host.container not in running))

    def ready(host):
        ensure_host(host, tags[host.docker], directory / "id_ed25519.pub")
        set_sudo_password(host, sudo_password)

    with ThreadPoolExecutor(PARALLEL_BOOTS) as pool:
        list(pool.map(ready, hosts))  # list(): a host that failed to boot raises here
    known_hosts = directory / "known_hosts"
    known_hosts.write_text("".join(read_host_details(host) + "\n" for host in hosts))
    for host in hosts:
        wait_ssh(host, key_path, known_hosts)
    state = {
        "key": str(key_path),
        "known_hosts": str(known_hosts),
        "network": NETWORK,
        "sudo_users": list(SUDO_USERS),
        "sudo_password_file": str(sudo_password),
        "harbor_dns_name": HARBOR_DNS_NAME,
        "mirror_url": mirror_url,
        "harbor_versions": list(standin.VERSIONS),
        "standin": releases.name,
        "installer_sha256": installer_pins(releases),
        "hosts": [{**asdict(host), "container": host.container} for host in hosts],
    }
    (directory / "hosts.json").write_text(json.dumps(state, indent=2) + "\n")
    log(f"lab ready: {', '.join(h.name + ':' + str(h.ssh_port) for h in hosts)}")
    return state


def lab_standin(directory):
    """The stand-in build this lab's hosts were last brought up with, or None."""
    try:
        return json.loads((directory / "hosts.json").read_text()).get("standin")
    except (OSError, ValueError):
        return None


def recreate(names, clients=None, bare=None):
    """Hosts ``names`` as new: their containers and volumes go, ``up`` boots them
    again from the image (a bare host without docker, a client without any deploy)."""
    for host in planned_hosts(clients, bare):
        if host.name in names:
            docker("rm", "-f", "-v", host.container, check=False)
            docker("volume", "rm", "-f", host.volume, check=False)
    return up(clients, bare)


def down():
    if run("docker", "info", check=False).returncode != 0:
        ensure_dockerd()
    for name in lab_containers():
        docker("rm", "-f", "-v", name)
    volumes = docker("volume", "ls", "-q", "--filter", f"label={LABEL}").stdout.split()
    if volumes:
        docker("volume", "rm", "-f", *volumes)
    if docker("network", "inspect", NETWORK, check=False).returncode == 0:
        docker("network", "rm", NETWORK)
    if state_dir().exists():
        stop_mirror(state_dir())
    shutil.rmtree(state_dir(), ignore_errors=True)
    log("lab removed (images kept as build cache)")


def load_state():
    path = state_dir() / "hosts.json"
    if not path.exists():
        raise SystemExit(f"no lab state at {path}: run `make lab-up` first")
    return json.loads(path.read_text())


def ssh_command(state, host, user="root"):
    """How to reach a lab host from the controller, as pyinfra does."""
    return (
        f"ssh -i {state['key']} -o UserKnownHostsFile={state['known_hosts']} " f"-p {host['ssh_port']} {user}@127.0.0.1"
    )


def harbor_health(host):
    """Harbor's own health answer on a lab server, read on the server; None without Harbor."""
    answer = docker(
        "exec",
        host["container"],
        "sh",
        "-c",
        "curl -sk --max-time 5 https://127.0.0.1:8443/api/v2.0/health "
        "|| curl -s --max-time 5 http://127.0.0.1:8081/api/v2.0/health",
        check=False,
    ).stdout
    try:
        health = json.loads(answer)
    except ValueError:
        return None
    unhealthy = [c["name"] for c in health.get("components", []) if c.get("status") != "healthy"]
    return health.get("status", "unknown") + (f" (unhealthy: {', '.join(unhealthy)})" if unhealthy else "")


def status():
    """Each lab host: container and systemd state, how to SSH in; Harbor's health."""
    state = load_state()
    print(f"lab {PREFIX}: state in {state_dir()}, release mirror {state['mirror_url']}")
    for host in state["hosts"]:
        info = container_info(LabHost(host["name"], host["group"], host["docker"]))
        running = info["State"]["Status"] if info else "missing"
        systemd = system_state(LabHost(host["name"], host["group"], host["docker"])) if running == "running" else "-"
        print(
            f"  {host['name']:<10} {host['group']:<15} {host['address']:<15} container {running}, "
            f"systemd {systemd or '-'}"
        )
        print(f"             {ssh_command(state, host)}   (or ops@ / opspw@ with sudo)")
        if host["group"] == "harbor_servers" and running == "running":
            health = harbor_health(host)
            print(f"             Harbor: {health or 'not installed / not answering'}")
    server = next(h for h in state["hosts"] if h["group"] == "harbor_servers")
    print(
        f"  Harbor from this machine: https://{server['address']}:8443 "
        f"(CA {state_dir() / 'secrets' / state['harbor_dns_name'] / 'ca.crt'}); for its name add "
        f"'{server['address']} {state['harbor_dns_name']}' to /etc/hosts"
    )


def main(argv):
    commands = {"up": up, "down": down, "status": status}
    if len(argv) != 1 or argv[0] not in commands:
        raise SystemExit(f"usage: python -m lab.labctl {{{'|'.join(commands)}}}")
    commands[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
