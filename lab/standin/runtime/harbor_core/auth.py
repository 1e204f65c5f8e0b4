"""Who calls: basic auth of users and robot accounts, what each may do in a project,
and the registry's token service (RS256 JWTs distribution accepts)."""

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from harbor_core import rbac
from harbor_core.errors import bad_request, forbidden, unauthorized

TOKEN_ISSUER = "harbor-token-issuer"
TOKEN_SERVICE = "harbor-registry"
PBKDF2_ROUNDS = 10000
# Project roles as numbered by Harbor, and the repository actions each grants.
ROLE_PROJECT_ADMIN, ROLE_DEVELOPER, ROLE_GUEST, ROLE_MAINTAINER = 1, 2, 3, 4
ROLE_ACTIONS = {
    ROLE_PROJECT_ADMIN: {"pull", "push", "delete", "*"},
    ROLE_MAINTAINER: {"pull", "push", "delete"},
    ROLE_DEVELOPER: {"pull", "push"},
    ROLE_GUEST: {"pull"},
}
# Roles from the most to the least privileged (5: limited guest).
ROLE_RANK = (ROLE_PROJECT_ADMIN, ROLE_MAINTAINER, ROLE_DEVELOPER, ROLE_GUEST, 5)


def hash_password(password, salt=None):
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ROUNDS).hex()
    return {"salt": salt, "hash": digest}


def password_matches(password, stored):
    if not stored["salt"]:
        return False
    candidate = hash_password(password, stored["salt"])["hash"]
    return hmac.compare_digest(candidate, stored["hash"])


class Principal:
    """Who is calling: anonymous, a user (with the user groups its login attached, as
    Harbor's security context carries them), or a robot account."""

    def __init__(self, user=None, robot=None, group_ids=()):
        self.user = user
        self.robot = robot
        self.group_ids = tuple(group_ids)

    @property
    def authenticated(self):
        return self.user is not None or self.robot is not None

    @property
    def is_admin(self):
        """The admin flag, or (LDAP) membership of the group admin DN at this login."""
        return bool(self.user and (self.user["sysadmin_flag"] or self.user.get("admin_role_in_auth")))

    @property
    def name(self):
        if self.user:
            return self.user["username"]
        return self.robot["login"] if self.robot else ""

    def role(self, project):
        """The highest of the user's roles in a project: its own, its groups'."""
        if not self.user:
            return None
        roles = [project["members"].get(str(self.user["user_id"]))]
        roles += [project.get("group_members", {}).get(str(group_id)) for group_id in self.group_ids]
        held = [role for role in roles if role is not None]
        return min(held, key=ROLE_RANK.index) if held else None

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
    """The repository actions a robot's stored permissions grant in a project."""
    actions = set()
    for resource, action in rbac.granted(robot["permissions"], project):
        if resource == "repository" and action in ("pull", "push"):
            actions.add(action)
        elif resource == "artifact" and action == "delete":
            actions.add("delete")
    return actions


# A wrong password (src/core/auth/authenticator.go Login): the account is locked for
# 1.5 s, during which a login is refused at once, and the failing request sleeps 1.5 s.
FROZEN_SECONDS = 1.5


class LoginLock:
    """Harbor's UserLock (src/core/auth/lock.go): the last failure of each principal."""

    def __init__(self, frozen=FROZEN_SECONDS):
        self.frozen = frozen
        self.failures = {}
        self.guard = threading.Lock()

    def locked(self, principal):
        with self.guard:
            failed = self.failures.get(principal)
        return failed is not None and time.monotonic() - failed <= self.frozen

    def fail(self, principal):
        with self.guard:
            self.failures[principal] = time.monotonic()
        time.sleep(self.frozen)


def authenticate(store, robot_prefix, header, lock, directory_login=None):
    """The caller of a request, as Harbor's security middleware finds it
    (src/server/middleware/security): a robot whose secret matches (enabled, not
    expired), else a user whose password matches (src/server/middleware/security/
    basic_auth.go, auth.Login), else nobody. Bad credentials never answer 401 here:
    the caller is anonymous, which a path open to anonymous callers serves.
    ``directory_login`` (LDAP auth) authenticates every user but the admin (user id 1),
    which Harbor always checks against its database (core/auth/authenticator.go ``Login``)."""
    if not header or header[:6].lower() != "basic ":
        return Principal()
    try:
        username, colon, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return Principal()  # Go's Request.BasicAuth(): no credentials
    if not colon:
        return Principal()
    if username.startswith(robot_prefix):
        robot = store.robot(name=username[len(robot_prefix) :])
        if (
            robot
            and not robot["disable"]
            and (robot["expires_at"] == -1 or robot["expires_at"] > time.time())
            and password_matches(password, robot["secret"])
        ):
            return Principal(robot={**robot, "login": username})
        # Like real: then tried as a user of that name, which fails like a wrong password.
    if lock.locked(username):
        return Principal()
    user = store.user(username=username)
    if directory_login is not None and not (user and user["user_id"] == 1):
        principal = directory_login(username, password)
        if principal is not None:
            return principal
    elif user and password_matches(password, user["password"]):
        return Principal(user=user)
    lock.fail(username)
    return Principal()


def require_login(principal):
    if not principal.authenticated:
        raise unauthorized()


def require_admin(principal):
    require_login(principal)
    if not principal.is_admin:
        raise forbidden()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key):
    """docker/libtrust key ID: base32 of the first 30 bytes of sha256(DER SPKI), in 4-char groups."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


class TokenService:
    """``/service/token``: registry tokens signed with ``secret/core/private_key.pem``."""

    def __init__(self, key_path, minutes):
        self.key_path = key_path
        self.minutes = minutes
        self._key = None

    @property
    def key(self):
        if self._key is None:
            self._key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        return self._key

    @staticmethod
    def granted_access(principal, scope, find_project):
        """One requested scope (``repository:p/img:push,pull``) cut down to what is allowed."""
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        requested = [action for action in actions.split(",") if action]
        if kind == "registry" and name == "catalog":
            allowed = {"*"} if principal.is_admin else set()
        elif kind == "repository":
            project = find_project(name.split("/")[0]) if "/" in name else None
            allowed = principal.repository_actions(project) if project else set()
        else:
            allowed = set()
        return {"type": kind, "name": name, "actions": [a for a in requested if a in allowed]}

    def issue(self, principal, service, scopes, find_project):
        """Like real (src/core/service/token): an unknown service is a 400; an anonymous
        caller asking no scope is docker login with bad (or no) credentials, a 401;
        with scopes it gets what anonymous callers may do."""
        if service != TOKEN_SERVICE:
            raise bad_request(f"invalid service: {service}")
        if not principal.authenticated and not scopes:
            raise unauthorized()
        issued = int(time.time())
        expires_in = self.minutes * 60
        access = [self.granted_access(principal, scope, find_project) for scope in scopes]
        header = {"typ": "JWT", "alg": "RS256", "kid": libtrust_key_id(self.key.public_key())}
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
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = signing_input + "." + b64url(signature)
        issued_at = datetime.datetime.fromtimestamp(issued, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "expires_in": expires_in, "issued_at": issued_at}
