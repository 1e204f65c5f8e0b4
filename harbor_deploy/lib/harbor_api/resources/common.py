"""What every resource kind shares: the ``Change`` a plan yields, the normalisation of
inventory entries, and the lookups several kinds need."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from harbor_deploy.lib.config.secrets import MASK
from harbor_deploy.lib.harbor_api.client import path_segment, query_params

STATES = ("present", "absent")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Harbor's named schedules as the 6-field crons its UI sends for them.
NAMED_SCHEDULES = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}
SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
# Harbor's largest storage quota, 1024 TB (MaxLimitedValue, src/pkg/quota/types/resources.go;
# src/lib/quota_storage_limit.go refuses more).
MAX_STORAGE_LIMIT = 1024 * 1024**4
SIZE_RE = re.compile(r"^(\d+)\s*([KMGT]?)i?B?$", re.IGNORECASE)


class ResourceError(Exception):
    """Desired state Harbor cannot reach (e.g. changing a proxy cache's registry)."""


@dataclass(frozen=True)
class FieldChange:
    """One field that differs, shown with Harbor's value and the wanted one; a secret
    field shows neither (its values are never read back, and never printed)."""

    name: str
    have: object = None
    want: object = None
    secret: bool = False

    def __str__(self):
        if self.secret:
            return f"{self.name}: {MASK}"
        return f"{self.name}: {_shown(self.have)} -> {_shown(self.want)}"


def _shown(value):
    return "(unset)" if value is None else repr(value)


@dataclass(frozen=True)
class Change:
    """One write to Harbor: ``str()`` says what (never a secret value), ``apply()`` does it.
    ``fields`` are names, or ``FieldChange``s that show the values that differ."""

    action: str
    kind: str
    name: str
    fields: tuple = ()
    apply: Callable | None = field(default=None, repr=False, compare=False)

    def __str__(self):
        detail = f" ({', '.join(str(item) for item in self.fields)})" if self.fields else ""
        return f"{self.action} {self.kind} {self.name}{detail}"


def field_changes(have, want, secret_names=()):
    """``FieldChange``s of the keys of ``want`` whose value differs from ``have``'s."""
    return tuple(
        FieldChange(key, have.get(key), value, key in secret_names)
        for key, value in want.items()
        if have.get(key) != value
    )


def parse_size(value):
    """Bytes from an int (-1: unlimited) or a size string such as "10G" (binary units).

    Harbor takes a quota of 0 as "the default" when a project is created and refuses
    it on every update, so 0 is refused here, as is more than 1024T."""
    if _is_int(value):
        size = value
    else:
        match = SIZE_RE.match(str(value).strip())
        if not match:
            raise ValueError(f"{value!r} is not a size such as 500M, 10G or -1")
        size = int(match.group(1)) * SIZE_UNITS[match.group(2).upper()]
    if size == 0 or size < -1:
        raise ValueError("must be -1 (unlimited) or a positive size such as 500M or 10G")
    if size > MAX_STORAGE_LIMIT:
        raise ValueError("must be at most 1024T, Harbor's largest quota (or -1, unlimited)")
    return size


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def bool_string(value):
    return "true" if value else "false"


def cron_schedule(schedule):
    """A named schedule (Hourly/Daily/Weekly) or a 6-field cron -> (type, cron).

    Harbor validates the cron of every scheduled type (the type implies none), with
    the seconds field 0: named schedules carry the cron its UI sends for them."""
    if schedule in NAMED_SCHEDULES:
        return schedule, NAMED_SCHEDULES[schedule]
    fields = schedule.split(" ") if isinstance(schedule, str) else []
    if len(fields) == 6 and all(fields):
        if fields[0] != "0":
            raise ValueError(f"{schedule!r}: Harbor requires the first (seconds) field of a cron to be 0")
        return "Custom", schedule
    raise ValueError(f"{schedule!r} is not Hourly, Daily, Weekly or a 6-field cron (seconds first, " "single spaces)")


def entry_state(raw):
    state = raw.get("state", "present")
    if state not in STATES:
        raise ValueError(f"state must be present or absent, not {state!r}")
    return state


def presence_change(client, kind, label, spec, current, path, create):
    """The delete (``state: absent``) or create Change of one named resource; None when
    it exists and is wanted, so the caller compares its fields. ``path`` gives the
    API path of the current resource."""
    if spec["state"] == "absent":
        if current is None:
            return []
        return [Change("delete", kind, label, apply=lambda: client.delete(path(current), f"{kind} {label}"))]
    if current is None:
        return [Change("create", kind, label, apply=create)]
    return None


def find_project(client, name):
    return client.get_or_none(
        f"/projects/{path_segment(name)}", f"project {name}", headers={"X-Is-Resource-Name": "true"}
    )


def find_registry(client, name):
    matches = [
        item
        for item in client.list("/registries", f"registry {name}", query_params("name", name))
        if item["name"] == name
    ]
    return matches[0] if matches else None
