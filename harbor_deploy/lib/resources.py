"""Harbor's settings as desired state: inventory data -> API payloads -> changes.

Each ``plan_*`` function reads the current state through a ``HarborClient`` and
returns the ``Change``s that bring Harbor to the desired state; nothing is
written until a change's ``apply()`` runs. Only what the inventory names is
managed: fields left out are left as Harbor has them, resources left out are
never deleted, ``state: absent`` deletes one.

Secrets (user passwords, robot secrets, registry credentials, the managed admin
password) never come from inventory data: they live in the controller secrets
dir of the instance (``<harbor_secrets_dir>/<hostname>/``, 0700/0600) or come
from an environment variable named in the data. Changes and errors name
resources and fields, never values of secrets.
"""

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Callable

from harbor_deploy.lib.api import ApiError, AuthenticationError, NotFound, path_segment
from harbor_deploy.lib.secrets import Secret, generate_password, meets_harbor_password_rule

logger = logging.getLogger(__name__)

# Project roles as Harbor numbers them.
ROLES = {"project_admin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limited_guest": 5}
SEVERITIES = ("none", "low", "medium", "high", "critical")
# Harbor's named schedules as the 6-field crons it stores.
NAMED_SCHEDULES = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}
RETENTION_TEMPLATES = ("latestPushedK", "latestPulledN", "nDaysSinceLastPush",
                       "nDaysSinceLastPull", "always")
STATES = ("present", "absent")
ROBOT_PREFIX = "robot$"
DEFAULT_ROBOT_ACCESS = ("push", "pull")
SIZE_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
GC_DEFAULT_WORKERS, GC_MAX_WORKERS = 1, 5
SIZE_RE = re.compile(r"^(\d+)\s*([KMGT]?)i?B?$", re.IGNORECASE)
NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# Registry types of Harbor v2.13's adapters.
REGISTRY_TYPES = ("harbor", "docker-hub", "docker-registry", "aws-ecr", "azure-acr", "ali-acr",
                  "google-gcr", "huawei-SWR", "gitlab", "quay", "jfrog-artifactory", "tencent-tcr",
                  "github-ghcr", "volcengine-cr", "dtr")
DOCKER_HUB_URL = "https://hub.docker.com"
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Harbor's rules for users (src/server/v2.0/handler/user.go): characters refused in
# usernames and real names, and its email pattern.
ILLEGAL_NAME_CHARS = ',"~#%$'
EMAIL_RE = re.compile(
    r'^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@'
    r"((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$")

# Secrets of configure, as files in the instance's secrets dir.
MANAGED_ADMIN_PASSWORD = "admin_password_managed"
MANAGED_ADMIN_PASSWORD_ENV = "HARBOR_ADMIN_MANAGED_PASSWORD"
INITIAL_ADMIN_PASSWORD = "admin_password"


class ResourceError(Exception):
    """Desired state Harbor cannot reach (e.g. changing a proxy cache's registry)."""


@dataclass(frozen=True)
class Change:
    """One write to Harbor: ``str()`` says what (never a secret value), ``apply()`` does it."""

    action: str
    kind: str
    name: str
    fields: tuple = ()
    apply: Callable = field(default=None, repr=False, compare=False)

    def __str__(self):
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.action} {self.kind} {self.name}{detail}"


# --- secrets of configure ------------------------------------------------------


def read_secret(store, name, env_var=None, env=None):
    """A configure secret: from ``env_var`` when set there, else the file ``name`` in
    the store's directory (e.g. ``robots/ci+push``), else None."""
    env = os.environ if env is None else env
    if env_var and env_var in env:
        return Secret(env[env_var], f"env {env_var}")
    path = store.path(name)
    if path.is_file():
        return Secret(path.read_text().rstrip("\r\n"), f"file {path}")
    return None


def robot_secret_name(spec):
    return f"robots/{spec['project']}+{spec['name']}" if spec["project"] else f"robots/{spec['name']}"


def user_secret_name(username):
    return f"users/{username}"


def registry_secret_name(name):
    return f"registries/{name}"


# --- inventory data -> normalized specs ----------------------------------------


def parse_size(value):
    """Bytes from an int (-1: unlimited) or a size string such as "10G" (binary units).

    Harbor takes a quota of 0 as "the default" when a project is created and refuses
    it on every update, so 0 is refused here."""
    if _is_int(value):
        size = value
    else:
        match = SIZE_RE.match(str(value).strip())
        if not match:
            raise ValueError(f"{value!r} is not a size such as 500M, 10G or -1")
        size = int(match.group(1)) * SIZE_UNITS[match.group(2).upper()]
    if size == 0 or size < -1:
        raise ValueError("must be -1 (unlimited) or a positive size such as 500M or 10G")
    return size


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _bool_string(value):
    return "true" if value else "false"


