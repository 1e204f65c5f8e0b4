"""A thin client of Harbor's REST API v2.0, run on the controller.

One ``requests.Session`` with basic auth, TLS verified against the controller CA
of the instance by default, retries with backoff on connection errors and
gateway/server errors, and errors that name the resource and Harbor's message
but never a credential.

    client = HarborClient("https://harbor.example.org:8443", "admin", password,
                          verify=".secrets/harbor.example.org/ca.crt")
    client.get("/projects/ci", resource="project ci", headers={"X-Is-Resource-Name": "true"})
"""

import time
from pathlib import Path
from urllib.parse import quote

import requests

from harbor_deploy.lib.config.secrets import MASK, Secret, secrets_dir

API_PREFIX = "/api/v2.0"
CA_FILE = "ca.crt"
# nginx answers 502/503/504 while core (re)starts: the request was not handled, so
# even a POST is safe to send again. A 500 may have done half the work: only
# idempotent methods retry it.
GATEWAY_STATUSES = (502, 503, 504)
IDEMPOTENT_METHODS = ("GET", "HEAD", "PUT", "DELETE")
PAGE_SIZE = 100
# Harbor's API runtime answers 406 when Accept matches none of an operation's
# `produces`: JSON for almost every operation, text/plain for /ping.
JSON = "application/json"
TEXT = "text/plain"


class ApiError(Exception):
    """A failed API call: ``status`` (None: no answer), the resource, Harbor's message."""

    def __init__(self, method, resource, status, message):
        self.method, self.resource, self.status, self.message = method, resource, status, message
        super().__init__(self._text())

    def _text(self):
        status = f"HTTP {self.status}" if self.status else "no answer"
        return f"{self.method} {self.resource}: {status}: {self.message}"


class AuthenticationError(ApiError):
    """401: the credentials were refused."""


class PermissionDenied(ApiError):
    """403: authenticated, but not allowed."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: the resource already exists (or is in use)."""


ERRORS_BY_STATUS = {401: AuthenticationError, 403: PermissionDenied, 404: NotFound, 409: Conflict}
HINTS = {
    401: "credentials refused",
    403: "the account is not allowed to do this",
    404: "not found",
    409: "already exists or conflicts with an existing one",
}


class _BasicAuth(requests.auth.AuthBase):
    """Basic auth from a ``Secret``; its repr shows no password."""

    def __init__(self, username, password):
        self.username = username
        self.password = password if isinstance(password, Secret) else Secret(password, "given")

    def __call__(self, request):
        # UTF-8, as Harbor compares them (requests would send a str as latin-1).
        return requests.auth.HTTPBasicAuth(self.username.encode(), self.password.reveal().encode())(request)

    def __repr__(self):
        return f"BasicAuth({self.username!r}, {MASK})"


def _harbor_message(response):
    """Harbor's ``{"errors": [{"code", "message"}]}`` as one line, else the reason."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(str(error.get("message") or error.get("code")) for error in errors)
    except (ValueError, AttributeError):
        text = ""
    return text or response.reason or "error"


class HarborClient:
    """Authenticated calls to ``<base_url>/api/v2.0``; ``password`` may be a ``Secret``."""

    def __init__(
        self,
        base_url,
        username=None,
        password=None,
        verify=True,
        retries=4,
        backoff=0.5,
        timeout=30,
        session=None,
        sleep=time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.retries, self.backoff, self.timeout, self.sleep = retries, backoff, timeout, sleep
        self.session = session or requests.Session()
        self.session.verify = verify
        self.session.auth = _BasicAuth(username, password) if username else None

    def __repr__(self):
        return f"HarborClient({self.base_url!r}, user={self.username!r})"

    def with_credentials(self, username, password):
        """A client of the same Harbor (same TLS trust and retries) as another account."""
        return HarborClient(
            self.base_url,
            username,
            password,
            verify=self.session.verify,
            retries=self.retries,
            backoff=self.backoff,
            timeout=self.timeout,
            sleep=self.sleep,
        )

    def request(self, method, path, resource, json=None, params=None, headers=None, ok=(), accept=JSON):
        """The response of one call; statuses >= 400 not in ``ok`` raise ``ApiError``.
        ``accept`` is what the operation produces (Harbor refuses any other)."""
        url = f"{self.base_url}{API_PREFIX}{path}"
        headers = {"Accept": accept, **(headers or {})}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                # verify per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE
                # override a session's verify (psf/requests#3829), losing Harbor's CA.
                response = self.session.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers=headers,
                    timeout=self.timeout,
                    verify=self.session.verify,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                # requests' message carries the URL only, never the auth header.
                if last or isinstance(error, requests.ReadTimeout) and method not in IDEMPOTENT_METHODS:
                    raise ApiError(method, resource, None, f"{type(error).__name__}: {error}") from None
            else:
                retry = response.status_code in GATEWAY_STATUSES or (
                    response.status_code >= 500 and method in IDEMPOTENT_METHODS
                )
                if response.status_code < 400 or response.status_code in ok:
                    return response
                if not retry or last:
                    raise self._error(method, resource, response)
            self.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _error(self, method, resource, response):
        status = response.status_code
        message = _harbor_message(response)
        if status in HINTS:
            message = f"{HINTS[status]} ({message})"
        return ERRORS_BY_STATUS.get(status, ApiError)(method, resource, status, message)

    def get(self, path, resource, params=None, headers=None):
        """The JSON body of a GET; None when Harbor answers without one."""
        response = self.request("GET", path, resource, params=params, headers=headers)
        return response.json() if response.content else None

    def get_or_none(self, path, resource, params=None, headers=None):
        """Like ``get``, but None for a 404."""
        response = self.request("GET", path, resource, params=params, headers=headers, ok=(404,))
        if response.status_code == 404 or not response.content:
            return None
        return response.json()

    def list(self, path, resource, params=None):
        """Every item of a paginated list."""
        items, page = [], 1
        while True:
            batch = self.get(path, resource, params={**(params or {}), "page": page, "page_size": PAGE_SIZE}) or []
            items += batch
            if len(batch) < PAGE_SIZE:
                return items
            page += 1

    def post(self, path, resource, json):
        return self.request("POST", path, resource, json=json)

    def put(self, path, resource, json, headers=None):
        return self.request("PUT", path, resource, json=json, headers=headers)

    def patch(self, path, resource, json):
        return self.request("PATCH", path, resource, json=json)

    def delete(self, path, resource, headers=None):
        return self.request("DELETE", path, resource, headers=headers)

    def ping(self):
        """Harbor's ``GET /ping`` (``Pong``, text/plain; no credentials needed)."""
        return self.request("GET", "/ping", "Harbor API (ping)", accept=TEXT).text

    def current_user(self):
        return self.get("/users/current", "current user")

    def authenticates(self):
        """Whether Harbor accepts this client's credentials."""
        try:
            self.current_user()
        except AuthenticationError:
            return False
        return True


