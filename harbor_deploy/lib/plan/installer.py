"""Resolve, fetch and verify Harbor's offline installer on the controller.

Nothing reaches a host before the bundle is verified: against the release's
``md5sum`` file and, when pinned, a full sha256 (required when nothing else vouches
for the bundle: a file, or a mirror over plain HTTP). Downloads land once in a
controller cache kept per source (``~/.cache/harbor-deploy/installers/<source>/<tag>/``,
``<source>`` being ``github.com`` or the mirror's address), so a bundle from one
source is never taken for another's; a pinned version that is already cached needs
no network at all.

URL shapes (official = GitHub, or a mirror serving the same paths):
  API       <api_base>/repos/goharbor/harbor/releases/latest
  download  <download_base>/goharbor/harbor/releases/download/<tag>/<asset>
"""

import datetime
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from harbor_deploy.lib.config.validate import VERSION_RE, unverified_source

OFFICIAL_API = "https://api.github.com"
OFFICIAL_DOWNLOADS = "https://github.com"
REPOSITORY = "goharbor/harbor"
CHECKSUM_ASSET = "md5sum"
TIMEOUT = (10, 60)  # seconds: connect, between bytes
CHUNK = 1 << 20


class InstallerError(Exception):
    """The installer cannot be resolved, fetched or verified."""


@dataclass(frozen=True)
class Installer:
    """A verified offline installer on the controller."""

    path: Path
    sha256: str
    version: str


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "harbor-deploy" / "installers"


def source_key(config):
    """The cache folder of ``config``'s installer source: ``github.com`` for the official
    releases, ``mirror-<host>-<port>-<hash of the URL>`` for a mirror."""
    if config["harbor_installer_source"] != "mirror":
        return "github.com"
    url = config["harbor_mirror_url"].rstrip("/")
    parts = urlsplit(url)
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{parts.hostname}-{parts.port or parts.scheme}")
    return f"mirror-{readable}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"


def endpoints(config):
    """``(api_base, download_base)`` for ``config``'s installer source."""
    if config["harbor_installer_source"] == "mirror":
        mirror = config["harbor_mirror_url"].rstrip("/")
        return mirror, mirror
    return OFFICIAL_API, OFFICIAL_DOWNLOADS


def download_url(download_base, tag, asset):
    return f"{download_base}/{REPOSITORY}/releases/download/{tag}/{asset}"


def _rate_limit_error(response):
    reset = response.headers.get("X-RateLimit-Reset")
    when = ""
    if reset and reset.isdigit():
        when = f" until {datetime.datetime.fromtimestamp(int(reset), datetime.UTC):%H:%M} UTC"
    return InstallerError(
        f"GitHub API rate limit exceeded{when} (unauthenticated calls: 60 per hour): set a token in "
        "the variable named by harbor_github_token_env, or pin harbor_version to a release"
    )


