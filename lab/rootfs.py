"""Build docker images from a Debian rootfs made with debootstrap (no registry pulls)."""

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

# The lab hosts' Debian release (the stand-in images pick their own: lab/standin/build.py).
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"


def log(message):
    print(f"[lab] {message}", flush=True)


def run(*args, check=True, capture=True, input=None):
    result = subprocess.run(args, check=False, text=True, input=input, capture_output=capture)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip() if capture else ""
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(args)}\n{detail}")
    return result


def docker(*args, **kwargs):
    return run("docker", *args, **kwargs)


def image_exists(tag):
    return docker("image", "inspect", tag, check=False).returncode == 0


@contextlib.contextmanager
def debootstrap(packages, suite=SUITE):
    """A fresh minbase rootfs of Debian ``suite`` with ``packages``, removed afterwards."""
    if not shutil.which("debootstrap"):
        raise SystemExit("debootstrap not found: install it (make deps does)")
    work = Path(tempfile.mkdtemp(prefix="hd-lab-rootfs-", dir="/var/tmp"))
    root = work / "rootfs"
    try:
        log(f"debootstrap {suite} rootfs (done once per recipe)")
        include = [f"--include={','.join(packages)}"] if packages else []
        run("debootstrap", "--variant=minbase", *include, suite, str(root), MIRROR, capture=False)
        yield root
    finally:
        run("rm", "-rf", "--one-file-system", str(work), check=False)


def chroot_run(root, script):
    """Run a shell script in the rootfs with the kernel filesystems apt needs."""
    mounts = [
        (root / "proc", ["-t", "proc", "proc"]),
        (root / "sys", ["-t", "sysfs", "sysfs"]),
        (root / "dev", ["--bind", "/dev"]),
    ]
    mounted = []
    policy = root / "usr/sbin/policy-rc.d"
    try:
        for target, args in mounts:
            run("mount", *args, str(target))
            mounted.append(target)
        policy.write_text("#!/bin/sh\nexit 101\n")  # no service starts in the chroot
        policy.chmod(0o755)
        run("chroot", str(root), "/bin/sh", "-c", script, capture=False)
    finally:
        policy.unlink(missing_ok=True)
        for target in reversed(mounted):
            run("umount", "-l", str(target), check=False)


KEPT_DEBS = "var/tmp/kept-debs"


def apt_install(root, packages, keep_debs=None):
    """apt in the rootfs (resolves dependencies that debootstrap --include cannot);
    ``keep_debs``: a folder that gets every package file apt fetched (the lab serves
    them as a package repository), out of the rootfs."""
    keep = f" && mkdir -p /{KEPT_DEBS} && cp /var/cache/apt/archives/*.deb /{KEPT_DEBS}/" if keep_debs else ""
    chroot_run(
        root,
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        f"--no-install-recommends {' '.join(packages)} >/dev/null{keep} "
        "&& apt-get clean && rm -rf /var/lib/apt/lists/*",
    )
    if keep_debs:
        shutil.rmtree(keep_debs, ignore_errors=True)
        Path(keep_debs).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(root / KEPT_DEBS, keep_debs)


def import_rootfs(root, tag, changes=()):
    args = ["docker", "import"]
    for change in changes:
        args += ["--change", change]
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
    result = subprocess.run(args + ["-", tag], stdin=tar.stdout, capture_output=True, text=True, check=False)
    if tar.wait() != 0 or result.returncode != 0:
        raise SystemExit(f"importing {root} as {tag} failed: {result.stderr.strip()}")
    log(f"built {tag}")
