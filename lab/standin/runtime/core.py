"""Stand-in for harbor-core: a subset of REST API v2.0 and the registry token service.

    python3 core.py            # listens on :8080, configured by common/config/core/env

Responses follow the shapes of the real swagger.yaml. State (users, projects
with members and quotas, robots, registries, retention policies, GC schedule) is
one JSON file under the data volume, next to the database, so it survives
``docker compose down -v`` and upgrades and is part of a database backup. The admin
password seeds the first start only, like real.
Only the python standard library and python3-cryptography are used.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import ssl
import string
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from apispec import NOT_ACCEPTABLE, ApiSpec, negotiate
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

API = "/api/v2.0"
TOKEN_ISSUER = "harbor-token-issuer"
TOKEN_SERVICE = "harbor-registry"
# Harbor's default robot_name_prefix (a system setting: /configurations).
ROBOT_PREFIX = "robot$"
NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
PBKDF2_ROUNDS = 10000
PROBE_TIMEOUT = 1.0
# Project roles as numbered by Harbor, and the repository actions each grants.
ROLE_PROJECT_ADMIN, ROLE_DEVELOPER, ROLE_GUEST, ROLE_MAINTAINER = 1, 2, 3, 4
ROLE_ACTIONS = {
    ROLE_PROJECT_ADMIN: {"pull", "push", "delete", "*"},
    ROLE_MAINTAINER: {"pull", "push", "delete"},
    ROLE_DEVELOPER: {"pull", "push"},
    ROLE_GUEST: {"pull"},
}
GC_TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Manual", "None", "Schedule")


def now_iso():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key):
    """docker/libtrust key ID: base32 of the first 30 bytes of sha256(DER SPKI), in 4-char groups."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def hash_password(password, salt=None):
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ROUNDS).hex()
    return {"salt": salt, "hash": digest}


def password_matches(password, stored):
    candidate = hash_password(password, stored["salt"])["hash"]
    return hmac.compare_digest(candidate, stored["hash"])


def strong_password(password):
    """Harbor's rule: 8-128 chars with an upper case letter, a lower case letter and a digit."""
    return (
        isinstance(password, str)
        and 8 <= len(password) <= 128
        and re.search(r"[A-Z]", password)
        and re.search(r"[a-z]", password)
        and re.search(r"[0-9]", password)
    )


ROBOT_SECRET_RULE = (
    "the secret must be 8-128, inclusively, characters long with at least "
    "1 uppercase letter, 1 lowercase letter and 1 number"
)
PASSWORD_RULE = (
    "the password or secret must be 8-128, inclusively, characters long with at least "
    "1 uppercase letter, 1 lowercase letter and 1 number"
)
# common.IllegalCharsInUsername, refused in usernames and real names.
ILLEGAL_NAME_CHARS = ',"~#%$'
# Harbor's email pattern (src/server/v2.0/handler/user.go).
EMAIL_PATTERN = re.compile(
    r'^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@'
    r"((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$"
)


def cron_problem(cron):
    """``utils.ValidateCronString``: why ``cron`` is refused, or None. robfig/cron with
    seconds: exactly 6 fields; and the seconds field must be 0."""
    if not cron:
        return "empty cron string is invalid"
    fields = cron.split()
    if len(fields) != 6:
        return f"expected exactly 6 fields, found {len(fields)}: [{cron}]"
    field = re.compile(
        r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
    )
    if not all(field.match(part) for part in fields):
        return f"failed to parse cron: {cron}"
    parts = cron.split(" ")
    if len(parts) == 6 and parts[0] != "0":
        return "the 1st field (indicating Seconds of time) of the cron setting must be 0"
    return None