def latest_tag(api_base, token=None, session=None):
    """The tag of the latest Harbor release, from ``<api_base>/repos/goharbor/harbor/releases/latest``."""
    session = session or requests.Session()
    url = f"{api_base.rstrip('/')}/repos/{REPOSITORY}/releases/latest"
    headers = {"Accept": "application/vnd.github+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = session.get(url, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise InstallerError(f"cannot reach the releases API {url}: {type(error).__name__}") from None
    if response.status_code in (403, 429) and (
        response.headers.get("X-RateLimit-Remaining") == "0" or "rate limit" in response.text.lower()
    ):
        raise _rate_limit_error(response)
    if response.status_code != 200:
        raise InstallerError(f"releases API {url} answered HTTP {response.status_code}")
    try:
        tag = response.json()["tag_name"]
    except (ValueError, KeyError, TypeError):
        raise InstallerError(f"releases API {url} returned no tag_name") from None
    if not VERSION_RE.match(str(tag)):
        raise InstallerError(f"latest release tag {tag!r} is not vX.Y.Z")
    return tag


def parse_md5sum(text):
    """``{file name: md5 hex}`` from md5sum output (``<hex>  <name>`` or ``<hex> *<name>``)."""
    sums = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{32}", parts[0]):
            sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


def offline_asset_name(names, tag, arch="amd64"):
    """The offline installer among ``names``: ``...-<tag>-<arch>.tgz`` first, else ``...-<tag>.tgz``."""
    pattern = re.compile(rf"^harbor-offline-installer-{re.escape(tag)}(?:-(?P<arch>[A-Za-z0-9_]+))?\.tgz$")
    by_arch = {}
    for name in names:
        match = pattern.match(name)
        if match:
            by_arch[match.group("arch")] = name
    for wanted in (arch, None):
        if wanted in by_arch:
            return by_arch[wanted]
    listed = ", ".join(sorted(names)) or "nothing"
    raise InstallerError(f"no offline installer for {tag} ({arch}) among: {listed}")


def version_of(file_name):
    """``v2.13.1`` from ``harbor-offline-installer-v2.13.1[-amd64].tgz``; None when not such a name."""
    match = re.match(r"^harbor-offline-installer-(v\d+\.\d+\.\d+)(?:-[A-Za-z0-9_]+)?\.tgz$", file_name)
    return match.group(1) if match else None


def file_hashes(path):
    """``(md5, sha256)`` hex digests of ``path``, read once per version of the file: the
    digests are remembered with the file's identity (device, inode, size, mtime and
    ctime, which any write changes) in ``hashes/`` beside the installer cache, so a
    converged run does not re-read a 650 MB bundle."""
    path = Path(path).resolve()
    info = path.stat()
    identity = [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    memo = default_cache_dir().parent / "hashes" / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"
    try:
        known = json.loads(memo.read_text())
        if known["identity"] == identity:
            return known["md5"], known["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            md5.update(chunk)
            sha256.update(chunk)
    memo.parent.mkdir(parents=True, exist_ok=True)
    partial = memo.with_name(f"{memo.name}.{os.getpid()}")
    partial.write_text(json.dumps({"identity": identity, "md5": md5.hexdigest(), "sha256": sha256.hexdigest()}))
    partial.replace(memo)
    return md5.hexdigest(), sha256.hexdigest()


def _check(name, md5, sha256, expected_md5, pinned_sha256):
    if expected_md5 is not None and md5 != expected_md5:
        raise InstallerError(f"{name}: md5 {md5} does not match the release md5sum {expected_md5}")
    if pinned_sha256 is not None and sha256 != pinned_sha256:
        raise InstallerError(f"{name}: sha256 {sha256} does not match harbor_installer_sha256 {pinned_sha256}")


def verify(path, expected_md5=None, pinned_sha256=None):
    """The sha256 of ``path`` after checking it against the given digests; raises on mismatch."""
    md5, sha256 = file_hashes(path)
    _check(Path(path).name, md5, sha256, expected_md5, pinned_sha256)
    return sha256


class Progress:
    """Download progress on a stream (stderr): one line redrawn on a terminal; in a log,
    a line every ``LOG_EVERY`` seconds and the last one."""

    LOG_EVERY = 5

    def __init__(self, name, total, stream):
        self.name, self.total, self.stream = name, total, stream
        self.done = 0
        self.shown = None
        self.terminal = getattr(stream, "isatty", lambda: False)()
        self.logged_at = None

    def _state(self):
        mib = self.done >> 20
        if self.total:
            return f"{self.done * 100 // self.total}% ({mib}/{self.total >> 20} MiB)"
        return f"{mib} MiB"

    def advance(self, count):
        self.done += count
        state = self._state()
        if state == self.shown:
            return
        if self.terminal:
            self.stream.write(f"\rdownloading {self.name}: {state}")
        else:
            now = time.monotonic()
            if self.logged_at is not None and now - self.logged_at < self.LOG_EVERY:
                return
            self.logged_at = now
            self.stream.write(f"downloading {self.name}: {state}\n")
        self.stream.flush()
        self.shown = state

    def finish(self):
        if self.terminal:
            self.stream.write("\n")
        elif self.shown != self._state():
            self.stream.write(f"downloading {self.name}: {self._state()}\n")
        self.stream.flush()


def _get(session, url):
    try:
        response = session.get(url, stream=True, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise InstallerError(f"cannot download {url}: {type(error).__name__}") from None
    if response.status_code != 200:
        response.close()
        raise InstallerError(f"download of {url} answered HTTP {response.status_code}")
    return response


def _download_verified(session, url, dest, expected_md5, pinned_sha256, progress):
    """Stream ``url`` to ``dest`` hashing on the way; only a verified file gets the final name."""
    partial = dest.with_name(dest.name + ".part")
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with _get(session, url) as response:
        indicator = Progress(dest.name, int(response.headers.get("Content-Length") or 0), progress)
        try:
            with open(partial, "wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    handle.write(chunk)
                    md5.update(chunk)
                    sha256.update(chunk)
                    indicator.advance(len(chunk))
            indicator.finish()
            _check(dest.name, md5.hexdigest(), sha256.hexdigest(), expected_md5, pinned_sha256)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(dest)
    return sha256.hexdigest()


def _release_sums(session, download_base, tag, tag_dir):
    """The release's md5sum entries, fetched once per tag into the cache."""
    path = tag_dir / CHECKSUM_ASSET
    if not path.exists():
        with _get(session, download_url(download_base, tag, CHECKSUM_ASSET)) as response:
            text = response.text
        if not parse_md5sum(text):
            raise InstallerError(f"the {CHECKSUM_ASSET} file of {tag} lists no checksums")
        tag_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return parse_md5sum(path.read_text())


def pin_for(config, version):
    """The sha256 ``harbor_installer_sha256`` pins for ``version`` (one for any release,
    or one per release), or None; None too when nothing else vouches for the bundle
    (``unverified_source``) is an ``InstallerError`` naming the key."""
    pin = config["harbor_installer_sha256"]
    pinned = pin.get(version) if isinstance(pin, dict) else pin
    why = unverified_source(config)
    if why and pinned is None:
        raise InstallerError(f"harbor_installer_sha256 pins no sha256 for {version}, and {why}: add it")
    return pinned


def _from_file(config, installed):
    path = Path(config["harbor_installer_file"])
    version = version_of(path.name)
    wanted = config["harbor_version"]
    if version is None:
        raise InstallerError(f"{path.name} is not named harbor-offline-installer-vX.Y.Z[-arch].tgz")
    if wanted == "latest" and installed not in (None, version):
        raise InstallerError(
            f"{path.name} is {version}, but harbor_version latest holds the installed {installed}: "
            f"set harbor_version to {version} to upgrade"
        )
    if wanted not in ("latest", version):
        raise InstallerError(f"{path.name} is {version}, but harbor_version is {wanted}")
    # An md5sum file beside the bundle (as downloaded from the release) is checked too.
    sums_path = path.with_name(CHECKSUM_ASSET)
    expected_md5 = parse_md5sum(sums_path.read_text()).get(path.name) if sums_path.exists() else None
    sha256 = verify(path, expected_md5, pin_for(config, version))
    return Installer(path=path, sha256=sha256, version=version)


def fetch(config, cache_dir=None, env=None, arch="amd64", progress=None, session=None, installed=None):
    """The verified offline installer for ``config`` (merged, validated data).

    ``arch`` is the Docker architecture of the server (``amd64``, ``arm64``).
    ``installed`` is the release the server has (None: none yet): ``harbor_version:
    latest`` holds it, so a routine run never upgrades (an upgrade needs a version
    named in the inventory); on a server without Harbor it is the newest release.
    A GitHub token (env var named by ``harbor_github_token_env``) is sent to the
    official API only, never to a mirror.
    """
    if config["harbor_installer_source"] == "file":
        return _from_file(config, installed)
    env = os.environ if env is None else env
    progress = progress or sys.stderr
    session = session or requests.Session()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    api_base, download_base = endpoints(config)

    tag = config["harbor_version"]
    if tag == "latest" and installed:
        tag = installed
    elif tag == "latest":
        token = env.get(config["harbor_github_token_env"]) if api_base == OFFICIAL_API else None
        tag = latest_tag(api_base, token, session)
    pinned = pin_for(config, tag)
    tag_dir = cache_dir / source_key(config) / tag
    sums = _release_sums(session, download_base, tag, tag_dir)
    asset = offline_asset_name(sums, tag, arch)
    dest = tag_dir / asset
    if dest.exists():
        md5, sha256 = file_hashes(dest)
        if md5 == sums[asset]:
            _check(asset, md5, sha256, None, pinned)
            return Installer(path=dest, sha256=sha256, version=tag)
        progress.write(f"{dest}: md5 {md5}, not the release's {sums[asset]} (corrupt or truncated): fetching again\n")
        dest.unlink()
    sha256 = _download_verified(session, download_url(download_base, tag, asset), dest, sums[asset], pinned, progress)
    return Installer(path=dest, sha256=sha256, version=tag)
