"""Harbor's system configuration (``GET/PUT /configurations``): the settings a team sets
(``harbor_system_settings``) and how users sign in (``harbor_auth``).

Only the keys the inventory gives are managed; each differing key is listed with
Harbor's value and the wanted one, and all of a kind's changes go in one PUT. What
this encodes of Harbor v2.13.1 (goharbor/harbor at that tag):

- src/lib/config/metadata/metadatalist.go: the user-scope keys, their types and
  defaults; ``ldap_search_password`` and ``oidc_client_secret`` are passwords, which
  ``GET /configurations`` never returns (src/controller/config/controller.go,
  ``ConvertForGet``): the controller keeps a salted fingerprint of the value it last
  sent (``SecretStore.sent``), so a rotated secret is sent again and an unchanged one
  is not.
- src/controller/config/controller.go: the auth mode can't change once users other
  than admin exist ("the auth mode cannot be modified as new users have been inserted
  into database"); ``auth_mode.editable`` says whether it still can. Refused here
  while planning, naming the users.
- src/server/v2.0/handler/ldap.go + src/pkg/ldap/ldap.go (``TestConfig``): Harbor's
  LDAP ping binds with the search DN (required) and password (its stored one when
  none is sent and the mode already is LDAP) and answers 200 ``{success, message}``;
  src/server/v2.0/handler/oidc.go: the OIDC ping reads the endpoint's discovery
  document and answers 400 when it can't. Both run before the change is saved.
"""

import json
import logging

from harbor_deploy.lib.harbor_api.client import ApiError
from harbor_deploy.lib.harbor_api.resources.common import (
    Change,
    FieldChange,
    ResourceError,
    field_changes,
    parse_size,
)

logger = logging.getLogger(__name__)

CONFIGURATIONS = "/configurations"
# harbor_auth's modes and Harbor's names of them (src/common/const.go).
AUTH_MODES = {"db": "db_auth", "ldap": "ldap_auth", "oidc": "oidc_auth"}
MODE_NAMES = {value: key for key, value in AUTH_MODES.items()}
# The /configurations keys of each mode (metadatalist.go groups LdapBasic, Ldap group
# and OIDC), with Harbor's defaults (absent: "" or no value).
LDAP_DEFAULTS = {
    "ldap_url": "",
    "ldap_search_dn": "",
    "ldap_base_dn": "",
    "ldap_filter": "",
    "ldap_uid": "cn",
    "ldap_scope": 2,
    "ldap_timeout": 5,
    "ldap_verify_cert": True,
    "ldap_group_base_dn": "",
    "ldap_group_search_filter": "",
    "ldap_group_attribute_name": "",
    "ldap_group_search_scope": 2,
    "ldap_group_admin_dn": "",
    "ldap_group_membership_attribute": "memberof",
    "ldap_group_attach_parallel": False,
}
OIDC_DEFAULTS = {
    "oidc_name": "",
    "oidc_endpoint": "",
    "oidc_client_id": "",
    "oidc_groups_claim": "",
    "oidc_admin_group": "",
    "oidc_group_filter": "",
    "oidc_scope": "",
    "oidc_user_claim": "",
    "oidc_verify_cert": True,
    "oidc_auto_onboard": False,
    "oidc_extra_redirect_parms": {},
    "oidc_logout": False,
}
MODE_DEFAULTS = {"ldap": LDAP_DEFAULTS, "oidc": OIDC_DEFAULTS}
# Password-type keys: never returned, so each comes from the secrets dir or an env var.
AUTH_SECRETS = {"ldap": "ldap_search_password", "oidc": "oidc_client_secret"}
# The keys of Harbor's PUT body (swagger ``Configurations``) a team sets, with
# Harbor's defaults. pull_*_disable and scan_all_policy are not in that body: Harbor
# drops them unread, so they are not offered.
SETTING_DEFAULTS = {
    "project_creation_restriction": "everyone",
    "read_only": False,
    "self_registration": False,
    "token_expiration": 30,
    "robot_token_duration": 30,
    "robot_name_prefix": "robot$",
    "notification_enable": True,
    "quota_per_project_enable": True,
    "storage_per_project": -1,
    "audit_log_forward_endpoint": "",
    "skip_audit_log_database": False,
    "session_timeout": 60,
    "scanner_skip_update_pulltime": False,
    "banner_message": "",
    "disabled_audit_log_event_types": "",
}
# Values Harbor keeps as JSON text (a map, the banner) and as comma-separated text.
JSON_TEXT_KEYS = ("oidc_extra_redirect_parms", "banner_message")
COMMA_TEXT_KEYS = ("disabled_audit_log_event_types",)
# controller.go verifyValueLengthCfg: positive, at most 10 digits (the UI's limit).
MINUTES_OR_DAYS_KEYS = ("token_expiration", "robot_token_duration", "session_timeout")
MAX_NUMBER = 9_999_999_999


