"""The garbage collection schedule."""

from harbor_core.auth import require_admin
from harbor_core.errors import ApiError, bad_request
from harbor_core.http import Response, Route
from harbor_core.rules import cron_problem

GC_TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Manual", "None", "Schedule")


def get_schedule(app, request):
    """Like real: no schedule yet is a 200 without a body."""
    require_admin(request.principal)
    return Response(200, app.store.gc_schedule())


def set_schedule(app, request):
    """Like real (``gc.go``): Hourly, Daily, Weekly and Custom all need a valid
    6-field cron with 0 seconds (the type never implies one); None removes the
    schedule; Manual starts a run; workers must be 1-10 (validateWorkers). POST
    answers 201, PUT 200."""
    body = request.body()
    require_admin(request.principal)
    done = Response(201 if request.method == "POST" else 200)
    schedule = body.get("schedule") or {}
    kind, cron = schedule.get("type"), schedule.get("cron") or ""
    if kind in ("", None, "Schedule"):
        return done  # enum-valid (or no type at all) but no case in gc.go: nothing happens
    if kind not in GC_TYPES:
        raise ApiError(
            422,
            "UNPROCESSABLE_ENTITY",
            f"validation failure list:\nschedule.type in body should be one of {list(GC_TYPES)}",
        )
    parameters = body.get("parameters") or {}
    workers = parameters.get("workers", 0)
    if "workers" in parameters:
        if not isinstance(workers, int) or isinstance(workers, bool):
            raise bad_request("workers should be integer format")
        if not 1 <= workers <= 10:
            raise bad_request(
                f"Error: Invalid number of workers:{workers}. Workers must be greater than 0 "
                "and less than or equal to 10."
            )
    if kind == "Manual":
        return done
    if kind == "None":
        app.store.set_gc_schedule(None, "", {})
        return done
    problem = cron_problem(cron)
    if problem:
        raise bad_request(f"invalid cron string for scheduled gc: {cron}, error: {problem}")
    app.store.set_gc_schedule(
        kind, cron, {"delete_untagged": bool(parameters.get("delete_untagged")), "workers": workers}
    )
    return done


ROUTES = [
    Route("GET", r"/system/gc/schedule", get_schedule),
    Route("POST", r"/system/gc/schedule", set_schedule),
    Route("PUT", r"/system/gc/schedule", set_schedule),
]