def _cron(schedule):
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
    raise ValueError(f"{schedule!r} is not Hourly, Daily, Weekly or a 6-field cron (seconds first, "
                     "single spaces)")


def _state(raw):
    state = raw.get("state", "present")
    if state not in STATES:
        raise ValueError(f"state must be present or absent, not {state!r}")
    return state


def _access(items):
    """Robot access as sorted (resource, action) pairs; "push" is repository push,
    "resource:action" or {resource, action} name any other."""
    pairs = set()
    for item in items:
        if isinstance(item, dict):
            pairs.add((item["resource"], item["action"]))
        elif ":" in str(item):
            resource, _, action = str(item).partition(":")
            pairs.add((resource, action))
        else:
            pairs.add(("repository", str(item)))
    return tuple(sorted(pairs))


def project_spec(raw):
    """A project entry of ``harbor_projects``, normalized; unknown fields refused."""
    known = {"name", "state", "public", "storage_quota", "auto_scan", "prevent_vulnerable",
             "severity", "proxy_cache", "members", "retention"}
    _refuse_unknown(raw, known, "project")
    name = raw["name"]
    if not NAME_RE.match(name):
        raise ValueError(f"project name {name!r} must be lowercase letters, digits and ._-")
    spec = {"name": name, "state": _state(raw), "metadata": {}, "storage_limit": None,
            "proxy_cache": raw.get("proxy_cache"), "members": [], "retention": None}
    for key, meta in (("public", "public"), ("auto_scan", "auto_scan"),
                      ("prevent_vulnerable", "prevent_vul")):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise ValueError(f"{key} must be true or false")
            spec["metadata"][meta] = _bool_string(raw[key])
    if "severity" in raw:
        if raw["severity"] not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        spec["metadata"]["severity"] = raw["severity"]
    if raw.get("storage_quota") is not None:
        spec["storage_limit"] = parse_size(raw["storage_quota"])
    for member in raw.get("members") or []:
        _refuse_unknown(member, {"user", "role", "state"}, f"member of project {name}")
        role = member.get("role", "developer")
        if role not in ROLES:
            raise ValueError(f"role of {member['user']} must be one of {', '.join(ROLES)}")
        spec["members"].append({"user": member["user"], "role_id": ROLES[role],
                                "state": _state(member)})
    if raw.get("retention") is not None:
        spec["retention"] = retention_spec(raw["retention"])
    return spec


def retention_spec(raw):
    """``{schedule?, rules: [{template, count?, repositories?, tags?, untagged?}]}`` -> rules, cron."""
    _refuse_unknown(raw, {"schedule", "rules"}, "retention")
    rules = []
    for rule in raw["rules"]:
        _refuse_unknown(rule, {"template", "count", "repositories", "tags", "untagged"},
                        "retention rule")
        template = rule["template"]
        if template not in RETENTION_TEMPLATES:
            raise ValueError(f"retention template must be one of {', '.join(RETENTION_TEMPLATES)}")
        params = {} if template == "always" else {template: int(rule["count"])}
        rules.append({
            "disabled": False,
            "action": "retain",
            "template": template,
            "params": params,
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches",
                               "pattern": rule.get("tags", "**"),
                               "extras": json.dumps({"untagged": bool(rule.get("untagged", True))})}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                                "pattern": rule.get("repositories", "**")}]},
        })
    cron = _cron(raw["schedule"])[1] if raw.get("schedule") else ""
    return {"rules": rules, "cron": cron}


