"""The UI's CSRF check, as Harbor's middleware does it (src/server/middleware/csrf/
csrf.go, gorilla/csrf keyed with ``CSRF_KEY``).

Every request but those to ``/v2/``, ``/api/`` and ``/service/`` without a session
(``csrfSkipper``) gets the token in ``X-Harbor-CSRF-Token``, and a cookie holding it
signed with the key (gorilla's securecookie); a cookie signed with another key is
ignored and a new token issued. A POST, PUT, PATCH or DELETE must send the token of a
cookie that verifies, or it is refused: 403 "forbidden - CSRF token invalid". So a
browser moving to a node with another ``CSRF_KEY`` fails its next change. A key not of
32 characters fails every such request (Middleware's length check). Gorilla masks the
token it sends each time; the stand-in sends it as it is.
"""

import base64
import hashlib
import hmac
import secrets
from http.cookies import CookieError, SimpleCookie

from harbor_core.errors import ApiError, forbidden

COOKIE = "_gorilla_csrf"
HEADER = "X-Harbor-CSRF-Token"
SESSION_COOKIE = "sid"
SKIPPED_PREFIXES = ("/v2/", "/api/", "/service/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
KEY_LENGTH = 32


def cookies(headers):
    jar = SimpleCookie()
    try:
        jar.load(headers.get("Cookie") or "")
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _encode(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key, token):
    return hmac.new(key.encode(), token, hashlib.sha256).digest()


def verified_token(key, cookie):
    """The token of a cookie signed with ``key``, or None."""
    token_text, _, mac_text = (cookie or "").partition(".")
    try:
        token, mac = _decode(token_text), _decode(mac_text)
    except ValueError:
        return None
    return token if token and hmac.compare_digest(mac, _mac(key, token)) else None


def check(key, method, path, headers):
    """``(headers to answer with, refusal ApiError or None)`` of one request."""
    found = cookies(headers)
    if path.startswith(SKIPPED_PREFIXES) and SESSION_COOKIE not in found:
        return {}, None
    if len(key) != KEY_LENGTH:
        return {}, ApiError(
            500,
            "UNKNOWN",
            "invalid CSRF key length from the environment. Please ensure the key length is 32 characters",
        )
    token = verified_token(key, found.get(COOKIE))
    answer = {}
    if token is None:
        token = secrets.token_bytes(32)
        cookie = f"{_encode(token)}.{_encode(_mac(key, token))}"
        answer["Set-Cookie"] = f"{COOKIE}={cookie}; Path=/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict"
    answer[HEADER] = _encode(token)
    if method in SAFE_METHODS:
        return answer, None
    sent = headers.get(HEADER)
    if not sent:
        return answer, forbidden("forbidden - CSRF token not found in request")
    if not hmac.compare_digest(sent.encode(), _encode(token).encode()):
        return answer, forbidden("forbidden - CSRF token invalid")
    return answer, None
