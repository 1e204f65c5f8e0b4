"""Build the stand-in Harbor offline installers (lab only, never shipped as Harbor).

    python -m lab.standin.build     # prints the release directory

Images are built from a Debian rootfs (no registry pulls) and tagged with the real
names (``goharbor/harbor-core:vX.Y.Z`` ...). Each version's bundle is laid out like
``harbor-offline-installer-vX.Y.Z.tgz`` (top folder ``harbor/``), with an online
installer (the same without images) and one ``md5sum`` file, as on GitHub releases.
Everything is cached by a hash of its recipe; tarballs are byte-reproducible.
"""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import yaml

from lab.rootfs import chroot_run, debootstrap, image_exists, import_rootfs, log

STANDIN_DIR = Path(__file__).resolve().parent
# Oldest first; the mirror's "latest" is the last. Each ships the migrations up to its own X.Y.0.
VERSIONS = ("v2.11.2", "v2.13.1", "v2.14.0")
# Debian 12 carries PostgreSQL 15, the version Harbor 2.11-2.14 run (Debian 13 has 17).
SUITE = "bookworm"
MIGRATIONS_DIR = STANDIN_DIR / "migrations" / "postgresql"
# Where harbor-core finds them, as in Harbor's image.
IMAGE_MIGRATIONS_DIR = "/harbor/migrations/postgresql"
RELEASE_PATH = "goharbor/harbor/releases/download"
# Real Harbor's images check every 30s (docker's default: their HEALTHCHECKs set no
# interval). While a container starts, the lab's dockerd (26) checks every second
# (StartInterval, set in the saved image configs: the build's dockerd, Debian 12's
# 20.10, does not know it), so a restart is seen healthy as soon as it is.
HEALTHCHECK_TIMING = "--interval=30s --timeout=5s --start-period=60s --retries=3"
START_INTERVAL_NS = 1_000_000_000


def cache_dir():
    default = Path.home() / ".cache" / "harbor-deploy-lab"
    return Path(os.environ.get("LAB_CACHE_DIR", default))