def user_spec(raw):
    """A user of ``harbor_users``. Harbor requires an email and a real name (the name
    defaults to the username) and replaces email, real name and comment together."""
    _refuse_unknown(raw, {"username", "email", "realname", "comment", "password_env", "state"}, "user")
    username = raw["username"]
    state = _state(raw)
    if not isinstance(username, str) or not 1 <= len(username.encode()) <= 255 or \
            any(char in username for char in ILLEGAL_NAME_CHARS):
        raise ValueError(f"username must be 1-255 bytes without any of {ILLEGAL_NAME_CHARS}")
    if raw.get("password_env") is not None and not ENV_NAME_RE.match(str(raw["password_env"])):
        raise ValueError("password_env must be the name of an environment variable")
    spec = {"username": username, "state": state, "password_env": raw.get("password_env"), "profile": None}
    if state == "absent":
        return spec
    email = raw.get("email")
    if not email:
        raise ValueError("email is required (Harbor refuses a user without one)")
    if not isinstance(email, str) or not EMAIL_RE.match(email):
        raise ValueError(f"email {email!r} is not an address Harbor accepts")
    realname = raw.get("realname", username)
    if not isinstance(realname, str) or not 1 <= len(realname.encode()) <= 255 or \
            any(char in realname for char in ILLEGAL_NAME_CHARS):
        raise ValueError(f"realname must be 1-255 bytes without any of {ILLEGAL_NAME_CHARS}")
    if not isinstance(raw.get("comment", ""), str) or len(raw.get("comment", "").encode()) > 30:
        raise ValueError("comment must be at most 30 bytes (Harbor's limit)")
    # The fields the inventory names; a new user gets the real name from the username.
    spec["profile"] = {key: raw[key] for key in ("email", "realname", "comment") if key in raw}
    spec["new_profile"] = {"realname": username, "comment": "", **spec["profile"]}
    return spec


def robot_spec(raw):
    """A robot of ``harbor_robots``: project-level when ``project`` is set (push/pull by
    default), else system-level over ``projects`` (default all: "*")."""
    _refuse_unknown(raw, {"name", "project", "projects", "access", "duration", "description",
                          "disable", "refresh", "state"}, "robot")
    name, project = raw["name"], raw.get("project")
    if not NAME_RE.match(name):
        raise ValueError(f"robot name {name!r} must be lowercase letters, digits and ._-")
    duration = raw.get("duration", -1)
    if not isinstance(duration, int) or isinstance(duration, bool) or duration == 0 or duration < -1:
        raise ValueError("duration must be -1 (never expires) or a number of days")
    access = _access(raw.get("access", DEFAULT_ROBOT_ACCESS))
    namespaces = [project] if project else list(raw.get("projects", ["*"]))
    return {
        "name": name,
        "project": project,
        "level": "project" if project else "system",
        "state": _state(raw),
        "duration": duration,
        "description": raw.get("description", ""),
        "disable": bool(raw.get("disable", False)),
        "refresh": bool(raw.get("refresh", False)),
        "permissions": tuple((namespace, access) for namespace in namespaces),
    }


def registry_spec(raw):
    """A registry endpoint of ``harbor_registries``. Harbor checks the endpoint's health
    (from the Harbor server) whenever one is created or changed; a docker-hub endpoint
    ignores the URL and needs registry-1.docker.io."""
    _refuse_unknown(raw, {"name", "type", "url", "insecure", "description", "access_key",
                          "access_secret_env", "state"}, "registry")
    name, kind = raw["name"], raw.get("type")
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise ValueError("name must be 1-64 characters")
    spec = {"name": name, "state": _state(raw)}
    if spec["state"] == "absent":
        return spec
    if kind not in REGISTRY_TYPES:
        raise ValueError(f"type must be one of {', '.join(REGISTRY_TYPES)}")
    url = raw.get("url") or DOCKER_HUB_URL if kind == "docker-hub" else raw.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise ValueError("url must be an http(s):// URL")
    if raw.get("access_secret_env") is not None and not ENV_NAME_RE.match(str(raw["access_secret_env"])):
        raise ValueError("access_secret_env must be the name of an environment variable")
    return {**spec, "type": kind, "url": url.rstrip("/"), "insecure": bool(raw.get("insecure", False)),
            "description": raw.get("description", ""), "access_key": raw.get("access_key"),
            "access_secret_env": raw.get("access_secret_env")}


def gc_spec(raw):
    """``{schedule, delete_untagged?, workers?}``; schedule "None" removes it."""
    _refuse_unknown(raw, {"schedule", "delete_untagged", "workers"}, "gc schedule")
    if raw["schedule"] == "None":
        return {"type": "None", "cron": "", "parameters": {}}
    kind, cron = _cron(raw["schedule"])
    workers = raw.get("workers", GC_DEFAULT_WORKERS)
    if not _is_int(workers) or not 1 <= workers <= GC_MAX_WORKERS:
        raise ValueError(f"workers must be an integer from 1 to {GC_MAX_WORKERS}")
    # Harbor keeps exactly these two parameters with a schedule.
    parameters = {"delete_untagged": bool(raw.get("delete_untagged", True)), "workers": workers}
    return {"type": kind, "cron": cron, "parameters": parameters}


def _refuse_unknown(raw, known, what):
    if not isinstance(raw, dict):
        raise ValueError(f"a {what} must be a dict")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown field(s) of a {what}: {', '.join(unknown)}")


