"""Ping, health, system information and the registry token service (the settings
themselves: ``configurations``)."""

import datetime
import socket
from concurrent.futures import ThreadPoolExecutor

from harbor_core.errors import not_found
from harbor_core.http import Response, Route, first

PROBE_TIMEOUT = 1.0


def now_iso():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ping(app, request):
    return Response(200, "Pong", content_type="text/plain; charset=utf-8")


def probe_port(host, port):
    with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
        pass


def health(app, request):
    """Each component: the others answering on their port; the database a query, Redis a PING."""
    database = app.settings.database
    checks = {
        name: (f"{host}:{port}", lambda host=host, port=port: probe_port(host, port))
        for name, (host, port) in app.settings.components.items()
    }
    checks["database"] = (f"{database.host}:{database.port}", app.database.ping)
    checks["redis"] = ("redis", app.redis.ping)

    def probe(item):
        name, (where, check) = item
        try:
            check()
            return {"name": name, "status": "healthy"}
        except Exception as error:  # noqa: BLE001 - any failure is the component's error
            return {"name": name, "status": "unhealthy", "error": f"failed to connect to {where}: {error}"}

    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        components = [{"name": "core", "status": "healthy"}, *pool.map(probe, checks.items())]
    components.sort(key=lambda component: component["name"])
    healthy = all(component["status"] == "healthy" for component in components)
    return Response(200, {"status": "healthy" if healthy else "unhealthy", "components": components})


def systeminfo(app, request):
    """What anyone sees of the settings, and more once signed in (handler/systeminfo.go)."""
    info = {
        key: app.configuration(key) for key in ("auth_mode", "primary_auth_mode", "self_registration", "banner_message")
    }
    if request.principal.authenticated:
        info.update(
            {
                "current_time": now_iso(),
                "registry_url": app.settings.registry_url,
                "external_url": app.settings.external_url,
                "project_creation_restriction": app.configuration("project_creation_restriction"),
                "has_ca_root": app.settings.ca_path.is_file(),
                "harbor_version": f"{app.settings.version}-standin",
                "registry_storage_provider_name": app.settings.storage_provider,
                "read_only": app.configuration("read_only"),
                "notification_enable": app.configuration("notification_enable"),
            }
        )
    return Response(200, info)


def getcert(app, request):
    if not app.settings.ca_path.is_file():
        raise not_found("no default root certificate")
    return Response(
        200,
        app.settings.ca_path.read_bytes(),
        content_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="ca.crt"'},
    )


def registry_token(app, request):
    """GET /service/token (distribution's token auth), outside the API."""
    found = app.tokens.issue(
        request.principal,
        first(request.query, "service"),
        request.query.get("scope", []),
        lambda name: app.store.project(name, by_name=True),
    )
    return Response(200, found)


ROUTES = [
    Route("GET", r"/ping", ping, authenticate=False),
    Route("GET", r"/health", health, authenticate=False),
    Route("GET", r"/systeminfo", systeminfo),
    Route("GET", r"/systeminfo/getcert", getcert),
]
OUTSIDE_API = [Route("GET", r"/service/token", registry_token)]
