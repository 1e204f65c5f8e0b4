"""Scanning: which registered scanner is the default (``harbor_default_scanner``) and
when Harbor scans every artifact (``harbor_scan_all_schedule``).

What this encodes of Harbor v2.13.1 (goharbor/harbor at that tag):

- src/core/main.go ``registerScanners``: a Harbor installed with Trivy registers it
  as "Trivy" (immutable) and makes it the default when none is; other scanners are
  registered through the API (not managed here).
- src/pkg/scan/dao/scanner/registration.go ``SetDefaultRegistration``: only an enabled
  registration becomes the default (a disabled one is "not found", 404); the one
  before stops being it. ``PATCH /scanners/{uuid}`` with ``is_default: true`` does it.
- src/server/v2.0/handler/scan_all.go: every call needs a default scanner (412 "no
  scanner is configured"); POST creates a schedule only when there is none (412
  otherwise), PUT replaces it, type ``None`` removes it; the cron must be valid with 6
  fields and seconds 0 (``utils.ValidateCronString``).
"""

from harbor_deploy.lib.harbor_api.resources.common import Change, FieldChange, ResourceError
from harbor_deploy.lib.harbor_api.resources.schedules import (
    current_schedule,
    plan_schedule,
    schedule_name,
    schedule_spec,
)

SCANNERS = "/scanners"
SCAN_ALL_PATH = "/system/scanAll/schedule"
# scan_all.go requireScanEnabled: no default scanner, no scan-all at all.
NO_SCANNER = 412


def default_scanner_spec(raw):
    """``harbor_default_scanner``: the name of a registered scanner."""
    return {"name": raw}


def scan_all_spec(raw):
    """``{schedule}``: Hourly, Daily, Weekly, a 6-field cron or None (removes it)."""
    return schedule_spec(raw["schedule"], {})


def plan_default_scanner(client, specs, _store=None):
    if not specs:
        return []
    [spec] = specs
    scanners = client.list(SCANNERS, "scanners")
    wanted = next((item for item in scanners if item["name"] == spec["name"]), None)
    if wanted is None:
        names = ", ".join(item["name"] for item in scanners) or "none"
        raise ResourceError(f"harbor_default_scanner: Harbor has no scanner {spec['name']} (it has: {names})")
    if wanted.get("is_default"):
        return []
    if wanted.get("disabled"):
        raise ResourceError(
            f"harbor_default_scanner: scanner {spec['name']} is disabled, and Harbor makes only an enabled one the "
            "default"
        )
    before = next((item["name"] for item in scanners if item.get("is_default")), None)
    return [
        Change(
            "update",
            "default scanner",
            spec["name"],
            (FieldChange("default", before, spec["name"]),),
            lambda: client.patch(f"{SCANNERS}/{wanted['uuid']}", f"scanner {spec['name']}", {"is_default": True}),
        )
    ]


def plan_scan_all(client, specs, _store=None):
    return plan_schedule(client, SCAN_ALL_PATH, "scan all", specs)


def export_default_scanner(client):
    return next((item["name"] for item in client.list(SCANNERS, "scanners") if item.get("is_default")), None)


def export_scan_all(client):
    """``harbor_scan_all_schedule``, None without a schedule (or without a default
    scanner, when Harbor answers no scan-all call)."""
    response = client.request("GET", SCAN_ALL_PATH, "scan all schedule", ok=(NO_SCANNER,))
    if response.status_code == NO_SCANNER or not response.content:
        return None
    kind, cron, _ = current_schedule(response.json())
    return None if kind == "None" else {"schedule": schedule_name(kind, cron)}
