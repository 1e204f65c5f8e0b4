"""The HTTP side: requests routed to the resource handlers of ``api``, answers shaped
like Harbor's generated server (content negotiation, empty fields left out, errors
as ``{"errors": [...]}``)."""

import json
import re
import sys
import traceback
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote_plus, urlsplit

from apispec import NOT_ACCEPTABLE, negotiate

from harbor_core import csrf
from harbor_core.errors import ApiError, bad_request, not_found

API = "/api/v2.0"


@dataclass
class Route:
    method: str
    pattern: str  # matched in full against the path (after /api/v2.0 for API routes)
    handler: object  # handler(app, request) -> Response
    # Only /ping and /health answer before the caller is known.
    authenticate: bool = True

    def match(self, path):
        return re.fullmatch(self.pattern, path)


@dataclass
class Response:
    status: int
    payload: object = None
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def first(query, key):
    values = query.get(key)
    return values[0] if values else ""


@dataclass(frozen=True)
class Fuzzy:
    """A ``key=~value`` keyword: the ORM's ``__icontains`` (a LIKE of the value, its %
    and _ escaped, in any case)."""

    value: str


def matches(wanted, value):
    """Whether a stored ``value`` matches a query keyword (exact: equal)."""
    if isinstance(wanted, Fuzzy):
        return wanted.value.lower() in str(value).lower()
    return str(value) == wanted


# url.QueryUnescape fails on a "%" not followed by two hex digits; Harbor then keeps q as it is.
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def query_keywords(query, fuzzy_params=()):
    """Harbor's ``q`` as src/lib/q/builder.go parses it: the value the HTTP layer decoded
    is unescaped once more ("+" becomes a blank), split on "," into ``key=value`` pairs
    (an empty key or value is a 400); ``~value`` is a fuzzy match and a leading "\\" is
    dropped from an exact one. ``fuzzy_params`` are the older plain parameters a handler
    adds as fuzzy matches (users' ``username``, registries' ``name``...)."""
    keywords = {}
    q = first(query, "q")
    if q:
        if not BAD_ESCAPE.search(q):
            q = unquote_plus(q)
        for param in q.split(","):
            key, _, value = param.partition("=")
            if not key or not value:
                raise bad_request('the query string must contain "=" and the key/value cannot be empty')
            if value[0] == "~":
                if len(value) < 2:
                    raise bad_request(f"invalid query string value: {value}")
                keywords[key] = Fuzzy(value[1:])
            elif value[0] in "[{(":
                # Ranges and lists: real Harbor takes them; nothing the lab sends uses them.
                raise bad_request(f"the stand-in does not implement query ranges and lists: {value}")
            else:
                keywords[key] = value[1:] if value.startswith("\\") else value
    for name in fuzzy_params:
        if first(query, name):
            keywords[name] = Fuzzy(first(query, name))
    return keywords


def filtered(items, keywords, fields):
    """The ``items`` every keyword on one of ``fields`` ({keyword key: item field},
    keys in lower case as the ORM finds its columns) matches; other keys are ignored."""
    wanted = [(fields[key.lower()], value) for key, value in keywords.items() if key.lower() in fields]
    return [item for item in items if all(matches(value, item[field]) for field, value in wanted)]


def listing(items, query):
    """One page of ``items`` (``page``, ``page_size``) with the total in X-Total-Count."""
    try:
        page = max(int(first(query, "page") or 1), 1)
        size = min(max(int(first(query, "page_size") or 10), 1), 100)
    except ValueError:
        raise bad_request("page and page_size must be integers") from None
    return Response(200, items[(page - 1) * size : page * size], headers={"X-Total-Count": str(len(items))})


class Request:
    def __init__(self, method, path, query, headers, rfile):
        self.method, self.path, self.query, self.headers = method, path, query, headers
        self.rfile = rfile
        self.params = ()
        self.principal = None

    @property
    def by_name(self):
        """``X-Is-Resource-Name: true``: a project given by name, even if it is all digits."""
        return (self.headers.get("X-Is-Resource-Name") or "").lower() == "true"

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


def make_handler(app, routes):
    """A request handler class bound to one App; ``routes``: {is an API route: [Route]}."""

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

        def send(self, response):
            payload, status = response.payload, response.status
            if isinstance(payload, bytes | str):
                data = payload.encode() if isinstance(payload, str) else payload
            elif payload is None:
                data = b""
            else:
                if self.operation is not None and status < 400:
                    payload = app.spec.omit_empty(self.operation.response_schema(status), payload)
                data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("X-Request-Id", self.request_id)
            if data:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in {**self.csrf_headers, **response.headers}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def dispatch(self, method):
            self.request_id = self.headers.get("X-Request-Id") or str(uuid.uuid4())
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            request = Request(method, path, parse_qs(parts.query), self.headers, self.rfile)
            self.operation = None
            self.csrf_headers = {}
            try:
                # Harbor's middlewares run before its router: the CSRF check too.
                self.csrf_headers, refused = csrf.check(app.csrf_key, method, path, self.headers)
                if refused:
                    raise refused
                if path.startswith(API + "/"):
                    self.operation = app.spec.operation(method, path[len(API) :])
                    self.check_accept()
                self.send(self.route(request))
            except ApiError as error:
                headers = {"WWW-Authenticate": 'Basic realm="harbor"'} if error.status == 401 else {}
                body = {"errors": [{"code": error.code, "message": error.message}]}
                self.send(Response(error.status, body, headers=headers))
            except Exception as error:  # noqa: BLE001 - a failing handler must still answer
                traceback.print_exc()
                self.send(Response(500, {"errors": [{"code": "UNKNOWN", "message": f"internal error: {error}"}]}))

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

        def route(self, request):
            """The answer of the route matching the request. Like real, credentials are
            checked before an API path is looked up (bad ones: 401 even on a 404 path)."""
            api = request.path.startswith(API + "/")
            path = request.path[len(API) :] if api else request.path
            matches = ((route, route.match(path)) for route in routes[api] if route.method == request.method)
            chosen = next(((route, match) for route, match in matches if match), None)
            if chosen is None and not api:
                raise not_found(f"{request.path} not found")
            if chosen is None or chosen[0].authenticate:
                request.principal = app.authenticate(self.headers.get("Authorization"))
            if chosen is None:
                raise not_found(f"{API}{path} not found")
            route, match = chosen
            request.params = match.groups()
            return route.handler(app, request)

    return Handler
