"""System configuration (``GET/PUT /configurations``) and the checks Harbor offers
before it is saved: the LDAP ping and the OIDC ping.

Encodes Harbor v2.13.1:
- src/lib/config/metadata/metadatalist.go: the user-scope keys, their types and
  defaults (``USER_KEYS``); src/lib/config/metadata/type.go: how each type is checked.
- src/pkg/config/manager.go ``GetUserCfgs``: an unset string reads as "", a set or
  defaulted value with its type; src/controller/config/controller.go ``ConvertForGet``:
  passwords are never returned, maps are returned as JSON text, every key is editable
  but ``auth_mode``, which is editable only while no user but the admin exists; the
  answer goes through swagger's ``ConfigurationsResponse`` (keys it lacks are dropped).
- src/server/v2.0/handler/config.go + controller.go ``UpdateUserConfigs``: the body is
  swagger's ``Configurations`` (other keys dropped unread, a value of the wrong JSON type
  refused while parsing), then the auth-mode lock, each value's type, the LDAP group
  rule (src/pkg/config/validate/ldapgroup.go), the audit-log rule, the number limits;
  everything given is saved; a new audit-log forward endpoint is dialled afterwards
  (src/pkg/audit/forward.go) and a dead one answers 400 although it was saved.
- src/server/v2.0/handler/ldap.go, src/controller/ldap/controller.go,
  src/pkg/ldap/ldap.go ``TestConfig``: the LDAP ping (always 200 with success/message).
- src/server/v2.0/handler/oidc.go, src/pkg/oidc/helper.go ``TestEndpoint`` (go-oidc's
  ``NewProvider``): the OIDC ping reads ``<url>/.well-known/openid-configuration``
  and wants 200, JSON, and ``issuer`` equal to the URL as given; else 400.
"""

import json
import socket
import ssl
import urllib.error
import urllib.request

from harbor_core import directory
from harbor_core.auth import require_admin
from harbor_core.errors import bad_request
from harbor_core.http import Response, Route

# name -> (type, default); None: no default (an unset string reads as "").
USER_KEYS = {
    "auth_mode": ("auth_mode", "db_auth"),
    "primary_auth_mode": ("bool", False),
    "ldap_base_dn": ("non_empty_string", None),
    "ldap_filter": ("string", None),
    "ldap_group_base_dn": ("string", None),
    "ldap_group_admin_dn": ("string", None),
    "ldap_group_attribute_name": ("string", None),
    "ldap_group_search_filter": ("string", None),
    "ldap_group_search_scope": ("ldap_scope", 2),
    "ldap_scope": ("ldap_scope", 2),
    "ldap_search_dn": ("string", None),
    "ldap_search_password": ("password", None),
    "ldap_timeout": ("int", 5),
    "ldap_uid": ("non_empty_string", "cn"),
    "ldap_url": ("non_empty_string", None),
    "ldap_verify_cert": ("bool", True),
    "ldap_group_membership_attribute": ("string", "memberof"),
    "ldap_group_attach_parallel": ("bool", False),
    "scan_all_policy": ("map", None),
    "project_creation_restriction": ("project_creation_restriction", "everyone"),
    "read_only": ("bool", False),
    "self_registration": ("bool", False),
    "token_expiration": ("int", 30),
    "uaa_client_id": ("string", None),
    "uaa_client_secret": ("string", None),
    "uaa_endpoint": ("string", None),
    "uaa_verify_cert": ("bool", False),
    "http_authproxy_endpoint": ("string", None),
    "http_authproxy_tokenreview_endpoint": ("string", None),
    "http_authproxy_admin_groups": ("string", None),
    "http_authproxy_admin_usernames": ("string", None),
    "http_authproxy_verify_cert": ("bool", True),
    "http_authproxy_skip_search": ("bool", False),
    "http_authproxy_server_certificate": ("string", None),
    "oidc_name": ("string", None),
    "oidc_endpoint": ("string", None),
    "oidc_client_id": ("string", None),
    "oidc_client_secret": ("password", None),
    "oidc_groups_claim": ("string", None),
    "oidc_admin_group": ("string", None),
    "oidc_group_filter": ("string", None),
    "oidc_scope": ("string", None),
    "oidc_user_claim": ("string", None),
    "oidc_verify_cert": ("bool", True),
    "oidc_auto_onboard": ("bool", False),
    "oidc_extra_redirect_parms": ("string_map", {}),
    "oidc_logout": ("bool", False),
    "robot_token_duration": ("int", 30),
    "robot_name_prefix": ("string", "robot$"),
    "notification_enable": ("bool", True),
    "quota_per_project_enable": ("bool", True),
    "storage_per_project": ("quota", -1),
    "pull_time_update_disable": ("bool", False),
    "pull_count_update_disable": ("bool", False),
    "pull_audit_log_disable": ("bool", False),
    "audit_log_forward_endpoint": ("string", None),
    "skip_audit_log_database": ("bool", False),
    "scanner_skip_update_pulltime": ("bool", False),
    "disabled_audit_log_event_types": ("string", None),
    "session_timeout": ("int", 60),
    "banner_message": ("string", None),
}
AUTH_MODES = ("db_auth", "ldap_auth", "uaa_auth", "http_auth", "oidc_auth")
# controller.go verifyValueLengthCfg (common.UIMaxLengthLimitedOfNumber = 10 digits).
LENGTH_LIMITED = ("token_expiration", "robot_token_duration", "session_timeout")
MAX_NUMBER = 9_999_999_999
# lib/quota_storage_limit.go: 1024 TB.
MAX_STORAGE = 1125899906842624
# go's JSON names of the swagger types, for the parse error of a mismatched value.
GO_TYPES = {"boolean": ("bool", bool), "integer": ("int64", int), "string": ("string", str)}
JSON_KINDS = {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}
DEFAULT_TIMEOUT = 5