def wire_value(key, value):
    """A key's value as Harbor's PUT body takes it."""
    if key in JSON_TEXT_KEYS and isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if key in COMMA_TEXT_KEYS and isinstance(value, list):
        return ",".join(value)
    if key == "storage_per_project":
        return parse_size(value)
    return value


def comparable(key, value):
    """A key's value (wanted, or Harbor's) in one form for comparing."""
    if key in JSON_TEXT_KEYS and isinstance(value, str) and value:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in JSON_TEXT_KEYS and value in ("", None):
        return {} if key == "oidc_extra_redirect_parms" else ""
    if key in COMMA_TEXT_KEYS and isinstance(value, str):
        return sorted(item for item in value.split(",") if item)
    if key in COMMA_TEXT_KEYS and isinstance(value, list):
        return sorted(value)
    return value


def settings_spec(raw):
    """``harbor_system_settings`` (shape checked by ``schema``) -> the values to send."""
    values = {key: wire_value(key, value) for key, value in raw.items()}
    for key in MINUTES_OR_DAYS_KEYS:
        if key in values and not 1 <= values[key] <= MAX_NUMBER:
            raise ValueError(f"{key} must be from 1 to {MAX_NUMBER} (Harbor's limit)")
    # controller.go verifySkipAuditLogCfg: skipping the database needs a forward endpoint.
    if values.get("skip_audit_log_database") and values.get("audit_log_forward_endpoint") == "":
        raise ValueError("skip_audit_log_database needs audit_log_forward_endpoint (Harbor's rule)")
    return {"values": values}


def auth_spec(raw):
    """``harbor_auth`` (shape checked by ``schema``) -> Harbor's values and the secret's
    env var. Keys of another mode than ``mode`` are refused, and Harbor's own rules
    (non-empty URL, base DN and uid; a search DN for its ping) are checked here."""
    mode = raw["mode"]
    values = {"auth_mode": AUTH_MODES[mode]}
    for key, value in raw.items():
        if key in ("mode", f"{AUTH_SECRETS.get(mode)}_env"):
            continue
        owner = next((name for name in MODE_DEFAULTS if key.startswith(name + "_")), None)
        if owner != mode and key != "primary_auth_mode":
            raise ValueError(f"{key} is a setting of mode {owner}, not of mode {mode}")
        if key == "primary_auth_mode" and mode == "db":
            raise ValueError("primary_auth_mode is for mode ldap or oidc")
        values[key] = wire_value(key, value)
    if mode == "ldap":
        for key in ("ldap_url", "ldap_base_dn", "ldap_search_dn"):
            if not str(values.get(key, "")).strip():
                raise ValueError(
                    f"{key} is required for mode ldap"
                    + (" (Harbor's LDAP ping binds with it)" if key == "ldap_search_dn" else "")
                )
        if "ldap_uid" in values and not values["ldap_uid"].strip():
            raise ValueError("ldap_uid must not be empty (Harbor's rule)")
        if values.get("ldap_group_search_filter") and not values.get("ldap_group_attribute_name"):
            raise ValueError("ldap_group_search_filter needs ldap_group_attribute_name (Harbor's rule)")
    if mode == "oidc":
        for key in ("oidc_name", "oidc_endpoint", "oidc_client_id"):
            if not str(values.get(key, "")).strip():
                raise ValueError(f"{key} is required for mode oidc")
    secret = AUTH_SECRETS.get(mode)
    return {
        "mode": mode,
        "values": values,
        "secret": secret,
        "secret_env": raw.get(f"{secret}_env") if secret else None,
    }


