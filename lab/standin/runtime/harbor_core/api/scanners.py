"""Scanner registrations and the scan-all schedule (src/server/v2.0/handler/scanner.go,
scan_all.go; src/pkg/scan/dao/scanner; src/core/main.go ``registerScanners``). The
stand-in registers Trivy at start as Harbor does; it runs no scan."""

import json
import urllib.error
import urllib.request
import uuid

from harbor_core.api.schedules import SCHEDULE_TYPES
from harbor_core.auth import require_admin
from harbor_core.errors import ApiError, bad_request, not_found
from harbor_core.http import Response, Route, listing
from harbor_core.rules import cron_problem
from harbor_core.store import SCAN_ALL_VENDOR

# main.go registerScanners: the Trivy adapter of an installation --with-trivy.
TRIVY = {
    "name": "Trivy",
    "description": "The Trivy scanner adapter",
    "use_internal_addr": True,
    "immutable": True,
}
METADATA_TIMEOUT = 5.0


def register_trivy(app):
    """EnsureScanners, then EnsureDefaultScanner (only when no scanner is the default)."""
    if not app.settings.with_trivy:
        return
    host, port = app.settings.components["trivy"]
    app.store.ensure_scanner(str(uuid.uuid4()), url=f"http://{host}:{port}", **TRIVY)
    scanners = app.store.scanners()
    if not any(scanner["is_default"] for scanner in scanners):
        app.store.set_default_scanner(next(s["uuid"] for s in scanners if s["name"] == TRIVY["name"]))


def adapter_metadata(scanner):
    """The adapter's ``GET /api/v1/metadata`` (None when it does not answer)."""
    request = urllib.request.Request(
        scanner["url"] + "/api/v1/metadata",
        headers={"Accept": "application/vnd.scanner.adapter.metadata+json; version=1.0"},
    )
    try:
        with urllib.request.urlopen(request, timeout=METADATA_TIMEOUT) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError, urllib.error.HTTPError):
        return None


def scanner_view(scanner):
    """ScannerRegistration.ToSwagger."""
    return {
        "uuid": scanner["uuid"],
        "name": scanner["name"],
        "url": scanner["url"],
        "description": scanner["description"],
        "auth": scanner["auth"],
        "access_credential": scanner["access_cred"],
        "skip_certVerify": scanner["skip_cert_verify"],
        "use_internal_addr": scanner["use_internal_addr"],
        "is_default": scanner["is_default"],
        "disabled": scanner["disabled"],
        "create_time": scanner["create_time"],
        "update_time": scanner["update_time"],
    }


def stored_scanner(app, registration_id):
    found = [scanner for scanner in app.store.scanners() if scanner["uuid"] == registration_id]
    if not found:
        raise not_found(f"scanner {registration_id} not found")
    return found[0]


def list_scanners(app, request):
    require_admin(request.principal)
    return listing([scanner_view(scanner) for scanner in app.store.scanners()], request.query)


def get_scanner(app, request):
    require_admin(request.principal)
    return Response(200, scanner_view(stored_scanner(app, request.params[0])))


def scanner_metadata(app, request):
    """The adapter's metadata (its scanner, capabilities and properties), as Harbor
    relays it."""
    require_admin(request.principal)
    metadata = adapter_metadata(stored_scanner(app, request.params[0]))
    if metadata is None:
        raise ApiError(500, "UNKNOWN", "internal server error")
    return Response(200, metadata)


def set_default(app, request):
    """PATCH ``{is_default: true}``: only an enabled registration (404 otherwise)."""
    body = request.body()
    require_admin(request.principal)
    if body.get("is_default") and not app.store.set_default_scanner(request.params[0]):
        raise not_found(f"registration {request.params[0]} not found")
    return Response(200)


# --- scan all ------------------------------------------------------------------------


def require_scan_enabled(app, principal):
    """scan_all.go requireAccess: a default scanner, else 412 for every call."""
    require_admin(principal)
    if not any(scanner["is_default"] for scanner in app.store.scanners()):
        raise ApiError(412, "PRECONDITION", "no scanner is configured, it's not possible to scan")


def get_scan_all(app, request):
    """The schedule (``parameters`` a map here), or 200 without a body."""
    require_scan_enabled(app, request.principal)
    schedule = app.store.schedule(SCAN_ALL_VENDOR)
    if schedule is None:
        return Response(200)
    shown = {key: value for key, value in schedule.items() if key not in ("job_kind", "job_parameters")}
    return Response(200, {**shown, "parameters": json.loads(schedule["job_parameters"])})


def set_scan_all(app, request):
    """POST: None does nothing, Manual would start a scan (none in the stand-in), a
    schedule only when there is none (412); PUT: Manual refused, None removes, a
    schedule replaces. The cron is checked like every schedule's."""
    body = request.body()
    require_scan_enabled(app, request.principal)
    schedule = body.get("schedule") or {}
    kind, cron = schedule.get("type"), schedule.get("cron") or ""
    if kind not in SCHEDULE_TYPES:
        raise ApiError(
            422,
            "UNPROCESSABLE_ENTITY",
            f"validation failure list:\nschedule.type in body should be one of {list(SCHEDULE_TYPES)}",
        )
    existing = app.store.schedule(SCAN_ALL_VENDOR)
    if request.method == "POST":
        if kind in ("None", "Manual"):
            return Response(201)
        if existing is not None:
            raise ApiError(
                412,
                "PRECONDITION",
                "fail to set schedule for scan all as always had one, please delete it firstly then to re-schedule",
            )
    elif kind == "Manual":
        raise bad_request(f"fail to update scan all schedule as wrong schedule type: {kind}")
    elif kind == "None":
        app.store.set_schedule(SCAN_ALL_VENDOR, None, "", {})
        return Response(200)
    problem = cron_problem(cron)
    if problem:
        raise bad_request(f"invalid cron string for scheduled scan all: {cron}, error: {problem}")
    app.store.set_schedule(SCAN_ALL_VENDOR, kind, cron, {})
    return Response(201 if request.method == "POST" else 200)


ROUTES = [
    Route("GET", r"/scanners", list_scanners),
    Route("GET", r"/scanners/([0-9a-f-]+)", get_scanner),
    Route("PATCH", r"/scanners/([0-9a-f-]+)", set_default),
    Route("GET", r"/scanners/([0-9a-f-]+)/metadata", scanner_metadata),
    Route("GET", r"/system/scanAll/schedule", get_scan_all),
    Route("POST", r"/system/scanAll/schedule", set_scan_all),
    Route("PUT", r"/system/scanAll/schedule", set_scan_all),
]