def tree_hash(*paths):
    """Hash of file names and contents under ``paths`` (recipe identity)."""
    digest = hashlib.sha256()
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if path.is_dir()
            else [path]
        )
        for file in files:
            digest.update(str(file.relative_to(STANDIN_DIR)).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_rootfs_image():
    recipe = tree_hash(STANDIN_DIR / "packages.txt", STANDIN_DIR / "rootfs-setup.sh")
    tag = f"harbor-deploy-lab/standin-rootfs:{SUITE}-{recipe}"
    if not image_exists(tag):
        with debootstrap([], suite=SUITE) as root:
            for name in ("packages.txt", "rootfs-setup.sh"):
                shutil.copy(STANDIN_DIR / name, root / "tmp" / name)
            chroot_run(root, "sh /tmp/rootfs-setup.sh && rm /tmp/rootfs-setup.sh /tmp/packages.txt")
            import_rootfs(root, tag)
    return tag


def release_migrations(version):
    """The up-migrations release ``version`` ships, oldest first: every
    ``NNNN_X.Y.Z_schema.up.sql`` up to its own minor's, and the initial schema."""
    major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
    shipped = []
    for path in sorted(MIGRATIONS_DIR.glob("*.up.sql")):
        release = path.name.split("_")[1]  # "2.13.0", or "initial"
        if release.count(".") == 2 and tuple(int(part) for part in release.split(".")[:2]) > (major, minor):
            continue
        shipped.append(path)
    return shipped


def docker_build(tag, dockerfile, context=None):
    """``docker build`` from a Dockerfile text; no context unless given (no pulls)."""
    if context is None:
        args, stdin = ["-"], dockerfile
    else:
        (context / "Dockerfile").write_text(dockerfile)
        args, stdin = [str(context)], None
    result = subprocess.run(
        ["docker", "build", "-q", "-t", tag, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"docker build {tag} failed: {result.stderr.strip()}")


def build_runtime_image(rootfs_tag, recipe):
    """The rootfs plus the stand-in programs at /opt/standin."""
    tag = f"harbor-deploy-lab/standin:{recipe}"
    if not image_exists(tag):
        context = cache_dir() / "build-context"
        subprocess.run(["rm", "-rf", str(context)], check=True)
        context.mkdir(parents=True)
        subprocess.run(["cp", "-r", str(STANDIN_DIR / "runtime"), str(context / "runtime")], check=True)
        # The API contract (content negotiation, omitted empty fields) is read from the real spec.
        shutil.copy(STANDIN_DIR / "upstream" / "swagger.yaml", context / "runtime" / "swagger.yaml")
        docker_build(tag, f"FROM {rootfs_tag}\nCOPY runtime/ /opt/standin/\n", context)
    return tag


def image_dockerfile(base, version, spec):
    lines = [
        f"FROM {base}",
        f"ENV HARBOR_STANDIN_VERSION={version}",
        'LABEL org.opencontainers.image.title="harbor-deploy lab stand-in, not Harbor"',
    ]
    if spec.get("migrations"):
        lines.append(f"COPY migrations/ {IMAGE_MIGRATIONS_DIR}/")
    for name, value in (spec.get("env") or {}).items():
        lines.append(f"ENV {name}={value}")
    for volume in spec.get("volumes", ()):
        lines.append(f"VOLUME {volume}")
    if spec.get("workdir"):
        lines.append(f"WORKDIR {spec['workdir']}")
    if spec.get("user"):
        lines.append(f"USER {spec['user']}")
    if spec.get("entrypoint"):
        lines.append(f"ENTRYPOINT {json.dumps(spec['entrypoint'])}")
    lines.append(f"CMD {json.dumps(spec['cmd'])}")
    if spec.get("healthcheck"):
        check = spec["healthcheck"]
        lines.append(f"HEALTHCHECK {HEALTHCHECK_TIMING} {check[0]} {json.dumps(check[1:])}")
    return "\n".join(lines) + "\n"


def build_version_images(base, version):
    specs = yaml.safe_load((STANDIN_DIR / "images.yaml").read_text())["images"]
    tags = []
    for name, spec in specs.items():
        tag = f"goharbor/{name}:{version}"
        context = None
        if spec.get("migrations"):
            context = cache_dir() / "build-context" / f"migrations-{version}"
            shutil.rmtree(context, ignore_errors=True)
            (context / "migrations").mkdir(parents=True)
            for path in release_migrations(version):
                shutil.copy(path, context / "migrations" / path.name)
        docker_build(tag, image_dockerfile(base, version, spec), context)
        tags.append(tag)
    return tags


def add_file(archive, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    archive.addfile(info, io.BytesIO(data))


def write_bundle(path, version, images_tarball=None):
    """A reproducible ``harbor/`` tarball like the real installer's."""
    files = {}
    for script in sorted((STANDIN_DIR / "bundle").iterdir()):
        text = script.read_text().replace("@HARBOR_VERSION@", version)
        files[script.name] = (text.encode(), 0o755 if os.access(script, os.X_OK) else 0o644)
    # v2.13.1's template for every release, but with the release's own config version
    # (what `prepare migrate` reads), as each real release's template has.
    major, minor = version.lstrip("v").split(".")[:2]
    template = (STANDIN_DIR / "upstream" / "harbor.yml.tmpl").read_text()
    template = re.sub(r"(?m)^_version: .*$", f"_version: {major}.{minor}.0", template)
    files["harbor.yml.tmpl"] = (template.encode(), 0o644)
    files["LICENSE"] = ((STANDIN_DIR / "upstream" / "LICENSE").read_bytes(), 0o644)
    # mtime=0 in the gzip header keeps the bytes (and the md5) reproducible.
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as archive,
    ):
        dir_info = tarfile.TarInfo("harbor")
        dir_info.type, dir_info.mode, dir_info.mtime = tarfile.DIRTYPE, 0o755, 0
        archive.addfile(dir_info)
        for name, (data, mode) in sorted(files.items()):
            add_file(archive, f"harbor/{name}", data, mode)
        if images_tarball:
            archive.add(
                images_tarball,
                f"harbor/{images_tarball.name}",
                filter=lambda info: (setattr(info, "mtime", 0), info)[1],
            )


def save_images(tags, path):
    saved = path.with_suffix(".saved")
    with open(saved, "wb") as out:
        if subprocess.run(["docker", "save", *tags], stdout=out, check=False).returncode != 0:
            raise SystemExit(f"docker save {' '.join(tags)} failed")
    with open(path, "wb") as out:
        gzip_ = subprocess.Popen(["gzip", "-n", "-1"], stdin=subprocess.PIPE, stdout=out)
        with_start_interval(saved, gzip_.stdin)
        gzip_.stdin.close()
        if gzip_.wait() != 0:
            raise SystemExit(f"gzip of {path} failed")
    saved.unlink()


def with_start_interval(saved, out):
    """``docker save``'s archive ``saved`` written to ``out`` with each image config's
    health check given ``START_INTERVAL_NS`` (a config is named by its sha256, so it is
    renamed and the manifest follows)."""
    with tarfile.open(saved) as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())
        configs = {}
        for entry in manifest:
            config = json.loads(archive.extractfile(entry["Config"]).read())
            if config.get("config", {}).get("Healthcheck"):
                config["config"]["Healthcheck"]["StartInterval"] = START_INTERVAL_NS
            data = json.dumps(config, separators=(",", ":")).encode()
            configs[entry["Config"]] = (f"{hashlib.sha256(data).hexdigest()}.json", data)
            entry["Config"] = configs[entry["Config"]][0]
        with tarfile.open(fileobj=out, mode="w|") as rewritten:
            for member in archive:
                if member.name in configs:
                    add_file(rewritten, *configs[member.name])
                elif member.name == "manifest.json":
                    add_file(rewritten, "manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
                else:
                    rewritten.addfile(member, archive.extractfile(member) if member.isfile() else None)


def offline_installer(root, version):
    """The offline installer of ``version`` in the release tree ``root`` (``build()``)."""
    return Path(root) / RELEASE_PATH / version / f"harbor-offline-installer-{version}.tgz"


def build_release(version, runtime_tag, release_dir):
    release_dir.mkdir(parents=True, exist_ok=True)
    images = release_dir / f"harbor.{version}.tar.gz"
    save_images(build_version_images(runtime_tag, version), images)
    assets = {kind: release_dir / f"harbor-{kind}-installer-{version}.tgz" for kind in ("offline", "online")}
    write_bundle(assets["offline"], version, images)
    write_bundle(assets["online"], version)
    images.unlink()
    sums = "".join(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {path.name}\n" for path in sorted(assets.values()))
    (release_dir / "md5sum").write_text(sums)
    log(f"stand-in Harbor {version}: {assets['offline']}")


def build():
    """Build (or reuse) every stand-in release; returns the mirror root directory."""
    recipe = tree_hash(
        STANDIN_DIR / "packages.txt",
        STANDIN_DIR / "rootfs-setup.sh",
        STANDIN_DIR / "runtime",
        STANDIN_DIR / "migrations",
        STANDIN_DIR / "images.yaml",
        STANDIN_DIR / "bundle",
        STANDIN_DIR / "upstream",
        Path(__file__),
    )
    root = cache_dir() / "releases" / recipe
    if all((root / RELEASE_PATH / version / "md5sum").exists() for version in VERSIONS):
        return root
    runtime_tag = build_runtime_image(build_rootfs_image(), recipe)
    # Built aside and renamed, so a concurrent or killed build never leaves half a release.
    partial = root.with_name(f"{recipe}.partial-{os.getpid()}")
    for version in VERSIONS:
        build_release(version, runtime_tag, partial / RELEASE_PATH / version)
    partial.rename(root)
    prune_release_sets(root.parent, keep=root)
    return root


# Release sets of other recipes kept besides the new one: another checkout's lab (the
# demo's, a benchmark's) may still serve one from its mirror.
KEPT_RELEASE_SETS = 2


def prune_release_sets(releases, keep):
    """Remove all but the newest ``KEPT_RELEASE_SETS`` complete sets besides ``keep``,
    and builds left half-done by processes that are gone (never a running build's)."""
    complete, abandoned = [], []
    for path in releases.iterdir():
        if ".partial-" in path.name:
            pid = path.name.rsplit("-", 1)[1]
            if not (pid.isdigit() and Path(f"/proc/{pid}").exists()):
                abandoned.append(path)
        elif path != keep:
            complete.append(path)
    complete.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in abandoned + complete[KEPT_RELEASE_SETS:]:
        shutil.rmtree(stale, ignore_errors=True)


if __name__ == "__main__":
    print(build())
