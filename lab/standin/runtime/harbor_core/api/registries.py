"""Registry endpoints (replication and proxy cache targets), health-checked through
their adapter on create and on every update, like Harbor's ``validate``."""

import base64
import copy
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

from harbor_core.auth import require_admin
from harbor_core.errors import bad_request, internal_error, not_found
from harbor_core.http import API, Response, Route, filtered, listing, query_keywords
from harbor_core.rules import normalised_url

PROBE_TIMEOUT = 5.0
# Registry types whose adapter pings <url>/v2/ (the native adapter's health check).
NATIVE_PING_TYPES = (
    "docker-registry",
    "harbor",
    "quay",
    "gitlab",
    "jfrog-artifactory",
    "github-ghcr",
    "azure-acr",
    "aws-ecr",
    "google-gcr",
    "ali-acr",
    "huawei-SWR",
    "tencent-tcr",
    "volcengine-cr",
    "dtr",
)


def http_answer(url, context, headers=None):
    """(status, headers, body) of a GET."""
    request = urllib.request.Request(url, headers={"User-Agent": "harbor-standin", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT, context=context) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, b""


def ping_with_credential(url, context, credential):
    basic = (
        "Basic "
        + base64.b64encode(f"{credential['access_key']}:{credential.get('access_secret', '')}".encode()).decode()
    )
    status, headers, _ = http_answer(url, context)
    if status != 401:
        return status == 200
    challenge = headers.get("WWW-Authenticate", "")
    if challenge.lower().startswith("basic"):
        return http_answer(url, context, {"Authorization": basic})[0] == 200
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if not challenge.lower().startswith("bearer") or "realm" not in fields:
        return False
    query = "&".join(f"{key}={urllib.parse.quote(fields[key])}" for key in ("service", "scope") if key in fields)
    status, _, body = http_answer(f"{fields['realm']}?{query}", context, {"Authorization": basic})
    if status != 200:
        return False
    token = json.loads(body).get("token", "")
    return http_answer(url, context, {"Authorization": f"Bearer {token}"})[0] == 200


def health_check(registry):
    """Create the registry's adapter and check its health, like ``IsHealthy``.

    ``harbor`` first reads ``<url>/api/version`` (a failure there is an adapter error:
    500); every adapter then pings ``<url>/v2/``: 200, or 401/403 without credentials,
    is healthy, anything else 400 "the registry is unhealthy". ``docker-hub`` ignores
    the URL and pings registry-1.docker.io; the lab is air-gapped (its rule: no
    address outside it is ever contacted), so here that ping fails without trying.
    """
    kind = registry["type"]
    if kind == "docker-hub":
        raise bad_request("the registry is unhealthy")
    if kind not in NATIVE_PING_TYPES:
        raise internal_error()  # adapter factory for <type> not found
    context = ssl.create_default_context()
    if registry["insecure"]:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    credential = registry.get("credential") or {}
    try:
        if kind == "harbor":
            http_answer(registry["url"] + "/api/version", context)
    except OSError:
        raise internal_error() from None
    try:
        if credential.get("access_key"):
            # Ping: answers a Basic or Bearer challenge with the credential.
            healthy = ping_with_credential(registry["url"] + "/v2/", context, credential)
        else:
            # PingSimple: an auth challenge also proves the registry is there.
            healthy = http_answer(registry["url"] + "/v2/", context)[0] in (200, 401, 403)
    except OSError:
        healthy = False
    if not healthy:
        raise bad_request("the registry is unhealthy")


def checked(registry):
    """Harbor's ``validate`` on create and on every update: name, URL (normalised)
    and a health check of the endpoint through its adapter."""
    if not registry["name"]:
        raise bad_request("name cannot be empty")
    if len(registry["name"]) > 64:
        raise bad_request("the max length of name is 64")
    registry["url"] = normalised_url(registry["url"])
    health_check(registry)
    return registry


def registry_view(registry):
    view = {key: value for key, value in registry.items() if key != "credential"}
    credential = registry.get("credential") or {}
    # Like real: always a credential object; the access secret never returned.
    view["credential"] = {
        "type": credential.get("type", ""),
        "access_key": credential.get("access_key", ""),
        "access_secret": "*****" if credential.get("access_secret") else "",
    }
    view["status"] = "healthy"
    return view


def stored_registry(app, request):
    require_admin(request.principal)
    registry = app.store.registry(request.params[0])
    if not registry:
        raise not_found(f"registry {request.params[0]} not found")
    return registry


def list_registries(app, request):
    require_admin(request.principal)
    # Like real (handler/registry.go ListRegistries): q, with name also a fuzzy parameter.
    keywords = query_keywords(request.query, fuzzy_params=("name",))
    registries = filtered(app.store.registries(), keywords, {"name": "name", "type": "type", "url": "url"})
    return listing([registry_view(registry) for registry in registries], request.query)


def get_registry(app, request):
    return Response(200, registry_view(stored_registry(app, request)))


def create_registry(app, request):
    body = request.body()
    require_admin(request.principal)
    credential = body.get("credential") or {}
    registry = {
        "name": body.get("name") or "",
        "url": body.get("url") or "",
        "type": body.get("type") or "",
        "insecure": bool(body.get("insecure")),
        "description": body.get("description") or "",
        # Like real: a credential is kept only with an access key.
        "credential": credential if credential.get("access_key") else {},
    }
    registry_id = app.store.create_registry(checked(registry))
    return Response(201, headers={"Location": f"{API}/registries/{registry_id}"})


def update_registry(app, request):
    """``RegistryUpdate``: every field optional; one left out keeps its stored value
    (the access secret too); the result is checked, health included, like a new one."""
    body = request.body()
    updated = copy.deepcopy(stored_registry(app, request))
    for key in ("name", "description", "url", "insecure"):
        if body.get(key) is not None:
            updated[key] = body[key]
    credential = updated.get("credential") or {}
    for field, key in (
        ("type", "credential_type"),
        ("access_key", "access_key"),
        ("access_secret", "access_secret"),
    ):
        if body.get(key) is not None:
            credential[field] = body[key]
    updated["credential"] = credential if credential.get("access_key") else {}
    app.store.update_registry(updated["id"], checked(updated))
    return Response(200)


def delete_registry(app, request):
    app.store.delete_registry(stored_registry(app, request)["id"])
    return Response(200)


ROUTES = [
    Route("GET", r"/registries", list_registries),
    Route("POST", r"/registries", create_registry),
    Route("GET", r"/registries/(\d+)", get_registry),
    Route("PUT", r"/registries/(\d+)", update_registry),
    Route("DELETE", r"/registries/(\d+)", delete_registry),
]