def read_configuration(client):
    """Harbor's ``{key: {value, editable}}``."""
    return client.get(CONFIGURATIONS, "system configuration") or {}


def current_values(configuration):
    return {key: item.get("value") for key, item in configuration.items() if isinstance(item, dict)}


def differences(have, want):
    """``FieldChange``s of the wanted keys whose value differs from Harbor's."""
    shown = {key: comparable(key, value) for key, value in want.items()}
    return field_changes({key: comparable(key, have.get(key)) for key in want}, shown)


def plan_settings(client, specs, _store=None):
    """The one PUT of the ``harbor_system_settings`` keys that differ (none: no change)."""
    if not specs:
        return []
    [spec] = specs
    fields = differences(current_values(read_configuration(client)), spec["values"])
    if not fields:
        return []
    body = {field.name: spec["values"][field.name] for field in fields}
    return [Change("update", "system", "settings", fields, lambda: _save(client, "system settings", body))]


def _save(client, what, body):
    client.put(CONFIGURATIONS, what, body)


# --- sign-in ---------------------------------------------------------------------


def auth_secret_name(key):
    """The secrets file of a password-type key: ``auth/ldap_search_password``."""
    return f"auth/{key}"


def users_besides_admin(client):
    """Usernames of every user but the admin (user id 1, which Harbor never counts)."""
    return [user["username"] for user in client.list("/users", "users") if user.get("user_id") != 1]


def mode_lock(client, spec, configuration=None):
    """Why Harbor would refuse ``spec``'s auth mode, or None."""
    configuration = configuration or read_configuration(client)
    item = configuration.get("auth_mode") or {}
    have, want = item.get("value"), spec["values"]["auth_mode"]
    if have == want or item.get("editable", True):
        return None
    names = users_besides_admin(client)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"Harbor refuses to change the auth mode from {MODE_NAMES.get(have, have)} to {spec['mode']} once users "
        f"other than admin exist ({shown or 'users Harbor counts'}); nothing was changed: keep mode "
        f"{MODE_NAMES.get(have, have)}, or delete those users first"
    )


def plan_auth(client, specs, store):
    """The one PUT bringing sign-in to ``harbor_auth``, after Harbor's own ping of the
    LDAP server or OIDC provider; refused when Harbor locked the auth mode."""
    if not specs:
        return []
    [spec] = specs
    configuration = read_configuration(client)
    have = current_values(configuration)
    fields = list(differences(have, spec["values"]))
    secret = None
    if spec["secret"]:
        secret = store.read(auth_secret_name(spec["secret"]), spec["secret_env"])
        if secret is None and have.get("auth_mode") != spec["values"]["auth_mode"]:
            raise ResourceError(
                f"harbor_auth: mode {spec['mode']} needs {spec['secret']}: set env "
                f"{spec['secret_env'] or '(name it in ' + spec['secret'] + '_env)'} or put it in the secrets file "
                f"{auth_secret_name(spec['secret'])}"
            )
        if secret is None:
            logger.warning(
                "harbor_auth: %s is not in the secrets dir (%s) nor in an env var: Harbor's is left as is",
                spec["secret"],
                auth_secret_name(spec["secret"]),
            )
        elif (
            store.sent(auth_secret_name(spec["secret"]), secret)
            and have.get("auth_mode") == spec["values"]["auth_mode"]
        ):
            # Sent before, and Harbor is in this mode: it holds it. A Harbor not in it
            # yet pings with the secret of the request (handler/ldap.go) and may never
            # have had it (installed anew since): it is sent.
            secret = None
        else:
            fields.append(FieldChange(spec["secret"], secret=True))
    if not fields:
        return []
    why = mode_lock(client, spec, configuration)
    if why:
        raise ResourceError(f"harbor_auth: {why}")
    body = {field.name: spec["values"][field.name] for field in fields if field.name in spec["values"]}
    return [
        Change(
            "update",
            "auth",
            "settings",
            tuple(fields),
            lambda: _apply_auth(client, store, spec, {**have, **spec["values"]}, body, secret),
        )
    ]


