"""In-process parts of a Harbor the unit tests need beside the stand-in core: a registry
speaking the distribution API, and the front (nginx's routing) before both.

``DistributionRegistry`` stores what it is pushed the way CNCF distribution's
filesystem driver does (``<root>/docker/registry/v2/blobs/...`` and
``repositories/<name>/_manifests/...``), so the stand-in core reads it as it reads the
lab's real registry; it asks for bearer tokens with the challenge distribution's token
auth sends, and grants what a token's ``access`` claims (it trusts the token: the
lab's real registry checks the signature with Harbor's root certificate).
``Front`` routes as the stand-in's nginx does: manifest PUTs and everything outside
``/v2/`` to core, the rest of ``/v2/`` to the registry.
"""

import base64
import hashlib
import http.client
import http.server
import json
import re
import threading
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")
BLOB_PATH = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
UPLOAD_PATH = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<session>[0-9a-f-]*)$")


def token_access(authorization):
    """{(name, action)} a bearer token's claims grant."""
    if not (authorization or "").startswith("Bearer "):
        return None
    claims = authorization[7:].split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    return {(item["name"], action) for item in payload.get("access") or [] for action in item["actions"]}


class DistributionRegistry:
    def __init__(self, root, realm=""):
        self.storage = Path(root) / "docker" / "registry" / "v2"
        self.realm = realm
        self.uploads = {}
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body=b"", headers=None):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def allowed(self, name, action):
                access = token_access(self.headers.get("Authorization"))
                if access is not None and (name, action) in access:
                    return True
                challenge = f'Bearer realm="{registry.realm}",service="harbor-registry"'
                if name:
                    challenge += f',scope="repository:{name}:{action}"'
                self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
                return False

            def body(self):
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self):
                registry.serve(self)

            do_HEAD = do_GET

            def do_PUT(self):
                registry.serve(self)

            do_POST = do_PUT

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- distribution's storage layout ------------------------------------------------

    def blob_path(self, digest):
        hex_digest = digest.split(":", 1)[1]
        return self.storage / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data"

    def link(self, path, digest):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(digest)

    def manifests(self, name):
        return self.storage / "repositories" / name / "_manifests"

    def resolve(self, name, reference):
        if reference.startswith("sha256:"):
            link = self.manifests(name) / "revisions" / "sha256" / reference.split(":", 1)[1] / "link"
        else:
            link = self.manifests(name) / "tags" / reference / "current" / "link"
        return link.read_text() if link.is_file() else None

    # --- the API ------------------------------------------------------------------------

    def serve(self, request):
        path, method = urlsplit(request.path).path, request.command
        if path == "/v2/":
            if token_access(request.headers.get("Authorization")) is not None:
                request.answer(200, b"{}")
            else:
                request.allowed("", "")  # answers the challenge
            return
        for pattern, handler in (
            (MANIFEST_PATH, self.manifest),
            (BLOB_PATH, self.blob),
            (UPLOAD_PATH, self.upload),
        ):
            found = pattern.match(path)
            if found:
                action = "pull" if method in ("GET", "HEAD") else "push"
                if request.allowed(found["name"], action):
                    handler(request, method, **found.groupdict())
                return
        request.answer(404, b'{"errors":[{"code":"NOT_FOUND"}]}')

    def manifest(self, request, method, name, reference):
        if method == "PUT":
            body = request.body()
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.blob_path(digest).parent.mkdir(parents=True, exist_ok=True)
            self.blob_path(digest).write_bytes(body)
            self.link(self.manifests(name) / "revisions" / "sha256" / digest.split(":", 1)[1] / "link", digest)
            if not reference.startswith("sha256:"):
                self.link(self.manifests(name) / "tags" / reference / "current" / "link", digest)
                self.link(self.manifests(name) / "tags" / reference / "index" / "sha256" / digest[7:] / "link", digest)
            headers = {"Docker-Content-Digest": digest, "Location": f"/v2/{name}/manifests/{digest}"}
            return request.answer(201, b"", headers)
        digest = self.resolve(name, reference)
        if digest is None:
            return request.answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        body = self.blob_path(digest).read_bytes()
        media_type = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        headers = {"Docker-Content-Digest": digest, "Content-Type": media_type}
        request.answer(200, body, headers)

    def blob(self, request, method, name, digest):
        link = self.storage / "repositories" / name / "_layers" / "sha256" / digest.split(":", 1)[1] / "link"
        if not link.is_file() or not self.blob_path(digest).is_file():
            return request.answer(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        request.answer(200, self.blob_path(digest).read_bytes(), {"Docker-Content-Digest": digest})

    def upload(self, request, method, name, session):
        if method == "POST":
            session = str(uuid.uuid4())
            request.body()
            return request.answer(202, b"", {"Location": f"/v2/{name}/blobs/uploads/{session}"})
        data = request.body()
        digest = parse_qs(urlsplit(request.path).query)["digest"][0]
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return request.answer(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
        self.blob_path(digest).parent.mkdir(parents=True, exist_ok=True)
        self.blob_path(digest).write_bytes(data)
        self.link(
            self.storage / "repositories" / name / "_layers" / "sha256" / digest.split(":", 1)[1] / "link", digest
        )
        request.answer(201, b"", {"Docker-Content-Digest": digest, "Location": f"/v2/{name}/blobs/{digest}"})


class Front:
    """nginx before core and the registry: a manifest PUT and all but /v2/ to core."""

    def __init__(self, core_url, registry_url):
        front = self
        self.core, self.registry = urlsplit(core_url).netloc, urlsplit(registry_url).netloc

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                path = urlsplit(self.path).path
                to_core = not path.startswith("/v2/") or (self.command == "PUT" and MANIFEST_PATH.match(path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                connection = http.client.HTTPConnection(front.core if to_core else front.registry, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                length_header = answer.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length_header or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