def normalised_url(text):
    """``lib.ValidateHTTPURL``: trimmed, http:// when no scheme, ``scheme://host/path``."""
    text = (text or "").strip(" ").rstrip("/")
    if not text:
        raise bad_request("empty string")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise bad_request(f"invalid HTTP scheme: {parts.scheme}")
    if not parts.netloc:
        raise bad_request(f"invalid URL: {text}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


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


def registry_health_check(registry):
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
        raise ApiError(500, "UNKNOWN", "internal server error")  # adapter factory for <type> not found
    context = ssl.create_default_context()
    if registry["insecure"]:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    credential = registry.get("credential") or {}
    try:
        if kind == "harbor":
            http_answer(registry["url"] + "/api/version", context)
    except OSError:
        raise ApiError(500, "UNKNOWN", "internal server error") from None
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


def http_answer(url, context, headers=None):
    """(status, headers, body) of a GET."""
    request = urllib.request.Request(url, headers={"User-Agent": "harbor-standin", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT * 5, context=context) as answer:
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


def checked_storage_limit(value):
    """``quota.Validate``: a storage limit is a positive number of bytes or -1."""
    if not isinstance(value, int) or isinstance(value, bool) or value == 0 or value < -1:
        raise bad_request("invalid value for resource storage")
    return value


def checked_profile(body):
    """``validateUserProfile``: email required and well formed, realname 1-255 bytes
    without illegal characters, comment at most 30 bytes; returns the three fields."""
    email, realname, comment = (str(body.get(key) or "") for key in ("email", "realname", "comment"))
    if not email:
        raise bad_request("email can't be empty")
    if not EMAIL_PATTERN.match(email):
        raise bad_request("email with illegal format")
    if not 1 <= len(realname.encode()) <= 255:
        raise bad_request("realname with illegal length")
    if any(char in realname for char in ILLEGAL_NAME_CHARS):
        raise bad_request("realname contains illegal characters")
    if len(comment.encode()) > 30:
        raise bad_request("comment with illegal length")
    return {"email": email, "realname": realname, "comment": comment}


def generate_secret():
    alphabet = string.ascii_letters + string.digits
    while True:
        secret = "".join(secrets.choice(alphabet) for _ in range(32))
        if strong_password(secret):
            return secret


class Settings:
    """Core's configuration, from the environment that common/config/core/env sets."""

    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.external_url = env.get("EXT_ENDPOINT", "http://localhost").rstrip("/")
        self.admin_password = env.get("HARBOR_ADMIN_PASSWORD", "Harbor12345")
        self.with_trivy = env.get("WITH_TRIVY", "false").lower() == "true"
        self.data_dir = Path(env.get("DATA_DIR", "/data"))
        self.state_file = self.data_dir / "database" / "standin" / "core.json"
        self.token_key_path = Path(env.get("TOKEN_PRIVATE_KEY_PATH", "/etc/core/private_key.pem"))
        self.ca_path = Path(env.get("CA_DOWNLOAD_PATH", "/etc/core/ca/ca.crt"))
        self.token_minutes = int(env.get("TOKEN_EXPIRATION", "30"))
        self.version = env.get("HARBOR_STANDIN_VERSION", "v2.13.1")
        self.storage_provider = env.get("REGISTRY_STORAGE_PROVIDER_NAME", "filesystem")
        self.components = {
            "portal": _host_port(env.get("PORTAL_URL", "http://portal:8080")),
            "jobservice": _host_port(env.get("JOBSERVICE_URL", "http://jobservice:8080")),
            "registry": _host_port(env.get("REGISTRY_URL", "http://registry:5000")),
            "registryctl": _host_port(env.get("REGISTRY_CONTROLLER_URL", "http://registryctl:8080")),
            "database": (env.get("POSTGRESQL_HOST", "postgresql"), int(env.get("POSTGRESQL_PORT", "5432"))),
            "redis": _host_port(env.get("_REDIS_URL_CORE", "redis://redis:6379")),
        }
        if self.with_trivy:
            self.components["trivy"] = _host_port(env.get("TRIVY_ADAPTER_URL", "http://trivy-adapter:8080"))

    @property
    def registry_url(self):
        return urlsplit(self.external_url).netloc


def _host_port(url):
    parts = urlsplit(url)
    default = {"http": 80, "https": 443, "redis": 6379}.get(parts.scheme, 80)
    return parts.hostname, parts.port or default


class Store:
    """The JSON state file, written atomically; every change goes through ``change()``."""

    def __init__(self, path, admin_password, version):
        self.path = path
        self.lock = threading.RLock()
        if path.is_file():
            self.data = json.loads(path.read_text())
        else:
            self.data = self._seed(admin_password)
        self.data["schema_version"] = version
        # State files written before these kinds existed.
        self.data.setdefault("registries", [])
        self.data.setdefault("retentions", [])
        for kind in ("registry", "retention"):
            self.data["next_id"].setdefault(kind, 1)
        self.save()

    @staticmethod
    def _seed(admin_password):
        created = now_iso()
        return {
            "next_id": {"user": 2, "project": 2, "robot": 1, "registry": 1, "retention": 1},
            "users": [
                {
                    "user_id": 1,
                    "username": "admin",
                    "email": "admin@example.com",
                    "realname": "system admin",
                    "comment": "admin user",
                    "sysadmin_flag": True,
                    "password": hash_password(admin_password),
                    "creation_time": created,
                    "update_time": created,
                }
            ],
            "projects": [
                {
                    "project_id": 1,
                    "name": "library",
                    "owner_id": 1,
                    "metadata": {"public": "true"},
                    "members": {"1": ROLE_PROJECT_ADMIN},
                    "creation_time": created,
                    "update_time": created,
                }
            ],
            "robots": [],
            "registries": [],
            "retentions": [],
            "gc_schedule": None,
        }

    def save(self):
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)

    def next_id(self, kind):
        value = self.data["next_id"][kind]
        self.data["next_id"][kind] = value + 1
        return value

    def user(self, user_id=None, username=None):
        for user in self.data["users"]:
            if user["user_id"] == user_id or user["username"] == username:
                return user
        return None

    def project(self, key, by_name=False):
        for project in self.data["projects"]:
            if by_name and project["name"] == key:
                return project
            if not by_name and str(project["project_id"]) == str(key):
                return project
        return None

    def robot(self, robot_id=None, name=None):
        for robot in self.data["robots"]:
            if robot["id"] == robot_id or robot["name"] == name:
                return robot
        return None


class Principal:
    """Who is calling: anonymous, a user, or a robot account."""

    def __init__(self, user=None, robot=None):
        self.user = user
        self.robot = robot

    @property
    def authenticated(self):
        return self.user is not None or self.robot is not None

    @property
    def is_admin(self):
        return bool(self.user and self.user["sysadmin_flag"])

    @property
    def name(self):
        if self.user:
            return self.user["username"]
        return self.robot["login"] if self.robot else ""

    def role(self, project):
        if self.user:
            return project["members"].get(str(self.user["user_id"]))
        return None

    def repository_actions(self, project):
        """The repository actions this caller holds in a project."""
        if self.is_admin:
            actions = set(ROLE_ACTIONS[ROLE_PROJECT_ADMIN])
        elif self.robot:
            actions = robot_actions(self.robot, project)
        else:
            actions = set(ROLE_ACTIONS.get(self.role(project), ()))
        if project["metadata"].get("public") == "true":
            actions.add("pull")
        return actions


def robot_actions(robot, project):
    actions = set()
    for permission in robot["permissions"]:
        if permission.get("kind") != "project":
            continue
        if permission.get("namespace") not in ("*", project["name"]):
            continue
        for access in permission.get("access") or []:
            resource, action = access.get("resource"), access.get("action")
            if resource == "repository" and action in ("pull", "push"):
                actions.add(action)
            elif resource == "artifact" and action == "delete":
                actions.add("delete")
    return actions


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def unauthorized(message="unauthorized"):
    return ApiError(401, "UNAUTHORIZED", message)


def forbidden(message="forbidden"):
    return ApiError(403, "FORBIDDEN", message)


def not_found(message):
    return ApiError(404, "NOT_FOUND", message)


def bad_request(message):
    return ApiError(400, "BAD_REQUEST", message)


def conflict(message):
    return ApiError(409, "CONFLICT", message)


class Core:
    """The API logic, independent of HTTP plumbing."""

    def __init__(self, settings):
        self.settings = settings
        self.spec = ApiSpec.load()
        self.store = Store(settings.state_file, settings.admin_password, settings.version)
        self._token_key = None

    # --- authentication -------------------------------------------------

    def authenticate(self, header):
        """The caller of a request; bad credentials raise 401 like real."""
        if not header or not header.startswith("Basic "):
            return Principal()
        try:
            username, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise unauthorized() from None
        with self.store.lock:
            prefix = self.robot_prefix()
            if username.startswith(prefix):
                robot = self.store.robot(name=username[len(prefix) :])
                if (
                    robot
                    and not robot["disable"]
                    and (robot["expires_at"] == -1 or robot["expires_at"] > time.time())
                    and password_matches(password, robot["secret"])
                ):
                    return Principal(robot={**robot, "login": username})
                raise unauthorized()
            user = self.store.user(username=username)
            if user and password_matches(password, user["password"]):
                return Principal(user=user)
        raise unauthorized()

    @staticmethod
    def require_login(principal):
        if not principal.authenticated:
            raise unauthorized()

    def require_admin(self, principal):
        self.require_login(principal)
        if not principal.is_admin:
            raise forbidden()

    # --- health, ping, systeminfo ----------------------------------------

    def health(self):
        def probe(item):
            name, (host, port) = item
            try:
                with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
                    return {"name": name, "status": "healthy"}
            except OSError as error:
                return {"name": name, "status": "unhealthy", "error": f"failed to connect to {host}:{port}: {error}"}

        with ThreadPoolExecutor(max_workers=len(self.settings.components)) as pool:
            components = [{"name": "core", "status": "healthy"}]
            components += list(pool.map(probe, self.settings.components.items()))
        components.sort(key=lambda component: component["name"])
        healthy = all(component["status"] == "healthy" for component in components)
        return {"status": "healthy" if healthy else "unhealthy", "components": components}

    def systeminfo(self, principal):
        info = {
            "auth_mode": "db_auth",
            "primary_auth_mode": False,
            "self_registration": False,
            "banner_message": "",
        }
        if principal.authenticated:
            info.update(
                {
                    "current_time": now_iso(),
                    "registry_url": self.settings.registry_url,
                    "external_url": self.settings.external_url,
                    "project_creation_restriction": "everyone",
                    "has_ca_root": self.settings.ca_path.is_file(),
                    "harbor_version": f"{self.settings.version}-standin",
                    "registry_storage_provider_name": self.settings.storage_provider,
                    "read_only": False,
                    "notification_enable": True,
                }
            )
        return info

    # --- users -----------------------------------------------------------

    @staticmethod
    def user_view(user):
        return {
            "user_id": user["user_id"],
            "username": user["username"],
            "email": user.get("email", ""),
            "realname": user.get("realname", ""),
            "comment": user.get("comment", ""),
            "sysadmin_flag": user["sysadmin_flag"],
            "admin_role_in_auth": False,
            "creation_time": user["creation_time"],
            "update_time": user["update_time"],
        }

    def create_user(self, principal, body):
        """Harbor's ``requireValidSecret`` then ``validateUserProfile(create=true)``."""
        self.require_admin(principal)
        if not strong_password(body.get("password") or ""):
            raise bad_request(PASSWORD_RULE)
        profile = checked_profile(body)
        username = body.get("username") or ""
        if not 1 <= len(username.encode()) <= 255:
            raise bad_request("username with illegal length")
        if any(char in username for char in ILLEGAL_NAME_CHARS):
            raise bad_request("username contains illegal characters")
        with self.store.lock:
            for user in self.store.data["users"]:
                if user["username"] == username or user.get("email") == profile["email"]:
                    raise conflict(f"user {username} or email {profile['email']} already exists")
            created = now_iso()
            user = {
                "user_id": self.store.next_id("user"),
                "username": username,
                **profile,
                "sysadmin_flag": False,
                "password": hash_password(body["password"]),
                "creation_time": created,
                "update_time": created,
            }
            self.store.data["users"].append(user)
            self.store.save()
        return user["user_id"]

    def list_users(self, principal, query):
        self.require_admin(principal)
        users = self.store.data["users"]
        wanted = query_filter(query).get("username") or first(query, "username")
        if wanted:
            users = [user for user in users if wanted.strip("~") in user["username"]]
        return [self.user_view(user) for user in users]

    def get_user(self, principal, user_id):
        self.require_login(principal)
        if not principal.is_admin and not (principal.user and principal.user["user_id"] == user_id):
            raise forbidden()
        user = self.store.user(user_id=user_id)
        if not user:
            raise not_found(f"user {user_id} not found")
        return self.user_view(user)

    def change_password(self, principal, user_id, body):
        """Like real: the old password is checked only when users change their own;
        an admin sets another user's without it."""
        self.require_login(principal)
        if not principal.user:
            raise forbidden()
        own = principal.user["user_id"] == user_id
        if not own and not principal.is_admin:
            raise forbidden("not allowed to change the password of another user")
        with self.store.lock:
            user = self.store.user(user_id=user_id)
            if not user:
                raise not_found(f"user {user_id} not found")
            new_password = body.get("new_password") or ""
            if own and not password_matches(body.get("old_password") or "", user["password"]):
                raise forbidden("Current password is incorrect")
            if not strong_password(new_password):
                raise bad_request(PASSWORD_RULE)
            if password_matches(new_password, user["password"]):
                raise bad_request("New password is identical to old password")
            user["password"] = hash_password(new_password)
            user["update_time"] = now_iso()
            self.store.save()

    # --- projects ----------------------------------------------------------

    def repositories(self, project_name):
        root = self.settings.data_dir / "registry" / "docker" / "registry" / "v2" / "repositories" / project_name
        if not root.is_dir():
            return []
        return [path for path in root.rglob("_manifests") if path.is_dir()]

    # --- repositories and artifacts (read-only, from the registry's storage) ---

    def storage_root(self):
        return self.settings.data_dir / "registry" / "docker" / "registry" / "v2"

    def repository_dir(self, project, repository_name):
        """The storage dir of ``<project>/<repository_name>`` or 404 (names as Harbor
        takes them in paths: "/" in the repository name double-encoded as %252F)."""
        name = unquote(unquote(repository_name))
        if not all(NAME_PATTERN.match(part) for part in name.split("/")):
            raise bad_request(f"repository name {name!r} is invalid")
        path = self.storage_root() / "repositories" / project["name"] / name
        if not (path / "_manifests").is_dir():
            raise not_found(f"repository {project['name']}/{name} not found")
        return path

    @staticmethod
    def storage_id(text):
        """A stable positive id for what the real core numbers in its database."""
        return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)

    @staticmethod
    def mtime_iso(path):
        stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def repository_view(self, project, path):
        name = str(path.relative_to(self.storage_root() / "repositories"))
        revisions = list((path / "_manifests" / "revisions" / "sha256").glob("*/link"))
        links = revisions + list((path / "_manifests" / "tags").glob("*/current/link"))
        return {
            "id": self.storage_id(name),
            "project_id": project["project_id"],
            "name": name,
            "description": "",
            "artifact_count": len(revisions),
            "pull_count": 0,
            "creation_time": self.mtime_iso(path / "_manifests"),
            "update_time": self.mtime_iso(max(links, key=lambda link: link.stat().st_mtime))
            if links
            else self.mtime_iso(path / "_manifests"),
        }

    def list_repositories(self, project):
        # Who may see the project was checked by find_project.
        return [
            self.repository_view(project, manifests.parent) for manifests in sorted(self.repositories(project["name"]))
        ]

    def blob(self, digest):
        algorithm, _, hex_digest = digest.partition(":")
        return (self.storage_root() / "blobs" / algorithm / hex_digest[:2] / hex_digest / "data").read_bytes()

    def list_artifacts(self, project, repository_name):
        """``Artifact``s of a repository with their tags, newest push first (who may
        see the project was checked by find_project)."""
        path = self.repository_dir(project, repository_name)
        repository = self.repository_view(project, path)
        tags = {}
        for link in (path / "_manifests" / "tags").glob("*/current/link"):
            tags.setdefault(link.read_text().strip(), []).append(link)
        artifacts = []
        for link in (path / "_manifests" / "revisions" / "sha256").glob("*/link"):
            digest = link.read_text().strip()
            manifest_bytes = self.blob(digest)
            manifest = json.loads(manifest_bytes)
            config = manifest.get("config") or {}
            artifact_id = self.storage_id(f"{repository['name']}@{digest}")
            artifacts.append(
                {
                    "id": artifact_id,
                    "type": "IMAGE",
                    "media_type": config.get("mediaType", ""),
                    "manifest_media_type": manifest.get("mediaType", ""),
                    "project_id": project["project_id"],
                    "repository_id": repository["id"],
                    "repository_name": repository["name"],
                    "digest": digest,
                    "size": len(manifest_bytes)
                    + config.get("size", 0)
                    + sum(layer.get("size", 0) for layer in manifest.get("layers") or []),
                    "push_time": self.mtime_iso(link),
                    "pull_time": "0001-01-01T00:00:00.000Z",
                    "extra_attrs": {},
                    "annotations": manifest.get("annotations") or {},
                    "references": [],
                    "labels": [],
                    "tags": [
                        {
                            "id": self.storage_id(f"{repository['name']}:{tag.parent.parent.name}"),
                            "repository_id": repository["id"],
                            "artifact_id": artifact_id,
                            "name": tag.parent.parent.name,
                            "push_time": self.mtime_iso(tag),
                            "pull_time": "0001-01-01T00:00:00.000Z",
                            "immutable": False,
                        }
                        for tag in sorted(tags.get(digest, []))
                    ],
                }
            )
        return sorted(artifacts, key=lambda artifact: artifact["push_time"], reverse=True)

    def project_view(self, project, principal):
        role = principal.role(project)
        owner = self.store.user(user_id=project["owner_id"])
        return {
            "project_id": project["project_id"],
            "owner_id": project["owner_id"],
            "name": project["name"],
            "registry_id": project.get("registry_id") or 0,
            "creation_time": project["creation_time"],
            "update_time": project["update_time"],
            "owner_name": owner["username"] if owner else "",
            "current_user_role_id": role or 0,
            # An array (never left out): null when the caller holds no role, like real.
            "current_user_role_ids": [role] if role else None,
            "repo_count": len(self.repositories(project["name"])),
            "metadata": dict(project["metadata"]),
            "cve_allowlist": {
                "id": project["project_id"],
                "project_id": project["project_id"],
                "items": [],
                "creation_time": project["creation_time"],
                "update_time": project["update_time"],
            },
        }

    def visible(self, project, principal):
        return (
            project["metadata"].get("public") == "true"
            or principal.is_admin
            or principal.role(project) is not None
            or bool(principal.robot and robot_actions(principal.robot, project))
        )

    def find_project(self, key, by_name_header, principal):
        by_name = by_name_header or not str(key).isdigit()
        project = self.store.project(key, by_name=by_name)
        if not project:
            raise not_found(f"project {key} not found")
        if not self.visible(project, principal):
            raise unauthorized() if not principal.authenticated else forbidden()
        return project

    def list_projects(self, principal, query):
        projects = [p for p in self.store.data["projects"] if self.visible(p, principal)]
        name = first(query, "name") or query_filter(query).get("name", "").strip("~")
        if name:
            projects = [p for p in projects if name in p["name"]]
        public = first(query, "public")
        if public in ("true", "false"):
            projects = [p for p in projects if p["metadata"].get("public") == public]
        return [self.project_view(p, principal) for p in projects]

    def project_exists(self, query):
        name = first(query, "project_name")
        if not name:
            raise bad_request("project_name is required")
        return self.store.project(name, by_name=True) is not None

    def create_project(self, principal, body):
        self.require_login(principal)
        if not principal.user:
            raise forbidden("robot accounts can not create projects")
        name = body.get("project_name") or ""
        if not NAME_PATTERN.match(name) or len(name) > 255:
            raise bad_request(f"project name {name!r} is invalid")
        metadata = {key: str(value).lower() for key, value in (body.get("metadata") or {}).items()}
        if body.get("registry_id") and not self.registry(body["registry_id"]):
            raise bad_request(f"registry {body['registry_id']} not found")
        public = metadata.get("public") or ("true" if body.get("public") else "false")
        metadata["public"] = "true" if public == "true" else "false"
        # Like real: no limit, 0, or a caller who is not a system admin get the default
        # storage_per_project (-1, unlimited); any other value must be > 0.
        storage_limit = body.get("storage_limit")
        if storage_limit in (None, 0) or not principal.is_admin:
            storage_limit = self.configuration("storage_per_project")
        checked_storage_limit(storage_limit)
        with self.store.lock:
            if self.store.project(name, by_name=True):
                raise conflict(f"project {name} already exists")
            created = now_iso()
            project = {
                "project_id": self.store.next_id("project"),
                "name": name,
                "owner_id": principal.user["user_id"],
                "metadata": metadata,
                "members": {str(principal.user["user_id"]): ROLE_PROJECT_ADMIN},
                "storage_limit": storage_limit,
                "registry_id": body.get("registry_id") or 0,
                "creation_time": created,
                "update_time": created,
            }
            self.store.data["projects"].append(project)
            self.store.save()
        return project["project_id"]

    def require_project_admin(self, principal, project):
        self.require_login(principal)
        if not (principal.is_admin or principal.role(project) == ROLE_PROJECT_ADMIN):
            raise forbidden()

    def update_project(self, principal, project, body):
        self.require_project_admin(principal, project)
        with self.store.lock:
            metadata = {key: str(value).lower() for key, value in (body.get("metadata") or {}).items()}
            if body.get("public") is not None and "public" not in metadata:
                metadata["public"] = "true" if body["public"] else "false"
            project["metadata"].update(metadata)
            project["update_time"] = now_iso()
            self.store.save()

    def delete_project(self, principal, project):
        self.require_project_admin(principal, project)
        if self.repositories(project["name"]):
            raise ApiError(
                412, "PRECONDITION", f"the project {project['name']} contains repositories, can not be deleted"
            )
        with self.store.lock:
            self.store.data["projects"].remove(project)
            self.store.data["robots"] = [
                robot for robot in self.store.data["robots"] if robot.get("project_id") != project["project_id"]
            ]
            self.store.save()

    # --- robots ------------------------------------------------------------

    # --- system configuration (the settings the stand-in acts on) ------------

    CONFIGURATION_DEFAULTS = {
        "robot_name_prefix": ROBOT_PREFIX,
        "storage_per_project": -1,
        "auth_mode": "db_auth",
        "project_creation_restriction": "everyone",
        "self_registration": False,
        "robot_token_duration": 30,
    }

    def configuration(self, key):
        return self.store.data.get("configurations", {}).get(key, self.CONFIGURATION_DEFAULTS[key])

    def configurations(self, principal):
        """``ConfigurationsResponse``: each setting as ``{value, editable}``."""
        self.require_admin(principal)
        return {
            key: {"value": self.configuration(key), "editable": key != "auth_mode"}
            for key in self.CONFIGURATION_DEFAULTS
        }

    def update_configurations(self, principal, body):
        self.require_admin(principal)
        with self.store.lock:
            settings = self.store.data.setdefault("configurations", {})
            for key, value in body.items():
                if key in self.CONFIGURATION_DEFAULTS and key != "auth_mode":
                    settings[key] = value
            self.store.save()

    def robot_prefix(self):
        return self.configuration("robot_name_prefix")

    def robot_view(self, robot):
        """Like real: the stored name (``<project>+<name>`` or ``<name>``) shown with
        the configured prefix."""
        return {
            "id": robot["id"],
            "name": self.robot_prefix() + robot["name"],
            "description": robot.get("description", ""),
            "level": robot["level"],
            "duration": robot["duration"],
            "editable": True,
            "disable": robot["disable"],
            "expires_at": robot["expires_at"],
            "permissions": robot["permissions"],
            "creator_type": "local",
            "creator_ref": robot.get("creator_ref", 0),
            "creation_time": robot["creation_time"],
            "update_time": robot["update_time"],
        }

    @staticmethod
    def checked_duration(duration):
        if not isinstance(duration, int) or isinstance(duration, bool) or duration == 0 or duration < -1:
            raise bad_request(
                f"bad request error duration input: {duration or 0}, duration must be "
                "either -1(Never) or a positive integer"
            )
        return duration

    def create_robot(self, principal, body):
        """Like real: ``disable`` and ``secret`` of the request are ignored (a new robot
        is enabled, with a generated secret); a missing duration is 0 and refused."""
        self.require_login(principal)
        name = body.get("name") or ""
        if not NAME_PATTERN.match(name) or len(name) > 255:
            raise bad_request("robot name is not in lower case or contains illegal characters")
        duration = self.checked_duration(body.get("duration") or 0)
        level = body.get("level")
        if level not in ("project", "system"):
            raise bad_request(f"bad request error level input: {level}")
        permissions = body.get("permissions") or []
        if not permissions:
            raise bad_request("bad request empty permission")
        if any(not permission.get("access") for permission in permissions):
            raise bad_request("bad request empty access")
        project = None
        if level == "project":
            if len(permissions) != 1 or permissions[0].get("kind") != "project":
                raise bad_request("bad request permission")
            project = self.store.project(permissions[0].get("namespace"), by_name=True)
            if not project:
                raise not_found(f"project {permissions[0].get('namespace')} not found")
            self.require_project_admin(principal, project)
            stored_name = f"{project['name']}+{name}"
        else:
            self.require_admin(principal)
            stored_name = name
        secret = generate_secret()
        with self.store.lock:
            if self.store.robot(name=stored_name):
                raise conflict(f"robot account {project['project_id'] if project else 0}:{stored_name} already exists")
            created = now_iso()
            robot = {
                "id": self.store.next_id("robot"),
                "name": stored_name,
                "description": body.get("description") or "",
                "level": level,
                "duration": duration,
                "disable": False,
                "expires_at": -1 if duration == -1 else int(time.time()) + duration * 86400,
                "permissions": permissions,
                "project_id": project["project_id"] if project else 0,
                "creator_ref": principal.user["user_id"] if principal.user else 0,
                "secret": hash_password(secret),
                "creation_time": created,
                "update_time": created,
            }
            self.store.data["robots"].append(robot)
            self.store.save()
        return {
            "id": robot["id"],
            "name": self.robot_prefix() + stored_name,
            "secret": secret,
            "creation_time": created,
            "expires_at": robot["expires_at"],
        }

    def list_robots(self, principal, query):
        """Like real: ``q`` needs ``Level=project`` with a ``ProjectID`` for project
        robots; without ``Level`` it lists system robots; ``name`` matches the stored
        name (without the prefix)."""
        self.require_login(principal)
        filters = query_filter(query)
        level = filters.get("Level")
        if level is None:
            level, filters["ProjectID"] = "system", "0"
        elif level not in ("system", "project"):
            raise bad_request("bad request error level input")
        if level == "project":
            if "ProjectID" not in filters:
                raise bad_request("must with project ID when to query project robots")
            if not filters["ProjectID"].isdigit():
                raise bad_request("Project ID must be int type.")
        if principal.is_admin:
            robots = self.store.data["robots"]
        elif principal.user:
            robots = [
                robot
                for robot in self.store.data["robots"]
                if robot["level"] == "project"
                and principal.role(self.store.project(robot["project_id"]) or {"members": {}}) == ROLE_PROJECT_ADMIN
            ]
        else:
            raise forbidden()
        robots = [robot for robot in robots if robot["level"] == level]
        if level == "project":
            robots = [robot for robot in robots if str(robot["project_id"]) == filters["ProjectID"]]
        name = filters.get("name")
        if name is not None:
            robots = [
                robot
                for robot in robots
                if (name[1:] in robot["name"] if name.startswith("~") else robot["name"] == name)
            ]
        return [self.robot_view(robot) for robot in robots]

    def find_robot(self, principal, robot_id):
        self.require_login(principal)
        robot = self.store.robot(robot_id=robot_id)
        if not robot:
            raise not_found(f"robot {robot_id} not found")
        if principal.is_admin:
            return robot
        project = self.store.project(robot["project_id"])
        if robot["level"] == "project" and project and principal.role(project) == ROLE_PROJECT_ADMIN:
            return robot
        raise forbidden()

    def delete_robot(self, principal, robot_id):
        robot = self.find_robot(principal, robot_id)
        with self.store.lock:
            self.store.data["robots"].remove(robot)
            self.store.save()

    def update_robot(self, principal, robot_id, body):
        """Like real: the name must be the full one (with the prefix), as listed;
        description and disable are replaced (left out: empty and enabled)."""
        robot = self.find_robot(principal, robot_id)
        if body.get("level") != robot["level"] or body.get("name") != self.robot_prefix() + robot["name"]:
            raise bad_request("cannot update the level or name of robot")
        duration = robot["duration"] if body.get("duration") is None else self.checked_duration(body["duration"])
        permissions = body.get("permissions") or []
        if robot["level"] == "project" and (
            len(permissions) != 1 or permissions[0].get("namespace") != self.store.project(robot["project_id"])["name"]
        ):
            raise bad_request("cannot update the project id of robot")
        with self.store.lock:
            if duration != robot["duration"]:
                robot["expires_at"] = -1 if duration == -1 else int(time.time()) + duration * 86400
            robot.update(
                {
                    "description": body.get("description") or "",
                    "duration": duration,
                    "disable": bool(body.get("disable")),
                    "permissions": permissions,
                    "update_time": now_iso(),
                }
            )
            self.store.save()

    def refresh_robot_secret(self, principal, robot_id, body):
        robot = self.find_robot(principal, robot_id)
        secret = body.get("secret") or generate_secret()
        if not strong_password(secret):
            raise bad_request(ROBOT_SECRET_RULE)
        with self.store.lock:
            robot["secret"] = hash_password(secret)
            robot["update_time"] = now_iso()
            self.store.save()
        # Like real: a secret the caller chose is not echoed back.
        return {} if body.get("secret") else {"secret": secret}

    # --- users: profile ----------------------------------------------------

    def update_user_profile(self, principal, user_id, body):
        """Like real: email, realname and comment are replaced together (a field left
        out is empty afterwards, and an empty email or realname is refused)."""
        self.require_login(principal)
        if not principal.is_admin and not (principal.user and principal.user["user_id"] == user_id):
            raise forbidden()
        profile = checked_profile(body)
        with self.store.lock:
            user = self.store.user(user_id=user_id)
            if not user:
                raise not_found(f"user {user_id} not found")
            user.update(profile)
            user["update_time"] = now_iso()
            self.store.save()

    def delete_user(self, principal, user_id):
        """Like real: admin only, never one's own account; memberships go with the user."""
        self.require_admin(principal)
        if principal.user["user_id"] == user_id:
            raise forbidden("can not delete yourself")
        with self.store.lock:
            user = self.store.user(user_id=user_id)
            if not user:
                raise not_found(f"user {user_id} not found")
            self.store.data["users"].remove(user)
            for project in self.store.data["projects"]:
                project["members"].pop(str(user_id), None)
            self.store.save()

    # --- quotas (one storage quota per project, kept on the project) -------

    def quota_view(self, project):
        return {
            "id": project["project_id"],
            "ref": {"id": project["project_id"], "name": project["name"], "owner_name": "admin"},
            "hard": {"storage": project.get("storage_limit", -1)},
            "used": {"storage": 0},
            "creation_time": project["creation_time"],
            "update_time": project["update_time"],
        }

    def list_quotas(self, principal, query):
        self.require_admin(principal)
        projects = self.store.data["projects"]
        if first(query, "reference") not in ("", "project"):
            return []
        wanted = first(query, "reference_id")
        if wanted:
            projects = [project for project in projects if str(project["project_id"]) == wanted]
        return [self.quota_view(project) for project in projects]

    def update_quota(self, principal, quota_id, body):
        """Like real: ``hard`` is required and a storage limit is > 0 or -1 (0 refused)."""
        self.require_admin(principal)
        project = self.store.project(quota_id)
        if not project:
            raise not_found(f"quota {quota_id} not found")
        hard = body.get("hard")
        if not hard:
            raise bad_request("hard required in body")
        for resource in hard:
            if resource != "storage":
                raise bad_request(f"resource {resource} not support")
        storage = checked_storage_limit(hard.get("storage"))
        with self.store.lock:
            project["storage_limit"] = storage
            project["update_time"] = now_iso()
            self.store.save()

    # --- project members (member id = user id) -----------------------------

    ROLE_NAMES = {
        ROLE_PROJECT_ADMIN: "projectAdmin",
        ROLE_DEVELOPER: "developer",
        ROLE_GUEST: "guest",
        ROLE_MAINTAINER: "maintainer",
        5: "limitedGuest",
    }

    def member_view(self, project, user_id, role):
        user = self.store.user(user_id=int(user_id))
        return {
            "id": int(user_id),
            "project_id": project["project_id"],
            "entity_name": user["username"] if user else "",
            "role_name": self.ROLE_NAMES.get(role, ""),
            "role_id": role,
            "entity_id": int(user_id),
            "entity_type": "u",
        }

    def list_members(self, principal, project, query):
        self.require_login(principal)
        if not (principal.is_admin or principal.role(project) is not None):
            raise forbidden()
        members = [self.member_view(project, uid, role) for uid, role in sorted(project["members"].items())]
        wanted = first(query, "entityname")
        return [member for member in members if wanted in member["entity_name"]] if wanted else members

    def add_member(self, principal, project, body):
        self.require_project_admin(principal, project)
        role = body.get("role_id")
        if role not in self.ROLE_NAMES:
            raise bad_request(f"invalid role_id {role!r}")
        wanted = body.get("member_user") or {}
        with self.store.lock:
            user = self.store.user(user_id=wanted.get("user_id"), username=wanted.get("username"))
            if not user:
                raise not_found("user not found")
            if str(user["user_id"]) in project["members"]:
                raise conflict(f"user {user['username']} is already a member of project {project['name']}")
            project["members"][str(user["user_id"])] = role
            self.store.save()
        return user["user_id"]

    def change_member(self, principal, project, member_id, body):
        self.require_project_admin(principal, project)
        role = (body or {}).get("role_id")
        with self.store.lock:
            if str(member_id) not in project["members"]:
                raise not_found(f"member {member_id} not found")
            if body is None:
                del project["members"][str(member_id)]
            elif role not in self.ROLE_NAMES:
                raise bad_request(f"invalid role_id {role!r}")
            else:
                project["members"][str(member_id)] = role
            self.store.save()

    # --- registry endpoints --------------------------------------------------

    def registry(self, registry_id):
        for registry in self.store.data["registries"]:
            if registry["id"] == int(registry_id):
                return registry
        return None

    @staticmethod
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

    def list_registries(self, principal, query):
        self.require_admin(principal)
        registries = self.store.data["registries"]
        filters = query_filter(query)
        wanted = first(query, "name") or filters.get("name", "")
        if wanted.startswith("~"):
            registries = [registry for registry in registries if wanted[1:] in registry["name"]]
        elif wanted:
            registries = [registry for registry in registries if registry["name"] == wanted]
        return [self.registry_view(registry) for registry in registries]

    def get_registry(self, principal, registry_id):
        self.require_admin(principal)
        registry = self.registry(registry_id)
        if not registry:
            raise not_found(f"registry {registry_id} not found")
        return registry

    def checked_registry(self, registry):
        """Harbor's ``validate`` on create and on every update: name, URL (normalised)
        and a health check of the endpoint through its adapter."""
        if not registry["name"]:
            raise bad_request("name cannot be empty")
        if len(registry["name"]) > 64:
            raise bad_request("the max length of name is 64")
        registry["url"] = normalised_url(registry["url"])
        registry_health_check(registry)

    def create_registry(self, principal, body):
        self.require_admin(principal)
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
        self.checked_registry(registry)
        with self.store.lock:
            if any(item["name"] == registry["name"] for item in self.store.data["registries"]):
                raise conflict(f"registry {registry['name']} already exists")
            created = now_iso()
            registry.update({"id": self.store.next_id("registry"), "creation_time": created, "update_time": created})
            self.store.data["registries"].append(registry)
            self.store.save()
        return registry["id"]

    def update_registry(self, principal, registry_id, body):
        """``RegistryUpdate``: every field optional; one left out keeps its stored value
        (the access secret too); the result is checked, health included, like a new one."""
        stored = self.get_registry(principal, registry_id)
        updated = json.loads(json.dumps(stored))
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
        self.checked_registry(updated)
        with self.store.lock:
            if any(
                item["name"] == updated["name"] and item["id"] != stored["id"] for item in self.store.data["registries"]
            ):
                raise conflict(f"registry {updated['name']} already exists")
            stored.update(updated, update_time=now_iso())
            self.store.save()

    def delete_registry(self, principal, registry_id):
        registry = self.get_registry(principal, registry_id)
        with self.store.lock:
            if any(project.get("registry_id") == registry["id"] for project in self.store.data["projects"]):
                raise ApiError(
                    412,
                    "PRECONDITION",
                    f"the registry {registry['id']} is referenced by proxy cache project, cannot delete it",
                )
            self.store.data["registries"].remove(registry)
            self.store.save()

    # --- tag retention (one policy per project, bound by metadata retention_id) ---

    def retention(self, principal, policy_id):
        for policy in self.store.data["retentions"]:
            if policy["id"] == int(policy_id):
                project = self.store.project(policy["scope"]["ref"])
                if project:
                    self.require_project_admin(principal, project)
                return policy
        raise not_found(f"retention policy {policy_id} not found")

    def checked_retention(self, body):
        scope = body.get("scope") or {}
        project = self.store.project(scope.get("ref")) if scope.get("level") == "project" else None
        if not project:
            raise bad_request("the scope must be a project: {level: project, ref: <project id>}")
        for rule in body.get("rules") or []:
            if rule.get("template") not in (
                "latestPushedK",
                "latestPulledN",
                "nDaysSinceLastPush",
                "nDaysSinceLastPull",
                "always",
            ):
                raise bad_request(f"invalid rule template {rule.get('template')!r}")
        return project

    def create_retention(self, principal, body):
        self.require_login(principal)
        project = self.checked_retention(body)
        self.require_project_admin(principal, project)
        with self.store.lock:
            if project["metadata"].get("retention_id"):
                raise bad_request(f"project {project['name']} already has a retention policy")
            policy = {**body, "id": self.store.next_id("retention"), "algorithm": body.get("algorithm") or "or"}
            self.store.data["retentions"].append(policy)
            project["metadata"]["retention_id"] = str(policy["id"])
            self.store.save()
        return policy["id"]

    def update_retention(self, principal, policy_id, body):
        policy = self.retention(principal, policy_id)
        project = self.checked_retention(body)
        if project["project_id"] != policy["scope"]["ref"]:
            raise bad_request("the scope of a retention policy can not be changed")
        with self.store.lock:
            policy.update({**body, "id": policy["id"]})
            self.store.save()

    # --- garbage collection schedule ---------------------------------------

    def gc_schedule(self, principal):
        self.require_admin(principal)
        return self.store.data["gc_schedule"]

    def set_gc_schedule(self, principal, body):
        """Like real (``gc.go``): Hourly, Daily, Weekly and Custom all need a valid
        6-field cron with 0 seconds (the type never implies one); None removes the
        schedule; Manual starts a run; workers must be 1-5."""
        self.require_admin(principal)
        schedule = body.get("schedule") or {}
        kind, cron = schedule.get("type"), schedule.get("cron") or ""
        if kind in ("", None, "Schedule"):
            return  # enum-valid (or no type at all) but no case in gc.go: nothing happens
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
            if not 1 <= workers <= 5:
                raise bad_request(
                    f"Error: Invalid number of workers:{workers}. Workers must be greater than 0 "
                    "and less than or equal to 5."
                )
        if kind in ("Manual", "None"):
            with self.store.lock:
                if kind == "None":
                    self.store.data["gc_schedule"] = None
                    self.store.save()
            return
        problem = cron_problem(cron)
        if problem:
            raise bad_request(f"invalid cron string for scheduled gc: {cron}, error: {problem}")
        with self.store.lock:
            current = self.store.data["gc_schedule"]
            updated = now_iso()
            self.store.data["gc_schedule"] = {
                "id": (current or {}).get("id", 1),
                # Like real: job_kind carries the cron; the parameters are a JSON string.
                "job_kind": cron,
                "job_parameters": json.dumps(
                    {"delete_untagged": bool(parameters.get("delete_untagged")), "workers": workers}
                ),
                "schedule": {"type": kind, "cron": cron},
                "job_status": "Pending",
                "creation_time": current["creation_time"] if current else updated,
                "update_time": updated,
            }
            self.store.save()

    # --- registry token service ---------------------------------------------

    @property
    def token_key(self):
        if self._token_key is None:
            self._token_key = serialization.load_pem_private_key(
                self.settings.token_key_path.read_bytes(), password=None
            )
        return self._token_key

    def granted_access(self, principal, scope):
        """One requested scope (``repository:p/img:push,pull``) cut down to what is allowed."""
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        requested = [action for action in actions.split(",") if action]
        if kind == "registry" and name == "catalog":
            allowed = {"*"} if principal.is_admin else set()
        elif kind == "repository":
            project = self.store.project(name.split("/")[0], by_name=True) if "/" in name else None
            allowed = principal.repository_actions(project) if project else set()
        else:
            allowed = set()
        return {"type": kind, "name": name, "actions": [a for a in requested if a in allowed]}

    def issue_token(self, principal, service, scopes):
        if service != TOKEN_SERVICE:
            raise bad_request(f"invalid service: {service}")
        issued = int(time.time())
        expires_in = self.settings.token_minutes * 60
        with self.store.lock:
            access = [self.granted_access(principal, scope) for scope in scopes]
        header = {"typ": "JWT", "alg": "RS256", "kid": libtrust_key_id(self.token_key.public_key())}
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": principal.name,
            "aud": TOKEN_SERVICE,
            "exp": issued + expires_in,
            "nbf": issued - 5,
            "iat": issued,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.token_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = signing_input + "." + b64url(signature)
        issued_at = datetime.datetime.fromtimestamp(issued, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "expires_in": expires_in, "issued_at": issued_at}


