"""Loopback release mirror shaped like GitHub releases (lab, and air-gapped sites).

    python -m lab.mirror --root DIR --port 18480

Serves ``DIR/goharbor/harbor/releases/download/<tag>/<asset>`` as files and a
GitHub-releases-shaped API built from that tree:
``/repos/goharbor/harbor/releases``, ``/releases/latest``, ``/releases/tags/<tag>``,
whose ``browser_download_url`` values point back at this server.
"""

import argparse
import json
import re
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = "goharbor/harbor"
DOWNLOADS = f"{REPO}/releases/download"
TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def release_tags(root):
    """Release tags present under ``root``, oldest first."""
    folder = Path(root) / DOWNLOADS
    tags = [p.name for p in folder.iterdir() if p.is_dir() and TAG.match(p.name)] if folder.is_dir() else []
    return sorted(tags, key=lambda tag: tuple(int(n) for n in TAG.match(tag).groups()))


def release(root, tag, base_url):
    folder = Path(root) / DOWNLOADS / tag
    assets = [
        {
            "name": asset.name,
            "size": asset.stat().st_size,
            "content_type": "application/octet-stream",
            "browser_download_url": f"{base_url}/{DOWNLOADS}/{tag}/{asset.name}",
        }
        for asset in sorted(folder.iterdir())
        if asset.is_file()
    ]
    return {
        "tag_name": tag,
        "name": tag,
        "draft": False,
        "prerelease": False,
        "html_url": f"{base_url}/{REPO}/releases/tag/{tag}",
        "assets": assets,
    }


class MirrorHandler(SimpleHTTPRequestHandler):
    def api(self):
        base_url = f"http://{self.headers.get('Host', '127.0.0.1')}"
        tags = release_tags(self.directory)
        path = self.path.split("?", 1)[0].rstrip("/")
        prefix = f"/repos/{REPO}/releases"
        if path == prefix:
            return [release(self.directory, tag, base_url) for tag in reversed(tags)]
        if path == f"{prefix}/latest" and tags:
            return release(self.directory, tags[-1], base_url)
        if path.startswith(f"{prefix}/tags/") and path.rsplit("/", 1)[1] in tags:
            return release(self.directory, path.rsplit("/", 1)[1], base_url)
        return None

    def do_GET(self):
        if not self.path.startswith("/repos/"):
            return super().do_GET()
        body = self.api()
        status = 200 if body is not None else 404
        payload = json.dumps(body if body is not None else {"message": "Not Found"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def list_directory(self, path):
        self.send_error(404, "Not Found")  # like GitHub: no directory listings

    def log_message(self, format, *args):
        pass


def serve(root, port, host="127.0.0.1"):
    server = ThreadingHTTPServer((host, port), partial(MirrorHandler, directory=str(root)))
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=18480)
    options = parser.parse_args()
    serve(options.root, options.port)
