"""An LDAP server as Harbor v2.13.1 uses it, over a real connection (ldap3): its ping,
a user's login with the groups it belongs to, and a group looked up by its DN.

Encodes src/pkg/ldap/ldap.go (``formatURL``, ``TestConfig``, ``SearchUser``,
``SearchGroupByDN``, ``UnderBaseDN``, the filters of src/pkg/ldap/filter.go) and
src/core/auth/ldap/ldap.go (``Authenticate``: exactly one entry for the uid, bound
with the user's own DN and password; the group admin DN makes the user an admin;
with a group search filter, each group of the membership attribute that the server
confirms under the group base DN is onboarded as an LDAP group).
"""

import ssl
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

# A connection to the server fails this way in go-ldap's terms (TestConfig's messages).
SERVER_TIMEOUT = "ldap server network timeout"
PING_FAIL = "fail to ping LDAP server"
# go-ldap has no timeout when Harbor passes 0 (the ping does): a bounded one here.
FALLBACK_TIMEOUT = 10
SCOPES = {0: ldap3.BASE, 1: ldap3.LEVEL, 2: ldap3.SUBTREE}


class DirectoryError(Exception):
    """The server can't be reached or searched."""


def server_of(settings):
    """``formatURL``: ldap:// or ldaps:// (port 636 means ldaps), default ports 389/636."""
    url = settings["ldap_url"].strip()
    scheme, _, hostport = url.rpartition("://") if "://" in url else ("ldap", "", url)
    if scheme not in ("ldap", "ldaps"):
        raise DirectoryError("unknown ldap protocol")
    parts = urlsplit(f"//{hostport}")
    port = parts.port or (636 if scheme == "ldaps" else 389)
    use_ssl = scheme == "ldaps" or port == 636
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if settings.get("ldap_verify_cert", True) else ssl.CERT_NONE)
    timeout = settings.get("ldap_timeout") or FALLBACK_TIMEOUT
    return ldap3.Server(parts.hostname, port=port, use_ssl=use_ssl, tls=tls, connect_timeout=timeout)


def opened(settings, dn=None, password=None):
    """``Session.Open``: a connection to the server (not bound yet); ``DirectoryError``
    with TestConfig's reason when it can't be opened."""
    try:
        server = server_of(settings)
    except (DirectoryError, ValueError):
        raise DirectoryError(PING_FAIL) from None  # formatURL's refusals fail the ping alike
    try:
        connection = ldap3.Connection(server, user=dn, password=password)
        connection.open()
    except LDAPSocketOpenError:
        raise DirectoryError(SERVER_TIMEOUT) from None
    except LDAPException:
        raise DirectoryError(PING_FAIL) from None
    return connection


def connect(settings, dn, password):
    """A connection bound as ``dn``; ``DirectoryError`` when the server can't be opened
    or the bind fails for another reason (an empty password among them),
    ``PermissionError`` with the server's result when the credentials are refused."""
    connection = opened(settings, dn, password)
    try:
        if connection.bind():
            return connection
        result = connection.result.get("description")
    except LDAPException as error:
        connection.unbind()
        raise DirectoryError(str(error)) from None
    connection.unbind()
    raise PermissionError(result)


def test_config(settings):
    """``TestConfig``: None when the server answers and the search DN binds; else why
    (a bind failing for another reason than its credentials passes, as in Harbor)."""
    try:
        opened(settings).unbind()
    except DirectoryError as error:
        return str(error)
    if not settings["ldap_search_dn"]:
        return "empty search dn"
    try:
        connect(settings, settings["ldap_search_dn"], settings["ldap_search_password"]).unbind()
    except PermissionError as error:
        if str(error) == "invalidCredentials":
            return "invalid credential"
    except DirectoryError:
        pass
    return None


def normalized_filter(text):
    text = (text or "").strip()
    return text if not text or text.startswith("(") else f"({text})"


def user_filter(settings, username):
    """``createUserSearchFilter``: the configured filter and ``(<uid>=<username>)``."""
    wanted = f"({settings['ldap_uid']}={escape_filter_chars(username) or '*'})"
    base = normalized_filter(settings.get("ldap_filter"))
    return f"(&{base}{wanted})" if base else wanted


def under(base_dn, dn):
    """``UnderBaseDN``: ``dn`` is ``base_dn`` or below it (case-insensitive)."""
    base = [part[:2] for part in parse_dn(base_dn.lower())]
    child = [part[:2] for part in parse_dn(dn.lower())]
    return len(child) >= len(base) and child[len(child) - len(base) :] == base


def group_name(connection, settings, group_dn):
    """``SearchGroupByDN``: the group's name attribute, when the server has the group
    under the group base DN (else the base DN) and it matches the group filter."""
    base = settings.get("ldap_group_base_dn") or settings["ldap_base_dn"]
    attribute = settings["ldap_group_attribute_name"]
    try:
        if not under(base, group_dn):
            return None
    except LDAPException:
        return None
    group_filter = normalized_filter(settings.get("ldap_group_search_filter"))
    wanted = f"(&{group_filter}({attribute}=*))" if group_filter else f"({attribute}=*)"
    scope = SCOPES.get(settings.get("ldap_scope", 2), ldap3.SUBTREE)
    if not connection.search(group_dn, wanted, search_scope=scope, attributes=[attribute]):
        return None
    values = connection.entries[0].entry_attributes_as_dict.get(attribute) or [group_dn]
    return str(values[0])


def login(settings, username, password):
    """``Authenticate``: the user's profile, whether the group admin DN makes it an
    admin, and the groups (name, DN) to attach; None when the directory refuses."""
    if not username.strip():
        return None
    membership = settings.get("ldap_group_membership_attribute") or "memberof"
    uid = settings["ldap_uid"]
    try:
        search = connect(settings, settings["ldap_search_dn"], settings["ldap_search_password"])
    except (DirectoryError, PermissionError):
        return None
    try:
        scope = SCOPES.get(settings.get("ldap_scope", 2), ldap3.SUBTREE)
        attributes = sorted({"uid", "cn", "mail", "email", uid, membership})
        search.search(
            settings["ldap_base_dn"], user_filter(settings, username), search_scope=scope, attributes=attributes
        )
        if len(search.entries) != 1:
            return None
        entry = search.entries[0]
        found = {key.lower(): value for key, value in entry.entry_attributes_as_dict.items()}
        try:
            connect(settings, entry.entry_dn, password).unbind()
        except (DirectoryError, PermissionError):
            return None
        first = {key: str(values[0]).strip() for key, values in found.items() if values}
        group_dns = [str(dn).strip() for dn in found.get(membership.lower(), [])]
        admin_dn = (settings.get("ldap_group_admin_dn") or "").strip().lower()
        groups = []
        if settings.get("ldap_group_search_filter"):
            for dn in group_dns:
                name = group_name(search, settings, dn)
                if name is not None:
                    groups.append((name, dn.lower()))
        return {
            "username": first.get(uid.lower(), username),
            "realname": first.get("cn") or first.get("uid") or username,
            "email": first.get("mail") or first.get("email") or "",
            "admin_role_in_auth": bool(admin_dn) and admin_dn in (dn.lower() for dn in group_dns),
            "groups": groups,
        }
    finally:
        search.unbind()