def first(query, key):
    values = query.get(key)
    return values[0] if values else ""


def query_filter(query):
    """Harbor's ``q`` parameter: ``key=value,key2=~value``."""
    result = {}
    for item in first(query, "q").split(","):
        key, sep, value = item.partition("=")
        if sep:
            result[key.strip()] = value.strip()
    return result


def paginate(items, query):
    try:
        page = max(int(first(query, "page") or 1), 1)
        size = min(max(int(first(query, "page_size") or 10), 1), 100)
    except ValueError:
        raise bad_request("page and page_size must be integers") from None
    return items[(page - 1) * size : page * size]


def make_handler(core):
    """A request handler class bound to one Core."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "harbor-standin"
        sys_version = ""

        def log_message(self, fmt, *args):
            sys.stderr.write(f"{self.address_string()} - {fmt % args}\n")

        def do_GET(self):
            self.dispatch("GET")

        def do_HEAD(self):
            self.dispatch("HEAD")

        def do_POST(self):
            self.dispatch("POST")

        def do_PUT(self):
            self.dispatch("PUT")

        def do_DELETE(self):
            self.dispatch("DELETE")

        def do_PATCH(self):
            self.dispatch("PATCH")

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return {}
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise bad_request("invalid JSON body") from None
            if not isinstance(parsed, dict):
                raise bad_request("the body must be a JSON object")
            return parsed

        def send(self, status, payload=None, content_type="application/json", headers=None):
            if isinstance(payload, bytes | str):
                data = payload.encode() if isinstance(payload, str) else payload
            elif payload is None:
                data = b""
            else:
                if self.operation is not None and status < 400:
                    payload = core.spec.omit_empty(self.operation.response_schema(status), payload)
                data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("X-Request-Id", self.request_id)
            if data:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def send_list(self, items, query):
            self.send(200, paginate(items, query), headers={"X-Total-Count": str(len(items))})

        def dispatch(self, method):
            self.request_id = self.headers.get("X-Request-Id") or str(uuid.uuid4())
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            query = parse_qs(parts.query)
            self.operation = None
            try:
                if path.startswith(API + "/"):
                    self.operation = core.spec.operation(method, path[len(API) :])
                    self.check_accept()
                self.route(method, path, query)
            except ApiError as error:
                headers = {}
                if error.status == 401:
                    headers["WWW-Authenticate"] = 'Basic realm="harbor"'
                self.send(
                    error.status,
                    {"errors": [{"code": error.code, "message": error.message}]},
                    headers=headers,
                )
            except Exception as error:  # noqa: BLE001 - a failing handler must still answer
                traceback.print_exc()
                self.send(500, {"errors": [{"code": "UNKNOWN", "message": f"internal error: {error}"}]})

        def check_accept(self):
            """The generated server's check, before any handler: Accept must match the
            operation's ``produces`` (a request with a body falls back to its own type)."""
            if self.operation is None:
                return
            has_body = int(self.headers.get("Content-Length") or 0) > 0
            body_type = (
                (self.headers.get("Content-Type") or "application/octet-stream").split(";")[0] if has_body else ""
            )
            produces = self.operation.produces
            if not negotiate(self.headers.get("Accept"), produces, body_type or ("*/*" if not produces else "")):
                raise ApiError(
                    422,
                    "UNPROCESSABLE_ENTITY",
                    "validation failure list:\n" + NOT_ACCEPTABLE.format(offers=" ".join(produces)),
                )

        def route(self, method, path, query):
            if path == "/service/token" and method == "GET":
                principal = core.authenticate(self.headers.get("Authorization"))
                self.send(200, core.issue_token(principal, first(query, "service"), query.get("scope", [])))
                return
            if not path.startswith(API + "/"):
                raise not_found(f"{path} not found")
            path = path[len(API) :]
            if path == "/ping" and method == "GET":
                self.send(200, "Pong", content_type="text/plain; charset=utf-8")
                return
            if path == "/health" and method == "GET":
                self.send(200, core.health())
                return
            principal = core.authenticate(self.headers.get("Authorization"))
            match = re.fullmatch(r"/users/(\d+)(/password)?", path)
            project_match = re.fullmatch(r"/projects/([^/]+)", path)
            robot_match = re.fullmatch(r"/robots/(\d+)", path)
            members_match = re.fullmatch(r"/projects/([^/]+)/members(?:/(\d+))?", path)
            quota_match = re.fullmatch(r"/quotas/(\d+)", path)
            registry_match = re.fullmatch(r"/registries/(\d+)", path)
            retention_match = re.fullmatch(r"/retentions/(\d+)", path)
            repositories_match = re.fullmatch(r"/projects/([^/]+)/repositories(?:/([^/]+)/artifacts)?", path)
            if path == "/systeminfo" and method == "GET":
                self.send(200, core.systeminfo(principal))
            elif path == "/systeminfo/getcert" and method == "GET":
                if not core.settings.ca_path.is_file():
                    raise not_found("no default root certificate")
                self.send(
                    200,
                    core.settings.ca_path.read_bytes(),
                    content_type="application/octet-stream",
                    headers={"Content-Disposition": 'attachment; filename="ca.crt"'},
                )
            elif path == "/configurations" and method == "GET":
                self.send(200, core.configurations(principal))
            elif path == "/configurations" and method == "PUT":
                core.update_configurations(principal, self.body())
                self.send(200)
            elif path == "/users/current" and method == "GET":
                core.require_login(principal)
                if not principal.user:
                    raise forbidden()
                self.send(200, core.user_view(principal.user))
            elif path == "/users" and method == "GET":
                self.send_list(core.list_users(principal, query), query)
            elif path == "/users" and method == "POST":
                user_id = core.create_user(principal, self.body())
                self.send(201, headers={"Location": f"{API}/users/{user_id}"})
            elif match and match.group(2) and method == "PUT":
                core.change_password(principal, int(match.group(1)), self.body())
                self.send(200)
            elif match and not match.group(2) and method == "GET":
                self.send(200, core.get_user(principal, int(match.group(1))))
            elif match and not match.group(2) and method == "PUT":
                core.update_user_profile(principal, int(match.group(1)), self.body())
                self.send(200)
            elif match and not match.group(2) and method == "DELETE":
                core.delete_user(principal, int(match.group(1)))
                self.send(200)
            elif path == "/projects" and method == "HEAD":
                self.send(200 if core.project_exists(query) else 404)
            elif path == "/projects" and method == "GET":
                self.send_list(core.list_projects(principal, query), query)
            elif path == "/projects" and method == "POST":
                project_id = core.create_project(principal, self.body())
                self.send(201, headers={"Location": f"{API}/projects/{project_id}"})
            elif project_match and method in ("GET", "PUT", "DELETE"):
                by_name = (self.headers.get("X-Is-Resource-Name") or "").lower() == "true"
                project = core.find_project(unquote(project_match.group(1)), by_name, principal)
                if method == "GET":
                    self.send(200, core.project_view(project, principal))
                elif method == "PUT":
                    core.update_project(principal, project, self.body())
                    self.send(200)
                else:
                    core.delete_project(principal, project)
                    self.send(200)
            elif repositories_match and method == "GET":
                by_name = (self.headers.get("X-Is-Resource-Name") or "").lower() == "true"
                project = core.find_project(unquote(repositories_match.group(1)), by_name, principal)
                if repositories_match.group(2) is None:
                    self.send_list(core.list_repositories(project), query)
                else:
                    self.send_list(core.list_artifacts(project, repositories_match.group(2)), query)
            elif path == "/robots" and method == "GET":
                self.send_list(core.list_robots(principal, query), query)
            elif path == "/robots" and method == "POST":
                created = core.create_robot(principal, self.body())
                self.send(201, created, headers={"Location": f"{API}/robots/{created['id']}"})
            elif robot_match and method == "GET":
                self.send(200, core.robot_view(core.find_robot(principal, int(robot_match.group(1)))))
            elif robot_match and method == "DELETE":
                core.delete_robot(principal, int(robot_match.group(1)))
                self.send(200)
            elif robot_match and method == "PUT":
                core.update_robot(principal, int(robot_match.group(1)), self.body())
                self.send(200)
            elif robot_match and method == "PATCH":
                self.send(200, core.refresh_robot_secret(principal, int(robot_match.group(1)), self.body()))
            elif members_match:
                by_name = (self.headers.get("X-Is-Resource-Name") or "").lower() == "true"
                project = core.find_project(unquote(members_match.group(1)), by_name, principal)
                member_id = members_match.group(2)
                if member_id is None and method == "GET":
                    self.send_list(core.list_members(principal, project, query), query)
                elif member_id is None and method == "POST":
                    created = core.add_member(principal, project, self.body())
                    self.send(201, headers={"Location": f"{API}/projects/{project['project_id']}/members/{created}"})
                elif member_id is not None and method == "GET":
                    members = core.list_members(principal, project, {})
                    found = [member for member in members if member["id"] == int(member_id)]
                    if not found:
                        raise not_found(f"member {member_id} not found")
                    self.send(200, found[0])
                elif member_id is not None and method in ("PUT", "DELETE"):
                    core.change_member(principal, project, int(member_id), self.body() if method == "PUT" else None)
                    self.send(200)
                else:
                    raise not_found(f"{API}{path} not found")
            elif path == "/quotas" and method == "GET":
                self.send_list(core.list_quotas(principal, query), query)
            elif quota_match and method == "GET":
                core.require_admin(principal)
                project = core.store.project(quota_match.group(1))
                if not project:
                    raise not_found(f"quota {quota_match.group(1)} not found")
                self.send(200, core.quota_view(project))
            elif quota_match and method == "PUT":
                core.update_quota(principal, int(quota_match.group(1)), self.body())
                self.send(200)
            elif path == "/registries" and method == "GET":
                self.send_list(core.list_registries(principal, query), query)
            elif path == "/registries" and method == "POST":
                registry_id = core.create_registry(principal, self.body())
                self.send(201, headers={"Location": f"{API}/registries/{registry_id}"})
            elif registry_match and method == "GET":
                self.send(200, core.registry_view(core.get_registry(principal, int(registry_match.group(1)))))
            elif registry_match and method == "PUT":
                core.update_registry(principal, int(registry_match.group(1)), self.body())
                self.send(200)
            elif registry_match and method == "DELETE":
                core.delete_registry(principal, int(registry_match.group(1)))
                self.send(200)
            elif path == "/retentions" and method == "POST":
                policy_id = core.create_retention(principal, self.body())
                self.send(201, headers={"Location": f"{API}/retentions/{policy_id}"})
            elif retention_match and method == "GET":
                self.send(200, core.retention(principal, int(retention_match.group(1))))
            elif retention_match and method == "PUT":
                core.update_retention(principal, int(retention_match.group(1)), self.body())
                self.send(200)
            elif path == "/system/gc/schedule" and method == "GET":
                # Like real: no schedule yet is a 200 without a body.
                self.send(200, core.gc_schedule(principal))
            elif path == "/system/gc/schedule" and method in ("POST", "PUT"):
                core.set_gc_schedule(principal, self.body())
                self.send(201 if method == "POST" else 200)
            else:
                raise not_found(f"{API}{path} not found")

    return Handler


def make_server(settings, host="0.0.0.0", port=8080):
    server = ThreadingHTTPServer((host, port), make_handler(Core(settings)))
    server.daemon_threads = True
    return server


def main():
    # As PID 1 python ignores SIGTERM: exit on it, so `docker stop` needs no 10s kill timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server(Settings(), port=int(os.environ.get("CORE_PORT", "8080")))
    print(f"harbor-core stand-in listening on :{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
