"""Installer fetch against a local fake of the GitHub releases shape (a mirror on 127.0.0.1)."""

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.plan import installer
from harbor_deploy.lib.plan.installer import InstallerError

BUNDLE = b"harbor bundle bytes " * 5000
DOWNLOADS = "/goharbor/harbor/releases/download"
LATEST = "/repos/goharbor/harbor/releases/latest"


def _md5(data):
    return hashlib.md5(data).hexdigest()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


class FakeReleases:
    """Files by path, a latest release, and a log of (path, Authorization) requests."""

    def __init__(self):
        self.files = {}
        self.latest_tag = None
        self.rate_limited = False
        self.requests = []

    def release(self, tag, assets):
        sums = "".join(f"{_md5(data)}  {name}\n" for name, data in assets.items())
        self.files[f"{DOWNLOADS}/{tag}/md5sum"] = sums.encode()
        for name, data in assets.items():
            self.files[f"{DOWNLOADS}/{tag}/{name}"] = data

    def downloads(self):
        return [path for path, _ in self.requests if path.endswith(".tgz")]


@pytest.fixture
def releases(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fake = FakeReleases()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            fake.requests.append((self.path, self.headers.get("Authorization")))
            if self.path == LATEST:
                if fake.rate_limited:
                    body = json.dumps({"message": "API rate limit exceeded for 127.0.0.1."}).encode()
                    self._send(403, body, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1750000000"})
                else:
                    body = json.dumps(
                        {
                            "tag_name": fake.latest_tag,
                            "assets": [
                                {"name": path.rsplit("/", 1)[1], "browser_download_url": f"https://github.com{path}"}
                                for path in fake.files
                                if f"/{fake.latest_tag}/" in path
                            ],
                        }
                    ).encode()
                    self._send(200, body)
            elif self.path in fake.files:
                self._send(200, fake.files[self.path])
            else:
                self._send(404, b"Not Found")

        def _send(self, status, body, headers=None):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


# The fake mirror is plain HTTP: each release it serves is pinned, as it must be.
PINS = {tag: _sha256(BUNDLE) for tag in ("v2.13.1", "v2.14.0", "v2.15.0", "v2.99.0")}


def _config(releases, **data):
    return merged(
        {
            "harbor_hostname": "harbor.example",
            "harbor_installer_source": "mirror",
            "harbor_mirror_url": releases.url + "/",
            "harbor_installer_sha256": PINS,
            **data,
        }
    )


def cache_of(releases, tmp_path):
    return tmp_path / "cache" / installer.source_key(_config(releases))


def _fetch(config, tmp_path, **kwargs):
    kwargs.setdefault("progress", io.StringIO())
    return installer.fetch(config, cache_dir=tmp_path / "cache", env=kwargs.pop("env", {}), **kwargs)


def test_official_endpoints_and_url_shape():
    config = merged({"harbor_hostname": "h"})
    assert installer.endpoints(config) == ("https://api.github.com", "https://github.com")
    asset = "harbor-offline-installer-v2.13.1.tgz"
    assert installer.download_url("https://github.com", "v2.13.1", asset) == (
        f"https://github.com/goharbor/harbor/releases/download/v2.13.1/{asset}"
    )


def test_pinned_version_downloads_verifies_and_reports_progress(releases, tmp_path):
    releases.release(
        "v2.13.1", {"harbor-offline-installer-v2.13.1.tgz": BUNDLE, "harbor-online-installer-v2.13.1.tgz": b"online"}
    )
    progress = io.StringIO()
    result = _fetch(_config(releases), tmp_path, progress=progress)
    assert result.path == cache_of(releases, tmp_path) / "v2.13.1" / "harbor-offline-installer-v2.13.1.tgz"
    assert result.path.read_bytes() == BUNDLE
    assert result.sha256 == _sha256(BUNDLE)
    assert result.version == "v2.13.1"
    # Not a terminal: whole lines, no carriage returns flooding a log file.
    assert "downloading harbor-offline-installer-v2.13.1.tgz: 100%" in progress.getvalue()
    assert "\r" not in progress.getvalue()
    assert [path for path, _ in releases.requests] == [
        f"{DOWNLOADS}/v2.13.1/md5sum",
        f"{DOWNLOADS}/v2.13.1/harbor-offline-installer-v2.13.1.tgz",
    ]


def test_cached_pinned_version_needs_no_request(releases, tmp_path):
    releases.release("v2.13.1", {"harbor-offline-installer-v2.13.1.tgz": BUNDLE})
    first = _fetch(_config(releases), tmp_path)
    count = len(releases.requests)
    second = _fetch(_config(releases, harbor_installer_sha256=_sha256(BUNDLE)), tmp_path)
    assert second == first
    assert len(releases.requests) == count


def test_latest_resolves_through_the_api_and_downloads_once(releases, tmp_path):
    releases.latest_tag = "v2.14.0"
    releases.release("v2.14.0", {"harbor-offline-installer-v2.14.0.tgz": BUNDLE})
    config = _config(releases, harbor_version="latest")
    assert _fetch(config, tmp_path).version == "v2.14.0"
    assert _fetch(config, tmp_path).version == "v2.14.0"
    assert [path for path, _ in releases.requests].count(LATEST) == 2
    assert releases.downloads() == [f"{DOWNLOADS}/v2.14.0/harbor-offline-installer-v2.14.0.tgz"]


def test_arch_suffixed_assets_are_found(releases, tmp_path):
    releases.release(
        "v2.15.0",
        {
            "harbor-offline-installer-v2.15.0-amd64.tgz": BUNDLE,
            "harbor-offline-installer-v2.15.0-arm64.tgz": b"arm bundle",
            "harbor-online-installer-v2.15.0-amd64.tgz": b"online",
        },
    )
    config = _config(releases, harbor_version="v2.15.0")
    assert _fetch(config, tmp_path).path.name == "harbor-offline-installer-v2.15.0-amd64.tgz"
    arm_pin = {"v2.15.0": _sha256(b"arm bundle")}  # a pin per release holds for one architecture
    arm = _fetch(_config(releases, harbor_version="v2.15.0", harbor_installer_sha256=arm_pin), tmp_path, arch="arm64")
    assert arm.path.name == "harbor-offline-installer-v2.15.0-arm64.tgz"
    assert arm.path.read_bytes() == b"arm bundle"


def test_md5_mismatch_is_refused_and_nothing_is_kept(releases, tmp_path):
    releases.release("v2.13.1", {"harbor-offline-installer-v2.13.1.tgz": BUNDLE})
    releases.files[f"{DOWNLOADS}/v2.13.1/harbor-offline-installer-v2.13.1.tgz"] = BUNDLE + b"tampered"
    with pytest.raises(InstallerError, match="does not match the release md5sum"):
        _fetch(_config(releases), tmp_path)
    assert sorted(p.name for p in (cache_of(releases, tmp_path) / "v2.13.1").iterdir()) == ["md5sum"]


def test_sha256_pin_mismatch_is_refused(releases, tmp_path):
    releases.release("v2.13.1", {"harbor-offline-installer-v2.13.1.tgz": BUNDLE})
    with pytest.raises(InstallerError, match="does not match harbor_installer_sha256"):
        _fetch(_config(releases, harbor_installer_sha256="0" * 64), tmp_path)
    assert not (cache_of(releases, tmp_path) / "v2.13.1" / "harbor-offline-installer-v2.13.1.tgz").exists()
    pinned = _config(releases, harbor_installer_sha256=_sha256(BUNDLE))
    assert _fetch(pinned, tmp_path).sha256 == _sha256(BUNDLE)


def test_corrupt_cache_entry_is_named_with_its_md5_and_downloaded_again(releases, tmp_path):
    releases.release("v2.13.1", {"harbor-offline-installer-v2.13.1.tgz": BUNDLE})
    result = _fetch(_config(releases), tmp_path)
    result.path.write_bytes(b"truncated")
    progress = io.StringIO()
    assert _fetch(_config(releases), tmp_path, progress=progress).path.read_bytes() == BUNDLE
    assert len(releases.downloads()) == 2
    truncated_md5 = hashlib.md5(b"truncated", usedforsecurity=False).hexdigest()
    assert f"{result.path}: md5 {truncated_md5}, not the release's " in progress.getvalue()
    assert "(corrupt or truncated): fetching again" in progress.getvalue()


def test_rate_limit_gives_a_clear_error(releases, tmp_path):
    releases.rate_limited = True
    with pytest.raises(InstallerError) as raised:
        _fetch(_config(releases, harbor_version="latest"), tmp_path)
    message = str(raised.value)
    assert "rate limit exceeded" in message
    assert "harbor_github_token_env" in message and "pin harbor_version" in message


def test_token_goes_to_the_api_as_bearer(releases):
    releases.latest_tag = "v2.13.1"
    assert installer.latest_tag(releases.url, token="tok") == "v2.13.1"
    assert releases.requests == [(LATEST, "Bearer tok")]


def test_github_token_is_never_sent_to_a_mirror(releases, tmp_path):
    releases.latest_tag = "v2.13.1"
    releases.release("v2.13.1", {"harbor-offline-installer-v2.13.1.tgz": BUNDLE})
    _fetch(_config(releases, harbor_version="latest"), tmp_path, env={"GITHUB_TOKEN": "tok"})
    assert all(auth is None for _, auth in releases.requests)


def test_missing_release_is_a_clear_error(releases, tmp_path):
    with pytest.raises(InstallerError, match="md5sum answered HTTP 404"):
        _fetch(_config(releases, harbor_version="v2.99.0"), tmp_path)


def test_release_without_offline_installer_lists_what_it_has(releases, tmp_path):
    releases.release("v2.13.1", {"harbor-online-installer-v2.13.1.tgz": b"online"})
    with pytest.raises(InstallerError, match="no offline installer for v2.13.1 .*online-installer"):
        _fetch(_config(releases), tmp_path)


def _file_config(path, **data):
    return merged(
        {
            "harbor_hostname": "h",
            "harbor_installer_source": "file",
            "harbor_installer_file": str(path),
            "harbor_installer_sha256": _sha256(BUNDLE),
            **data,
        }
    )


def test_local_file_is_verified_by_pin_and_md5sum_beside_it(tmp_path):
    bundle = tmp_path / "harbor-offline-installer-v2.13.1.tgz"
    bundle.write_bytes(BUNDLE)
    result = installer.fetch(_file_config(bundle))
    assert result == installer.Installer(path=bundle, sha256=_sha256(BUNDLE), version="v2.13.1")
    with pytest.raises(InstallerError, match="harbor_installer_sha256"):
        installer.fetch(_file_config(bundle, harbor_installer_sha256="1" * 64))
    (tmp_path / "md5sum").write_text(f"{'0' * 32}  {bundle.name}\n")
    with pytest.raises(InstallerError, match="md5sum"):
        installer.fetch(_file_config(bundle))
    assert bundle.read_bytes() == BUNDLE


def test_local_file_must_be_the_wanted_version(tmp_path):
    bundle = tmp_path / "harbor-offline-installer-v2.12.0-amd64.tgz"
    bundle.write_bytes(BUNDLE)
    with pytest.raises(InstallerError, match="is v2.12.0, but harbor_version is v2.13.1"):
        installer.fetch(_file_config(bundle))
    assert installer.fetch(_file_config(bundle, harbor_version="latest")).version == "v2.12.0"
    other = tmp_path / "bundle.tgz"
    other.write_bytes(BUNDLE)
    with pytest.raises(InstallerError, match="is not named"):
        installer.fetch(_file_config(other))


def test_an_unverified_source_needs_a_pin_for_the_release_it_resolves(releases, tmp_path):
    """Over plain HTTP (and from a file) nothing but the pin vouches for the bundle: a
    latest release the pins leave out is refused before anything is downloaded."""
    releases.latest_tag = "v2.16.0"
    releases.release("v2.16.0", {"harbor-offline-installer-v2.16.0.tgz": BUNDLE})
    with pytest.raises(InstallerError) as raised:
        _fetch(_config(releases, harbor_version="latest"), tmp_path)
    assert str(raised.value) == (
        f"harbor_installer_sha256 pins no sha256 for v2.16.0, and harbor_mirror_url {releases.url}/ is plain HTTP: "
        "add it"
    )
    assert releases.downloads() == []
    assert _fetch(_config(releases, harbor_version="latest", harbor_installer_sha256=_sha256(BUNDLE)), tmp_path)


def test_latest_holds_the_installed_release_and_installs_the_newest_on_a_fresh_server(releases, tmp_path):
    releases.latest_tag = "v2.14.0"
    for tag in ("v2.13.1", "v2.14.0"):
        releases.release(tag, {f"harbor-offline-installer-{tag}.tgz": BUNDLE})
    config = _config(releases, harbor_version="latest")
    assert _fetch(config, tmp_path, installed="v2.13.1").version == "v2.13.1"
    assert LATEST not in [path for path, _ in releases.requests]  # upstream not even asked
    assert _fetch(config, tmp_path, installed=None).version == "v2.14.0"


def test_a_file_of_another_release_than_the_one_latest_holds_is_refused(tmp_path):
    bundle = tmp_path / "harbor-offline-installer-v2.14.0.tgz"
    bundle.write_bytes(BUNDLE)
    with pytest.raises(InstallerError) as raised:
        installer.fetch(_file_config(bundle, harbor_version="latest"), installed="v2.13.1")
    assert str(raised.value) == (
        "harbor-offline-installer-v2.14.0.tgz is v2.14.0, but harbor_version latest holds the installed v2.13.1: "
        "set harbor_version to v2.14.0 to upgrade"
    )
    assert installer.fetch(_file_config(bundle, harbor_version="latest"), installed="v2.14.0").version == "v2.14.0"


def test_md5sum_parsing_and_asset_choice():
    sums = installer.parse_md5sum(
        "0123456789abcdef0123456789ABCDEF  harbor-offline-installer-v2.13.1.tgz\n"
        "fedcba9876543210fedcba9876543210 *harbor-online-installer-v2.13.1.tgz\n\nnot a line\n"
    )
    assert sums == {
        "harbor-offline-installer-v2.13.1.tgz": "0123456789abcdef0123456789abcdef",
        "harbor-online-installer-v2.13.1.tgz": "fedcba9876543210fedcba9876543210",
    }
    names = ["harbor-offline-installer-v2.13.1.tgz", "harbor-offline-installer-v2.13.10.tgz"]
    assert installer.offline_asset_name(names, "v2.13.1") == "harbor-offline-installer-v2.13.1.tgz"
    assert installer.offline_asset_name(names, "v2.13.1", arch="arm64") == names[0]


def test_each_source_has_its_own_cache_so_an_official_run_never_takes_a_mirror_bundle(releases, tmp_path):
    releases.release("v2.13.1", {"harbor-offline-installer-v2.13.1.tgz": BUNDLE})
    mirrored = _fetch(_config(releases), tmp_path)
    official = merged({"harbor_hostname": "harbor.example", "harbor_version": "v2.13.1"})
    assert installer.source_key(official) == "github.com"
    assert mirrored.path.parent.parent.name.startswith("mirror-127.0.0.1-")

    class Offline(requests.Session):
        def get(self, url, **kwargs):
            raise requests.ConnectionError("no network in this test")

    with pytest.raises(InstallerError, match="cannot download https://github.com/"):
        installer.fetch(official, cache_dir=tmp_path / "cache", env={}, session=Offline(), progress=io.StringIO())


def test_progress_on_a_terminal_redraws_one_line(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    indicator = installer.Progress("bundle.tgz", 4 << 20, stream)
    for _ in range(4):
        indicator.advance(1 << 20)
    indicator.finish()
    assert stream.getvalue().count("\r") == 4 and stream.getvalue().endswith("100% (4/4 MiB)\n")


def test_progress_in_a_log_writes_a_line_every_few_seconds(monkeypatch):
    clock = iter([0, 1, 2, 6, 7, 13, 14])
    monkeypatch.setattr(installer.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    indicator = installer.Progress("bundle.tgz", 6 << 20, stream)
    for _ in range(6):
        indicator.advance(1 << 20)
    indicator.finish()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "downloading bundle.tgz: 16% (1/6 MiB)",
        "downloading bundle.tgz: 66% (4/6 MiB)",
        "downloading bundle.tgz: 100% (6/6 MiB)",
    ]


def test_a_files_digests_are_read_once_per_version_of_the_file(tmp_path):
    bundle = tmp_path / "harbor-offline-installer-v2.13.1.tgz"
    bundle.write_bytes(b"first version")
    first = installer.file_hashes(bundle)
    assert first[1] == hashlib.sha256(b"first version").hexdigest()
    [memo] = (installer.default_cache_dir().parent / "hashes").glob("*.json")
    remembered = json.loads(memo.read_text())
    memo.write_text(json.dumps({**remembered, "sha256": "remembered"}))
    assert installer.file_hashes(bundle)[1] == "remembered"  # not read again
    with open(bundle, "ab") as handle:  # any write: a truncated or corrupted bundle too
        handle.write(b"!")
    assert installer.file_hashes(bundle)[1] == hashlib.sha256(b"first version!").hexdigest()