def _apply_auth(client, store, spec, settings, body, secret):
    """Harbor's ping of what will be saved, then the one PUT, then the secret's fingerprint."""
    if spec["mode"] == "ldap":
        _ping_ldap(client, settings, secret)
    elif spec["mode"] == "oidc":
        _ping_oidc(client, settings)
    if secret is not None:
        body = {**body, spec["secret"]: secret.reveal()}
    _save(client, "auth settings", body)
    if secret is not None:
        store.remember_sent(auth_secret_name(spec["secret"]), secret)


def _ping_ldap(client, settings, secret):
    """``POST /ldap/ping``: 200 with ``success`` false when Harbor can't reach or bind."""
    body = {
        "ldap_url": settings.get("ldap_url"),
        "ldap_search_dn": settings.get("ldap_search_dn"),
        "ldap_base_dn": settings.get("ldap_base_dn"),
        "ldap_filter": settings.get("ldap_filter") or "",
        "ldap_uid": settings.get("ldap_uid") or "cn",
        "ldap_scope": settings.get("ldap_scope", 2),
        "ldap_verify_cert": settings.get("ldap_verify_cert", True),
    }
    if secret is not None:
        body["ldap_search_password"] = secret.reveal()
    result = client.post("/ldap/ping", "LDAP ping", body).json()
    if not result.get("success"):
        raise ResourceError(
            f"harbor_auth: Harbor's LDAP ping of {settings.get('ldap_url')} failed "
            f"({result.get('message') or 'no reason given'}); nothing was saved"
        )


def _ping_oidc(client, settings):
    """``POST /system/oidc/ping``: 400 when Harbor can't read the discovery document."""
    endpoint = settings.get("oidc_endpoint")
    try:
        client.post(
            "/system/oidc/ping", "OIDC ping", {"url": endpoint, "verify_cert": settings.get("oidc_verify_cert", True)}
        )
    except ApiError as error:
        raise ResourceError(
            f"harbor_auth: Harbor's OIDC ping could not read {endpoint.rstrip('/')}/.well-known/openid-configuration "
            f"({error}); nothing was saved"
        ) from None


# --- export ----------------------------------------------------------------------


def export_settings(client):
    """``harbor_system_settings`` for the keys Harbor has away from its defaults."""
    have = current_values(read_configuration(client))
    found = {
        key: have[key]
        for key, default in SETTING_DEFAULTS.items()
        if key in have and comparable(key, have[key]) != comparable(key, default)
    }
    return found or None


def export_auth(client):
    """``harbor_auth``: the mode and its keys away from Harbor's defaults (the secret
    stays in Harbor; configure reads it from the secrets dir when it has to send it)."""
    have = current_values(read_configuration(client))
    mode = MODE_NAMES.get(have.get("auth_mode"))
    if mode is None:
        return None  # uaa or http auth: not managed here
    found = {"mode": mode}
    if mode != "db" and have.get("primary_auth_mode"):
        found["primary_auth_mode"] = True
    for key, default in MODE_DEFAULTS.get(mode, {}).items():
        if key in have and comparable(key, have[key]) != comparable(key, default):
            found[key] = comparable(key, have[key]) if key in JSON_TEXT_KEYS else have[key]
    return found
