"""The schedules of Harbor's system jobs: garbage collection and the audit-log purge,
served alike (src/server/v2.0/handler/gc.go and purge.go): GET answers the schedule
(200 without a body when there is none), POST (201) and PUT (200) set it; Hourly,
Daily, Weekly and Custom all need a valid 6-field cron with 0 seconds (the type never
implies one); None removes the schedule; Manual starts a run."""

import json

from harbor_core.auth import require_admin
from harbor_core.errors import ApiError, bad_request
from harbor_core.http import Response, Route
from harbor_core.rules import cron_problem
from harbor_core.store import GC_VENDOR, PURGE_AUDIT_VENDOR

SCHEDULE_TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Manual", "None", "Schedule")
# purge.go: common.MaxAuditRetentionHour.
MAX_AUDIT_RETENTION_HOURS = 240000


def gc_parameters(parameters):
    """gc.go (validateWorkers): workers must be 1-10; Harbor keeps delete_untagged and workers."""
    workers = parameters.get("workers", 0)
    if "workers" in parameters:
        if not isinstance(workers, int) or isinstance(workers, bool):
            raise bad_request("workers should be integer format")
        if not 1 <= workers <= 10:
            raise bad_request(
                f"Error: Invalid number of workers:{workers}. Workers must be greater than 0 "
                "and less than or equal to 10."
            )
    return {"delete_untagged": bool(parameters.get("delete_untagged")), "workers": workers}


def purge_parameters(parameters):
    """purge.go verifyCreateRequest/verifyUpdateRequest: parameters are required, with
    audit_retention_hour (an integer up to 240000) and include_event_types; Harbor
    keeps them as sent."""
    if not parameters:
        raise bad_request("schedule parameter cann't be empty")
    if "audit_retention_hour" not in parameters:
        raise bad_request("audit_retention_hour should provide")
    hours = parameters["audit_retention_hour"]
    if isinstance(hours, float) and not hours.is_integer():
        raise bad_request("audit_retention_hour should be integer format")
    if isinstance(hours, int | float) and not isinstance(hours, bool) and hours > MAX_AUDIT_RETENTION_HOURS:
        raise bad_request(f"audit_retention_hour should be less than {MAX_AUDIT_RETENTION_HOURS}")
    if "include_event_types" not in parameters:
        raise bad_request("include_event_types should provide")
    return json.loads(json.dumps(parameters))


# vendor type -> (what a bad cron names, the parameters' check, whether that check
# comes before anything else: purge.go verifies the request first, gc.go only for a
# type it acts on)
JOBS = {
    GC_VENDOR: ("invalid cron string for scheduled gc", gc_parameters, False),
    PURGE_AUDIT_VENDOR: ("invalid cron string for scheduled log rotation purge", purge_parameters, True),
}


def get_schedule(vendor):
    def handler(app, request):
        require_admin(request.principal)
        return Response(200, app.store.schedule(vendor))

    return handler


def set_schedule(vendor):
    what, checked_parameters, verified_first = JOBS[vendor]

    def handler(app, request):
        body = request.body()
        require_admin(request.principal)
        done = Response(201 if request.method == "POST" else 200)
        schedule = body.get("schedule")
        if verified_first and not schedule:
            raise bad_request("schedule cann't be empty")
        schedule = schedule or {}
        kind, cron = schedule.get("type"), schedule.get("cron") or ""
        if kind not in (*SCHEDULE_TYPES, "", None):
            raise ApiError(
                422,
                "UNPROCESSABLE_ENTITY",
                f"validation failure list:\nschedule.type in body should be one of {list(SCHEDULE_TYPES)}",
            )
        if verified_first:
            parameters = checked_parameters(body.get("parameters") or {})
        if kind in ("", None, "Schedule"):
            return done  # enum-valid (or no type at all) but no case in the handler: nothing happens
        if not verified_first:
            parameters = checked_parameters(body.get("parameters") or {})
        if kind == "Manual":
            return done
        if kind == "None":
            app.store.set_schedule(vendor, None, "", {})
            return done
        problem = cron_problem(cron)
        if problem:
            raise bad_request(f"{what}: {cron}, error: {problem}")
        app.store.set_schedule(vendor, kind, cron, parameters)
        return done

    return handler


ROUTES = [
    Route("GET", r"/system/gc/schedule", get_schedule(GC_VENDOR)),
    Route("POST", r"/system/gc/schedule", set_schedule(GC_VENDOR)),
    Route("PUT", r"/system/gc/schedule", set_schedule(GC_VENDOR)),
    Route("GET", r"/system/purgeaudit/schedule", get_schedule(PURGE_AUDIT_VENDOR)),
    Route("POST", r"/system/purgeaudit/schedule", set_schedule(PURGE_AUDIT_VENDOR)),
    Route("PUT", r"/system/purgeaudit/schedule", set_schedule(PURGE_AUDIT_VENDOR)),
]
