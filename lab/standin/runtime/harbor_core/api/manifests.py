"""Manifest pushes through core, as Harbor serves ``/v2/`` (nginx sends the registry
API to core, which checks a push and proxies it to the registry: src/server/registry/
route.go, the immutable middleware src/server/middleware/immutable/pushmf.go), and the
events a push fires once the registry took it (src/controller/event/handler: the
project's webhooks for PUSH_ARTIFACT, the event-based replication policies).

The stand-in's nginx sends only manifest PUTs here (every other registry call goes
to the registry straight): the registry itself checks the client's token."""

import base64
import json
import urllib.error
import urllib.request

from harbor_core.api import replication, webhooks
from harbor_core.api.artifacts import tag_exists
from harbor_core.api.immutable import refuse_immutable_push
from harbor_core.http import Response, Route

FORWARDED_HEADERS = ("Authorization", "Content-Type")
ANSWERED_HEADERS = ("Location", "Docker-Content-Digest", "WWW-Authenticate", "Docker-Distribution-Api-Version")
PROXY_TIMEOUT = 60.0


def pusher(authorization):
    """Who pushes: the subject of the bearer token the registry checks (``sub``)."""
    token = (authorization or "").partition(" ")[2]
    try:
        claims = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))).get("sub", "")
    except (IndexError, ValueError):
        return ""


def push_manifest(app, request):
    name, reference = request.params
    project = app.store.project(name.split("/")[0], by_name=True) if "/" in name else None
    tag = "" if reference.startswith("sha256:") else reference
    if project and tag:
        refuse_immutable_push(
            app, project, name.split("/", 1)[1], tag, tag_exists(app.settings.storage_root, name, tag)
        )
    length = int(request.headers.get("Content-Length") or 0)
    body = request.rfile.read(length) if length else b""
    host, port = app.settings.components["registry"]
    forwarded = urllib.request.Request(
        f"http://{host}:{port}/v2/{name}/manifests/{reference}",
        data=body,
        headers={key: request.headers[key] for key in FORWARDED_HEADERS if request.headers.get(key)},
        method="PUT",
    )
    try:
        with urllib.request.urlopen(forwarded, timeout=PROXY_TIMEOUT) as answer:
            status, headers, answered = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, headers, answered = error.code, error.headers, error.read()
    if status == 201 and project:
        digest = headers.get("Docker-Content-Digest", "")
        payload = webhooks.artifact_payload(
            app, "PUSH_ARTIFACT", project, name, digest, tag, pusher(request.headers.get("Authorization"))
        )
        webhooks.notify(app, project, "PUSH_ARTIFACT", payload)
        replication.on_push(app, name, digest, tag)
    return Response(
        status,
        answered,
        content_type=headers.get("Content-Type") or "application/json",
        headers={key: headers[key] for key in ANSWERED_HEADERS if headers.get(key)},
    )


ROUTES = [Route("PUT", r"/v2/(.+)/manifests/([^/]+)", push_manifest, authenticate=False)]