def problems(config, env=None):
    """``(key, why)`` for every configure key that does not normalize, and for
    passwords in the environment that Harbor would refuse."""
    env = os.environ if env is None else env
    parsers = {"harbor_projects": project_spec, "harbor_users": user_spec,
               "harbor_robots": robot_spec, "harbor_registries": registry_spec}
    for key, parse in parsers.items():
        entries = config.get(key) or []
        if not isinstance(entries, list):
            yield key, "must be a list"
            continue
        for index, raw in enumerate(entries):
            try:
                spec = parse(raw)
            except (KeyError, ValueError, TypeError) as error:
                yield f"{key}[{index}]", f"missing field {error}" if isinstance(error, KeyError) else str(error)
                continue
            variable = spec.get("password_env") if key == "harbor_users" else None
            if variable and variable in env and not meets_harbor_password_rule(env[variable]):
                yield f"{key}[{index}]", (f"the password from env {variable} must be 8-128 characters with a "
                                          "lowercase letter, an uppercase letter and a digit (Harbor's rule)")
    if config.get("harbor_gc_schedule") is not None:
        try:
            gc_spec(config["harbor_gc_schedule"])
        except (KeyError, ValueError, TypeError) as error:
            yield "harbor_gc_schedule", str(error)


# --- payloads (request bodies, per the swagger definitions) ------------------------


def project_payload(spec, registry_id=None):
    """``ProjectReq`` creating the project; Harbor's default is private."""
    payload = {"project_name": spec["name"],
               "metadata": {"public": "false", **spec["metadata"]}}
    if spec["storage_limit"] is not None:
        payload["storage_limit"] = spec["storage_limit"]
    if registry_id is not None:
        payload["registry_id"] = registry_id
    return payload


def robot_permissions(spec):
    return [{"kind": "project", "namespace": namespace,
             "access": [{"resource": resource, "action": action} for resource, action in access]}
            for namespace, access in spec["permissions"]]


def robot_payload(spec):
    """``RobotCreate``; Harbor generates the secret and returns it once (and ignores
    ``disable`` here: a robot to disable is updated right after)."""
    return {"name": spec["name"], "description": spec["description"], "level": spec["level"],
            "duration": spec["duration"], "permissions": robot_permissions(spec)}


def robot_update_payload(spec, current):
    """``Robot`` for PUT: the full name (with the system's prefix) and level as Harbor
    has them, the rest desired (Harbor replaces description and disable)."""
    return {"id": current["id"], "name": current["name"], "level": current["level"],
            "description": spec["description"], "disable": spec["disable"],
            "duration": spec["duration"], "editable": True, "permissions": robot_permissions(spec)}


def retention_payload(spec, project_id, policy_id=None):
    """``RetentionPolicy`` of one project."""
    payload = {"algorithm": "or", "rules": spec["rules"],
               "trigger": {"kind": "Schedule", "settings": {"cron": spec["cron"]}},
               "scope": {"level": "project", "ref": project_id}}
    if policy_id is not None:
        payload["id"] = policy_id
    return payload


def gc_payload(spec):
    """``Schedule`` of garbage collection: the type and its cron."""
    schedule = {"type": spec["type"]}
    if spec["type"] != "None":
        schedule["cron"] = spec["cron"]
    return {"schedule": schedule, "parameters": spec["parameters"]}


def registry_payload(spec, secret):
    """``Registry`` creating an endpoint; the credential only when an access key is set."""
    payload = {"name": spec["name"], "type": spec["type"], "url": spec["url"],
               "insecure": spec["insecure"], "description": spec["description"]}
    if spec["access_key"]:
        payload["credential"] = {"type": "basic", "access_key": spec["access_key"],
                                 "access_secret": secret.reveal() if secret else ""}
    return payload


# --- diffs ------------------------------------------------------------------------


def metadata_diff(desired, current):
    """Metadata keys whose desired value differs from the current one."""
    return {key: value for key, value in desired.items() if current.get(key) != value}


def normalized_permissions(permissions):
    """Robot permissions comparable regardless of order and of Harbor's extra fields."""
    return tuple(sorted(
        (item.get("kind"), item.get("namespace"),
         tuple(sorted((access["resource"], access["action"]) for access in item.get("access") or [])))
        for item in permissions or []))


def robot_diff(spec, current):
    # Harbor leaves "" and false out of its answers.
    defaults = {"description": "", "duration": None, "disable": False}
    fields = [key for key, default in defaults.items() if current.get(key, default) != spec[key]]
    if normalized_permissions(current.get("permissions")) != normalized_permissions(robot_permissions(spec)):
        fields.append("permissions")
    return fields


