"""A client of the registry API (OCI distribution v2) as Harbor's replication adapters
use it (src/pkg/registry/client.go, src/controller/replication/transfer/image/
transfer.go): token auth answered from the registry's Bearer challenge with a basic
credential, manifests and blobs pulled and pushed, a blob sent only when the
destination lacks it, the manifest last, by digest and then by each tag."""

import base64
import hashlib
import json
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 30.0
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]


class RegistryError(Exception):
    """A registry call that failed: the method, the path, the status and the answer."""


class Registry:
    """One registry at ``base_url``; ``credential`` is ``(user, secret)`` answering its
    Bearer (or Basic) challenge, or ``token_for(scope)`` returns a token directly (core
    reaching its own registry with a token it signs)."""

    def __init__(self, base_url, credential=None, insecure=False, token_for=None):
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.token_for = token_for
        self.context = ssl.create_default_context()
        if insecure:
            self.context.check_hostname, self.context.verify_mode = False, ssl.CERT_NONE
        self.tokens = {}
        self.lock = threading.Lock()

    def _basic(self):
        user, secret = self.credential
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    def _send(self, method, url, headers, data=None):
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self.context) as answer:
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def _authorization(self, scope, challenge):
        """The Authorization answering ``challenge`` for ``scope``."""
        if self.token_for is not None:
            return "Bearer " + self.token_for(scope)
        if self.credential is None:
            return None
        if challenge.lower().startswith("basic"):
            return self._basic()
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        query = urllib.parse.urlencode({"service": fields.get("service", ""), "scope": scope})
        status, _, body = self._send("GET", f"{fields['realm']}?{query}", {"Authorization": self._basic()})
        if status != 200:
            raise RegistryError(f"token for {scope} from {fields['realm']}: HTTP {status}")
        return "Bearer " + json.loads(body)["token"]

    def call(self, method, path, scope, headers=None, data=None, ok=(200, 201, 202, 204)):
        """(status, headers, body) of ``method path``, authorised for ``scope``; a status
        outside ``ok`` (and 404 for reads) raises ``RegistryError``."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        with self.lock:
            authorization = self.tokens.get(scope)
        for attempt in range(2):
            sent = {**(headers or {}), **({"Authorization": authorization} if authorization else {})}
            status, answer_headers, body = self._send(method, url, sent, data)
            if status != 401 or attempt:
                break
            authorization = self._authorization(scope, answer_headers.get("WWW-Authenticate", ""))
            with self.lock:
                self.tokens[scope] = authorization
        if status not in ok:
            raise RegistryError(f"{method} {path}: HTTP {status}: {body[:300].decode(errors='replace')}")
        return status, answer_headers, body

    def manifest(self, repository, reference):
        """(bytes, media type, digest) of a manifest; None when there is none."""
        status, headers, body = self.call(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            f"repository:{repository}:pull",
            {"Accept": ", ".join(MANIFEST_TYPES)},
            ok=(200, 404),
        )
        if status == 404:
            return None
        media_type = headers.get("Content-Type") or json.loads(body).get("mediaType", "")
        digest = headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        return body, media_type.split(";")[0], digest

    def has_blob(self, repository, digest):
        status, _, _ = self.call(
            "HEAD", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull,push", ok=(200, 404)
        )
        return status == 200

    def blob(self, repository, digest):
        return self.call("GET", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull")[2]

    def push_blob(self, repository, digest, data):
        """A monolithic upload: POST for a session, PUT the bytes with their digest."""
        scope = f"repository:{repository}:pull,push"
        _, headers, _ = self.call("POST", f"/v2/{repository}/blobs/uploads/", scope, data=b"")
        location = headers["Location"]
        if not location.startswith("http"):
            location = self.base_url + location
        separator = "&" if "?" in location else "?"
        self.call(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            scope,
            {"Content-Type": "application/octet-stream"},
            data,
        )

    def push_manifest(self, repository, reference, body, media_type):
        self.call(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            f"repository:{repository}:pull,push",
            {"Content-Type": media_type},
            body,
        )


def referenced_blobs(manifest):
    """The digests of an image manifest's config and layers."""
    return [item["digest"] for item in [manifest.get("config") or {}, *(manifest.get("layers") or [])] if item]


def copy_manifest(source, source_repository, reference, destination, destination_repository):
    """The manifest ``reference`` with everything it references (an index's manifests
    first), blobs sent only when missing; (its bytes, media type, digest)."""
    found = source.manifest(source_repository, reference)
    if found is None:
        raise RegistryError(f"{source_repository}@{reference} is not in the source registry")
    body, media_type, digest = found
    document = json.loads(body)
    if media_type in INDEX_TYPES:
        for child in document.get("manifests") or []:
            copy_manifest(source, source_repository, child["digest"], destination, destination_repository)
    else:
        for blob_digest in referenced_blobs(document):
            if not destination.has_blob(destination_repository, blob_digest):
                destination.push_blob(destination_repository, blob_digest, source.blob(source_repository, blob_digest))
    destination.push_manifest(destination_repository, digest, body, media_type)
    return body, media_type, digest