# Harbor's q= (src/lib/q/builder.go): the value the HTTP layer decoded is unescaped once
# more (url.QueryUnescape: "+" is a blank, %XX a byte), split on "," into key=value
# pairs, and a value starting with one of these is a pattern (~ fuzzy, [ range, { or (
# lists) unless a backslash, which Harbor removes, comes first.
QUERY_PATTERN_STARTS = ("~", "[", "{", "(", "\\")


def query_params(key, value):
    """The ``params`` listing what Harbor holds with ``key`` exactly ``value``: ``q`` as
    Harbor decodes it (escaped once more, as it unescapes twice). A ``,`` can't be in a
    ``q`` value at all: then the longest part without one is matched fuzzily (LIKE,
    any case), and the caller keeps the exact match from the answer, as always."""
    if "," not in value:
        escaped = "\\" + value if value.startswith(QUERY_PATTERN_STARTS) else value
        return {"q": f"{key}={quote(escaped, safe='')}"}
    part = max(value.split(","), key=len)
    return {"q": f"{key}=~{quote(part, safe='')}"} if part else {}


def path_segment(value):
    """A name quoted for use as one URL path segment."""
    return quote(str(value), safe="")


def served_url(config, host=None):
    """The URL nginx serves on ``host`` (default: ``harbor_hostname``): https on the
    HTTPS port, or http on the HTTP port in TLS mode "http"; default ports left out."""
    host = host or config["harbor_hostname"]
    if config["harbor_tls_mode"] == "http":
        scheme, port, default = "http", config["harbor_http_port"], 80
    else:
        scheme, port, default = "https", config["harbor_https_port"], 443
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def public_url(config):
    """Where Harbor's users reach it: ``harbor_external_url``, else the served URL."""
    return (config.get("harbor_external_url") or served_url(config)).rstrip("/")


def default_url(config):
    """Where the controller calls the API: ``harbor_api_url``, else ``harbor_external_url``,
    else the URL served on ``harbor_api_host`` (default: the hostname)."""
    if config.get("harbor_api_url"):
        return config["harbor_api_url"].rstrip("/")
    if config.get("harbor_external_url"):
        return public_url(config)
    return served_url(config, config.get("harbor_api_host"))


def default_verify(config):
    """What TLS verification trusts: ``harbor_api_verify`` when set (a CA path or false),
    else the generated CA in the secrets dir, the provided chain, or the system CAs."""
    verify = config.get("harbor_api_verify")
    if verify is not None:
        return verify
    mode = config["harbor_tls_mode"]
    if mode == "generate":
        ca = secrets_dir(config) / CA_FILE
        if not ca.is_file():
            raise ApiError(
                "TLS", "controller CA", None, f"{ca} is missing: run the server deploy first, or set harbor_api_verify"
            )
        return str(ca)
    if mode == "provided" and config.get("harbor_tls_chain"):
        return str(Path(config["harbor_tls_chain"]))
    return True