RULE_DEFAULTS = {"disabled": False, "action": "", "template": "", "params": {}, "tag_selectors": [],
                 "scope_selectors": {}}


def retention_diff(spec, current):
    fields = []
    # Harbor leaves false, "" and empty maps out of its answers.
    rules = [{key: rule.get(key, default) for key, default in RULE_DEFAULTS.items()}
             for rule in current.get("rules") or []]
    if rules != spec["rules"]:
        fields.append("rules")
    if ((current.get("trigger") or {}).get("settings") or {}).get("cron", "") != spec["cron"]:
        fields.append("schedule")
    return fields


def gc_diff(spec, current):
    """Fields of the GC schedule to change; ``current`` is Harbor's GCHistory or None."""
    current_type = ((current or {}).get("schedule") or {}).get("type") or "None"
    if spec["type"] == "None":
        return ["schedule"] if current_type != "None" else []
    fields = []
    current_cron = (current["schedule"].get("cron") or "") if current else ""
    if current_type != spec["type"] or current_cron != spec["cron"]:
        fields.append("schedule")
    parameters = json.loads((current or {}).get("job_parameters") or "{}")
    fields += [key for key, value in spec["parameters"].items() if parameters.get(key) != value]
    return fields


def registry_diff(spec, current):
    # Harbor leaves false and "" out of its answers.
    defaults = {"url": "", "insecure": False, "description": ""}
    fields = [key for key, default in defaults.items() if current.get(key, default) != spec[key]]
    current_key = (current.get("credential") or {}).get("access_key") or None
    if spec["access_key"] and current_key != spec["access_key"]:
        fields.append("access_key")
    return fields


# --- admin password -------------------------------------------------------------


class AdminAccess:
    """Admin clients of one Harbor instance, with whichever admin password works.

    The initial password is the one harbor.yml seeded (secret ``admin_password``);
    the managed one (env HARBOR_ADMIN_MANAGED_PASSWORD, else the file
    ``admin_password_managed``, generated at rotation) is the one Harbor keeps after
    configure rotated it, so harbor.yml on the server no longer opens the admin account.
    """

    def __init__(self, anonymous, store, rotate=True, env=None):
        self.anonymous, self.store, self.rotate, self.env = anonymous, store, rotate, env

    def __repr__(self):
        return f"AdminAccess({self.anonymous.base_url!r})"

    def managed(self):
        return read_secret(self.store, MANAGED_ADMIN_PASSWORD, MANAGED_ADMIN_PASSWORD_ENV, self.env)

    def initial(self):
        return self.store.get(INITIAL_ADMIN_PASSWORD)

    def client(self):
        """An admin client; raises ``AuthenticationError`` when no known password works."""
        candidates = [self.managed(), self.initial()] if self.rotate else [self.initial()]
        sources = []
        for password in candidates:
            if password is None:
                continue
            client = self.anonymous.with_credentials("admin", password)
            if client.authenticates():
                return client
            sources.append(password.source)
        raise AuthenticationError("GET", "admin account", 401,
                                  f"no admin password is accepted (tried {', '.join(sources)})")

    def plan_rotation(self):
        """The rotation to the managed password, when Harbor still has the initial one."""
        if not self.rotate:
            return []
        managed = self.managed()
        if managed is not None and self.anonymous.with_credentials("admin", managed).authenticates():
            return []
        initial = self.initial()
        if not self.anonymous.with_credentials("admin", initial).authenticates():
            # Neither works: client() reports it with the sources tried.
            self.client()
        return [Change("rotate", "admin", "password", apply=lambda: self._rotate(initial))]

    def _rotate(self, initial):
        managed = self.managed()
        if managed is None:
            # Stored before Harbor has it: a failed PUT leaves a value the next run retries with.
            self.store.store(MANAGED_ADMIN_PASSWORD, generate_password())
            managed = self.managed()
        if not meets_harbor_password_rule(managed.reveal()):
            raise ResourceError(f"the managed admin password ({managed.source}) must be 8-128 "
                                "characters with a lowercase letter, an uppercase letter and a digit")
        client = self.anonymous.with_credentials("admin", initial)
        user_id = client.current_user()["user_id"]
        client.put(f"/users/{user_id}/password", "admin password",
                   {"old_password": initial.reveal(), "new_password": managed.reveal()})
        self.store.store(MANAGED_ADMIN_PASSWORD, managed)


# --- plans ------------------------------------------------------------------------


def find_project(client, name):
    return client.get_or_none(f"/projects/{path_segment(name)}", f"project {name}",
                              headers={"X-Is-Resource-Name": "true"})


