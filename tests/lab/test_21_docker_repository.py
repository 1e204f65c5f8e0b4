"""Docker from an internal package repository on a host without internet: the lab's
``bare-2`` loses its default route (only the lab network is left), and
``deploys/docker.py`` installs Docker with compose v2 from a signed Debian repository
this controller serves on the lab network, built from the package files the lab's
docker image was made with (``lab.labctl.docker_debs``) and signed with a key made
here with gpg; the host verifies it with the public key the inventory names. A second
run changes nothing."""

import functools
import gzip
import hashlib
import json
import shutil
import subprocess
import threading
from email.utils import formatdate
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lab import labctl
from tests.lab.conftest import changed_count, host_exec, run_pyinfra

SUITE, COMPONENT, ARCH = "trixie", "main", "amd64"
PACKAGES = ["docker.io", "docker-cli", "docker-compose"]
PURGE = (
    f"apt-get purge -y -qq {' '.join(PACKAGES)} >/dev/null 2>&1; apt-get autoremove -y -qq --purge >/dev/null 2>&1; "
    "rm -rf /etc/apt/sources.list.d/harbor-docker.list /etc/apt/keyrings/harbor-docker.* /var/lib/docker; true"
)


def repository(root):
    """A Debian repository of ``docker_debs`` in ``root`` (pool, Packages, a Release
    signed inline as InRelease) and the binary public key that verifies it."""
    pool = root / "debian" / "pool"
    pool.mkdir(parents=True)
    stanzas = []
    for deb in sorted(labctl.docker_debs().glob("*.deb")):
        shutil.copy(deb, pool / deb.name)
        data = deb.read_bytes()
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
        stanzas.append(
            control.rstrip("\n")
            + f"\nFilename: pool/{deb.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    index = root / "debian" / "dists" / SUITE / COMPONENT / f"binary-{ARCH}"
    index.mkdir(parents=True)
    packages = "\n".join(stanzas).encode()
    (index / "Packages").write_bytes(packages)
    (index / "Packages.gz").write_bytes(gzip.compress(packages))
    listed = [
        f" {hashlib.sha256(body).hexdigest()} {len(body)} {COMPONENT}/binary-{ARCH}/{name}"
        for name, body in (("Packages", packages), ("Packages.gz", (index / "Packages.gz").read_bytes()))
    ]
    release = root / "debian" / "dists" / SUITE / "Release"
    release.write_text(
        f"Origin: harbor-deploy lab\nLabel: docker\nSuite: {SUITE}\nCodename: {SUITE}\n"
        f"Date: {formatdate(usegmt=True)}\nArchitectures: {ARCH}\nComponents: {COMPONENT}\nSHA256:\n"
        + "\n".join(listed)
        + "\n"
    )
    gpg = ["gpg", "--batch", "--quiet", "--homedir", str(root / "gnupg")]
    (root / "gnupg").mkdir(mode=0o700)
    subprocess.run(
        [*gpg, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", "lab repository", "rsa3072"],
        check=True,
    )
    subprocess.run([*gpg, "--clearsign", "-o", str(release.with_name("InRelease")), str(release)], check=True)
    key = root / "repository.gpg"
    key.write_bytes(subprocess.run([*gpg, "--export"], capture_output=True, check=True).stdout)
    subprocess.run(["gpgconf", "--homedir", str(root / "gnupg"), "--kill", "all"], check=False)  # its agent
    return key


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def offline(lab, tmp_path_factory):
    """bare-2 without docker and without a route out of the lab network; the repository
    served on this controller's address there. The route comes back afterwards."""
    bare = [h for h in lab["hosts"] if h["group"] == "bare_hosts"]
    assert len(bare) >= 2, "tests/lab/test_21_docker_repository.py needs LAB_BARE >= 2"
    host = bare[1]
    container = host["container"]
    host_exec(container, PURGE, check=False)
    gateway = host_exec(container, "ip route show default").split()[2]  # "default via <gateway> dev ..."
    root = tmp_path_factory.mktemp("repository")
    key = repository(root)
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer((gateway, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host_exec(container, "ip route del default")
    yield {
        "name": host["name"],
        "container": container,
        "data": {
            "harbor_docker_repo_url": f"http://{gateway}:{server.server_address[1]}/debian",
            "harbor_docker_repo_key": str(key),
            "harbor_docker_repo_suite": SUITE,
            "harbor_docker_repo_components": [COMPONENT],
            "harbor_docker_packages": PACKAGES,
        },
    }
    host_exec(container, f"ip route add default via {gateway}", check=False)
    host_exec(container, PURGE, check=False)
    server.shutdown()


def docker_deploy(offline, *flags):
    data = [arg for key, value in offline["data"].items() for arg in ("--data", f"{key}={json.dumps(value)}")]
    return run_pyinfra("-y", *flags, "inventories/lab.py", "deploys/docker.py", "--limit", offline["name"], *data)


def test_docker_is_installed_from_the_internal_repository_without_internet(offline):
    container = offline["container"]
    assert host_exec(container, "command -v dockerd || true") == ""
    reach = "curl -sS -m 5 -o /dev/null https://deb.debian.org/ 2>&1 && echo reached || echo cut"
    assert host_exec(container, reach, check=False).endswith("cut")

    docker_deploy(offline)

    assert host_exec(container, "systemctl is-active docker; systemctl is-enabled docker") == "active\nenabled"
    assert host_exec(container, "docker compose version --short").startswith("2.")
    policy = host_exec(container, "apt-cache policy docker.io")
    assert offline["data"]["harbor_docker_repo_url"] in policy  # where it came from
    assert host_exec(container, "stat -c '%a' /etc/apt/keyrings/harbor-docker.gpg") == "644"
    assert changed_count(docker_deploy(offline, "--json")) == 0


def test_a_private_key_in_place_of_the_public_one_is_refused_before_any_change(offline, tmp_path):
    private = tmp_path / "private.asc"
    private.write_text("-----BEGIN PGP PRIVATE KEY BLOCK-----\nnot shown\n-----END PGP PRIVATE KEY BLOCK-----\n")
    data = {**offline["data"], "harbor_docker_repo_key": str(private)}
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={json.dumps(value)}")]
    run = run_pyinfra("-y", "inventories/lab.py", "deploys/docker.py", "--limit", offline["name"], *args, check=False)
    output = run.stdout + run.stderr
    assert run.returncode != 0 and "harbor_docker_repo_key" in output and "holds a private key" in output
    assert "not shown" not in output