def default(key):
    """A key's value when it was never set (``None``: it has none)."""
    kind, value = USER_KEYS[key]
    if value is None and kind in ("string", "non_empty_string"):
        return ""
    return value


def checked_value(key, value):
    """metadata ``NewCfgValue``: ``value`` as the key's type, or why Harbor refuses it."""
    kind = USER_KEYS[key][0]
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    if kind == "non_empty_string" and not text.strip():
        return None, "the configure value can not be empty"
    if kind == "auth_mode" and value not in AUTH_MODES:
        return None, f"invalid auth_mode, shoud be one of {', '.join(AUTH_MODES)}"
    if kind == "project_creation_restriction" and value not in ("adminonly", "everyone"):
        return None, "invalid project_creation_restriction, should be adminonly or everyone"
    if kind == "ldap_scope" and text not in ("0", "1", "2"):
        return None, "invalid scope, should be 0, 1 or 2"
    if kind == "quota" and (value <= 0 and value != -1):
        return None, "quota value should be -1 or great than zero"
    if kind == "string_map":
        try:
            parsed = json.loads(value)
        except ValueError as error:
            return None, str(error)
        if not isinstance(parsed, dict) or not all(isinstance(item, str) for item in parsed.values()):
            return None, "json: cannot unmarshal into Go value of type map[string]string"
    return value, None


def stored_values(app):
    """Every user-scope key: stored, else its default ("" for an unset string)."""
    stored = app.configurations.load(app.store.properties)
    return {key: stored.get(key, default(key)) for key in USER_KEYS}


def get_configurations(app, request):
    require_admin(request.principal)
    shown = app.spec.definitions["ConfigurationsResponse"]["properties"]
    values = stored_values(app)
    locked = app.store.count_users() > 0
    answer = {}
    for key, value in values.items():
        kind = USER_KEYS[key][0]
        if key not in shown or kind == "password" or value is None:
            continue
        answer[key] = {"value": shown_value(kind, value), "editable": not (key == "auth_mode" and locked)}
    return Response(200, answer)


def shown_value(kind, value):
    """A map is read as a map and answered as compact JSON text (Go's json.Marshal)."""
    if kind in ("map", "string_map"):
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    return value


def parsed_body(app, request):
    """The body as go-swagger's ``Configurations`` keeps it: its keys only, nulls gone."""
    body = request.body()
    properties = app.spec.definitions["Configurations"]["properties"]
    kept = {}
    for key, value in body.items():
        if key not in properties or value is None:
            continue
        go_type, python_type = GO_TYPES[properties[key]["type"]]
        if not isinstance(value, python_type) or (python_type is int and isinstance(value, bool)):
            raise bad_request(
                f'parsing configurations body from "" failed, because json: cannot unmarshal '
                f"{JSON_KINDS.get(type(value), 'value')} into Go struct field Configurations.{key} of type {go_type}"
            )
        kept[key] = value
    return kept