def find_registry(client, name):
    matches = [item for item in client.list("/registries", f"registry {name}", {"q": f"name={name}"})
               if item["name"] == name]
    return matches[0] if matches else None


def project_quota(client, project):
    quotas = client.get("/quotas", f"quota of project {project['name']}",
                        params={"reference": "project", "reference_id": str(project["project_id"])})
    return quotas[0] if quotas else None


def plan_projects(client, specs):
    changes = []
    for spec in specs:
        name = spec["name"]
        current = find_project(client, name)
        if spec["state"] == "absent":
            if current:
                changes.append(Change("delete", "project", name, apply=lambda c=current: client.delete(
                    f"/projects/{c['project_id']}", f"project {c['name']}")))
            continue
        if current is None:
            changes.append(Change("create", "project", name, apply=lambda s=spec: _create_project(client, s)))
            continue
        if spec["proxy_cache"] is not None:
            registry = find_registry(client, spec["proxy_cache"])
            if not registry or registry["id"] != current.get("registry_id"):
                raise ResourceError(f"project {name}: a project's proxy cache registry is set at "
                                    "creation only; delete and recreate it to change it")
        metadata = metadata_diff(spec["metadata"], current.get("metadata") or {})
        if metadata:
            changes.append(Change("update", "project", name, tuple(sorted(metadata)),
                                  lambda c=current, m=metadata: client.put(
                                      f"/projects/{c['project_id']}", f"project {c['name']}",
                                      {"metadata": m})))
        if spec["storage_limit"] is not None:
            quota = project_quota(client, current)
            if quota and (quota.get("hard") or {}).get("storage") != spec["storage_limit"]:
                changes.append(Change("update", "project", name, ("storage_quota",),
                                      lambda q=quota, s=spec: client.put(
                                          f"/quotas/{q['id']}", f"quota of project {s['name']}",
                                          {"hard": {"storage": s["storage_limit"]}})))
    return changes


def _create_project(client, spec):
    registry_id = None
    if spec["proxy_cache"] is not None:
        registry = find_registry(client, spec["proxy_cache"])
        if registry is None:
            raise ResourceError(f"project {spec['name']}: no registry endpoint {spec['proxy_cache']}")
        registry_id = registry["id"]
    client.post("/projects", f"project {spec['name']}", project_payload(spec, registry_id))


def plan_members(client, specs):
    """Project membership of users, for projects that exist (or are being created)."""
    changes = []
    for spec in specs:
        if spec["state"] == "absent" or not spec["members"]:
            continue
        project = spec["name"]
        current = find_project(client, project)
        members = {}
        if current:
            for item in client.list(f"/projects/{current['project_id']}/members", f"members of project {project}"):
                if item.get("entity_type") == "u":
                    members[item["entity_name"]] = item
        base = f"/projects/{path_segment(project)}/members"
        headers = {"X-Is-Resource-Name": "true"}
        for member in spec["members"]:
            user, existing = member["user"], members.get(member["user"])
            what = f"{project}/{user}"
            resource = f"member {user} of project {project}"
            if member["state"] == "absent":
                if existing:
                    changes.append(Change("delete", "member", what, apply=lambda e=existing, r=resource: client.delete(
                        f"{base}/{e['id']}", r, headers=headers)))
            elif existing is None:
                changes.append(Change("create", "member", what, apply=lambda m=member, r=resource, b=base: client.request(
                    "POST", b, r, json={"role_id": m["role_id"], "member_user": {"username": m["user"]}},
                    headers=headers)))
            elif existing.get("role_id") != member["role_id"]:
                changes.append(Change("update", "member", what, ("role",), apply=lambda e=existing, m=member, r=resource, b=base:
                                      client.put(f"{b}/{e['id']}", r, {"role_id": m["role_id"]}, headers=headers)))
    return changes


def find_user(client, username):
    matches = [user for user in client.list("/users", f"user {username}", {"q": f"username={username}"})
               if user["username"] == username]
    return matches[0] if matches else None


def user_password(store, spec, env=None):
    """The user's password from its env var or the secrets file; None when neither has
    one. Harbor's password rule is checked here, before anything is sent."""
    password = read_secret(store, user_secret_name(spec["username"]), spec["password_env"], env)
    if password is not None and not meets_harbor_password_rule(password.reveal()):
        raise ResourceError(f"user {spec['username']}: the password from {password.source} must be "
                            "8-128 characters with a lowercase letter, an uppercase letter and a digit")
    return password


def _presence(client, kind, label, spec, current, path, create):
    """The delete (``state: absent``) or create Change of one named resource; None when
    it exists and is wanted, so the caller compares its fields. ``path`` gives the
    API path of the current resource."""
    if spec["state"] == "absent":
        if current is None:
            return []
        return [Change("delete", kind, label, apply=lambda: client.delete(
            path(current), f"{kind} {current.get('username') or current['name']}"))]
    if current is None:
        return [Change("create", kind, label, apply=create)]
    return None


def plan_users(client, specs, store, env=None):
    changes = []
    for spec in specs:
        username = spec["username"]
        # Read (and its rule checked) before any change is planned.
        password = user_password(store, spec, env) if spec["state"] == "present" else None
        current = find_user(client, username)
        presence = _presence(client, "user", username, spec, current, lambda c: f"/users/{c['user_id']}",
                             lambda s=spec: _create_user(client, store, s, env))
        if presence is not None:
            changes += presence
            continue
        # Harbor leaves empty fields out of answers, and a profile update replaces
        # email, real name and comment together: send all three, as wanted or as they are.
        have = {key: current.get(key, "") for key in ("email", "realname", "comment")}
        profile = {key: value for key, value in spec["profile"].items() if have[key] != value}
        if profile:
            changes.append(Change("update", "user", username, tuple(sorted(profile)),
                                  lambda c=current, body={**have, **profile}: client.put(
                                      f"/users/{c['user_id']}", f"user {c['username']}", body)))
        if password is None:
            logger.warning("user %s exists but has no managed password (secrets file %s or "
                           "password_env): its password is left as is", username,
                           user_secret_name(username))
        elif not client.with_credentials(username, password).authenticates():
            changes.append(Change("update", "user", username, ("password",),
                                  lambda c=current, s=spec: _set_user_password(client, store, s, c, env)))
    return changes


def _create_user(client, store, spec, env):
    password = user_password(store, spec, env)
    if password is None:
        store.store(user_secret_name(spec["username"]), generate_password())
        password = user_password(store, spec, env)
    client.post("/users", f"user {spec['username']}",
                {"username": spec["username"], "password": password.reveal(), **spec["new_profile"]})
    store.store(user_secret_name(spec["username"]), password)


def _set_user_password(client, store, spec, current, env):
    password = user_password(store, spec, env)
    client.put(f"/users/{current['user_id']}/password", f"password of user {spec['username']}",
               {"new_password": password.reveal()})
    store.store(user_secret_name(spec["username"]), password)


def robot_prefix(client):
    """The system's robot name prefix (``robot$`` unless an admin changed it)."""
    setting = (client.get("/configurations", "system configuration") or {}).get("robot_name_prefix") or {}
    return setting.get("value") or ROBOT_PREFIX


def find_robot(client, spec, prefix):
    """The robot of ``spec`` as Harbor lists it (``<prefix><project>+<name>`` or
    ``<prefix><name>``), or None."""
    if spec["project"]:
        project = find_project(client, spec["project"])
        if project is None:
            return None
        query = f"Level=project,ProjectID={project['project_id']}"
    else:
        query = "Level=system"
    full_name = prefix + robot_secret_name(spec).removeprefix("robots/")
    for robot in client.list("/robots", f"robot {spec['name']}", {"q": query}):
        if robot["name"] == full_name:
            return robot
    return None


def plan_robots(client, specs, store):
    changes = []
    prefix = robot_prefix(client) if specs else ROBOT_PREFIX
    for spec in specs:
        label = robot_secret_name(spec).removeprefix("robots/")
        current = find_robot(client, spec, prefix)
        presence = _presence(client, "robot", label, spec, current, lambda c: f"/robots/{c['id']}",
                             lambda s=spec: _create_robot(client, store, s))
        if presence is not None:
            changes += presence
            continue
        fields = robot_diff(spec, current)
        if fields:
            changes.append(Change("update", "robot", label, tuple(fields), lambda c=current, s=spec: client.put(
                f"/robots/{c['id']}", f"robot {c['name']}", robot_update_payload(s, c))))
        if not store.path(robot_secret_name(spec)).is_file():
            if spec["refresh"]:
                changes.append(Change("refresh", "robot", label, ("secret",),
                                      lambda c=current, s=spec: _refresh_robot(client, store, s, c)))
            else:
                logger.warning("robot %s exists but its secret is not in the secrets dir (%s): "
                               "set refresh: true to regenerate it", label, robot_secret_name(spec))
    return changes