def update_configurations(app, request):
    require_admin(request.principal)
    body = parsed_body(app, request)
    if not body:
        raise bad_request("Missing configure item")
    current = stored_values(app)
    if "auth_mode" in body and body["auth_mode"] != current["auth_mode"] and app.store.count_users() > 0:
        raise bad_request("the auth mode cannot be modified as new users have been inserted into database")
    for key, value in body.items():
        if key == "storage_per_project" and (value == 0 or value < -1):
            raise bad_request(f"invalid non-positive value for quota limit, value={value}")
        if key == "storage_per_project" and value > MAX_STORAGE:
            raise bad_request(f"exceeded 1024TB, which is 1125899906842624 Bytes, value={value}")
        _, why = checked_value(key, value)
        if why:
            raise bad_request(f"item name {key}: {why}")
    merged = {**current, **body}
    group_keys = ("ldap_group_search_filter", "ldap_group_attribute_name", "ldap_group_membership_attribute")
    if any(key in body for key in group_keys) and merged["ldap_group_search_filter"]:
        if not merged["ldap_group_attribute_name"]:
            raise bad_request("ldap group name attribute can not be empty")
        if not merged["ldap_group_membership_attribute"]:
            raise bad_request("ldap group membership attribute can not be empty")
    audit_keys = ("skip_audit_log_database", "audit_log_forward_endpoint")
    audit_changed = any(key in body for key in audit_keys)
    if audit_changed and merged["skip_audit_log_database"] and not merged["audit_log_forward_endpoint"]:
        raise bad_request("audit log forward endpoint should be configured before enable skip audit log in database")
    for key in LENGTH_LIMITED:
        if key in body and body[key] <= 0:
            raise bad_request(f"the {key} value must be positive")
        if key in body and body[key] > MAX_NUMBER:
            raise bad_request(f"the {key} value is over the limit value: {MAX_NUMBER}")
    app.save_configurations(body)
    endpoint = body.get("audit_log_forward_endpoint")
    if endpoint and not endpoint_answers(endpoint):
        raise bad_request(f"could not connect to the audit endpoint: {endpoint}")
    return Response(200)


def endpoint_answers(address):
    """forward.go ``CheckEndpointActive``: a syslog connection over TCP."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=DEFAULT_TIMEOUT):
            return True
    except (OSError, ValueError):
        return False


def ldap_ping(app, request):
    """Without a password, the stored one when the mode already is LDAP; then
    ``directory.test_config``. Always 200: ``{success, message}``."""
    require_admin(request.principal)
    body = request.body()
    values = stored_values(app)
    password = body.get("ldap_search_password") or ""
    if not password and values["auth_mode"] == "ldap_auth":
        password = values.get("ldap_search_password") or ""
    settings = {
        "ldap_url": body.get("ldap_url") or "",
        "ldap_search_dn": body.get("ldap_search_dn") or "",
        "ldap_search_password": password,
        "ldap_verify_cert": bool(body.get("ldap_verify_cert")),
        # handler/ldap.go passes no timeout: go-ldap's default dial timeout applies.
        "ldap_timeout": 0,
    }
    if not password:
        return Response(200, {"success": False, "message": "error: empty password"})
    problem = directory.test_config(settings)
    return Response(200, {"success": problem is None, **({"message": f"error: {problem}"} if problem else {})})


def oidc_ping(app, request):
    require_admin(request.principal)
    body = request.body()
    url, verify = body.get("url") or "", bool(body.get("verify_cert"))
    if discovery_problem(url, verify):
        raise bad_request("failed to verify connection")
    return Response(200)


def discovery_problem(issuer, verify):
    """go-oidc ``NewProvider``'s refusal of ``issuer``, or None."""
    if not issuer.startswith(("http://", "https://")):
        return f"unsupported protocol scheme in {issuer!r}"
    context = ssl.create_default_context() if verify else ssl._create_unverified_context()  # noqa: S323
    try:
        with urllib.request.urlopen(  # noqa: S310 - http(s) only, checked above
            issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=30, context=context
        ) as answer:
            document = json.loads(answer.read())
    except (urllib.error.URLError, ValueError, OSError) as error:
        return str(error)
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        return f"oidc: issuer did not match the issuer returned by provider, expected {issuer!r}"
    return None


ROUTES = [
    Route("GET", r"/configurations", get_configurations),
    Route("PUT", r"/configurations", update_configurations),
    Route("POST", r"/ldap/ping", ldap_ping),
    Route("POST", r"/system/oidc/ping", oidc_ping),
]