def _create_robot(client, store, spec):
    created = client.post("/robots", f"robot {spec['name']}", robot_payload(spec)).json()
    store.store(robot_secret_name(spec), created["secret"])
    if spec["disable"]:
        # Harbor creates every robot enabled, whatever the request says.
        client.put(f"/robots/{created['id']}", f"robot {created['name']}",
                   robot_update_payload(spec, {**created, "level": spec["level"]}))


def _refresh_robot(client, store, spec, current):
    secret = generate_password()
    answer = client.patch(f"/robots/{current['id']}", f"robot {current['name']}", {"secret": secret})
    # Harbor echoes only a secret it generated; this one was chosen here.
    returned = answer.json().get("secret") if answer.content else None
    store.store(robot_secret_name(spec), returned or secret)


def plan_retention(client, specs):
    changes = []
    for spec in specs:
        if spec["state"] == "absent" or spec["retention"] is None:
            continue
        name, wanted = spec["name"], spec["retention"]
        project = find_project(client, name)
        policy_id = ((project or {}).get("metadata") or {}).get("retention_id")
        if not policy_id:
            changes.append(Change("create", "retention", name, apply=lambda s=spec: _create_retention(client, s)))
            continue
        current = client.get(f"/retentions/{policy_id}", f"retention policy of project {name}")
        fields = retention_diff(wanted, current)
        if fields:
            changes.append(Change("update", "retention", name, tuple(fields), lambda p=project, i=policy_id, w=wanted: client.put(
                f"/retentions/{i}", f"retention policy of project {p['name']}",
                retention_payload(w, p["project_id"], int(i)))))
    return changes


def _create_retention(client, spec):
    project = find_project(client, spec["name"])
    if project is None:
        raise NotFound("POST", f"retention policy of project {spec['name']}", 404, "no such project")
    client.post("/retentions", f"retention policy of project {spec['name']}",
                retention_payload(spec["retention"], project["project_id"]))


def plan_gc(client, spec):
    if spec is None:
        return []
    current = client.get("/system/gc/schedule", "gc schedule")
    fields = gc_diff(spec, current)
    if not fields:
        return []
    exists = bool(((current or {}).get("schedule") or {}).get("type") not in (None, "None"))
    method = "PUT" if exists else "POST"
    action = "update" if exists else "create"
    if spec["type"] == "None":
        action = "delete"
    return [Change(action, "gc", "schedule", tuple(fields) if exists else (), lambda: client.request(
        method, "/system/gc/schedule", "gc schedule", json=gc_payload(spec)))]


def plan_registries(client, specs, store, env=None):
    changes = []
    for spec in specs:
        name = spec["name"]
        current = find_registry(client, name)
        presence = _presence(client, "registry", name, spec, current, lambda c: f"/registries/{c['id']}",
                             lambda s=spec: _registry_write(s, client.post, "/registries",
                                                            registry_payload(s, _registry_secret(store, s, env))))
        if presence is not None:
            changes += presence
            continue
        if current.get("type") != spec["type"]:
            raise ResourceError(f"registry {name}: its type is {current.get('type')}, not {spec['type']}; "
                                "the type is set at creation only")
        fields = registry_diff(spec, current)
        if fields:
            changes.append(Change("update", "registry", name, tuple(fields), lambda c=current, s=spec: _registry_write(
                s, client.put, f"/registries/{c['id']}", _registry_update(s, store, env))))
    return changes


def _registry_write(spec, send, path, payload):
    """Create or update an endpoint; Harbor's health check of it explained when it fails."""
    try:
        send(path, f"registry {spec['name']}", payload)
    except ApiError as error:
        if error.status == 400 and "unhealthy" in error.message:
            where = ("registry-1.docker.io (a docker-hub endpoint ignores its URL), so it needs a Harbor "
                     "with internet access" if spec["type"] == "docker-hub" else spec["url"])
            raise ResourceError(f"registry {spec['name']}: Harbor checks an endpoint whenever it is created "
                                f"or changed, and could not reach {where}: {error}") from None
        raise


def _registry_secret(store, spec, env):
    return read_secret(store, registry_secret_name(spec["name"]), spec["access_secret_env"], env)


def _registry_update(spec, store, env):
    """``RegistryUpdate`` of the changed fields. Left out, a field keeps its value in
    Harbor; the access secret goes along only when the controller has it, so one set
    by hand in Harbor is never blanked."""
    payload = {"url": spec["url"], "insecure": spec["insecure"], "description": spec["description"]}
    if spec["access_key"]:
        payload.update({"credential_type": "basic", "access_key": spec["access_key"]})
        secret = _registry_secret(store, spec, env)
        if secret is not None:
            payload["access_secret"] = secret.reveal()
    return payload
