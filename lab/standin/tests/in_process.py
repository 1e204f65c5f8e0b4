"""An in-process stand-in harbor-core (lab/standin/runtime/harbor_core) on loopback,
on the test session's PostgreSQL and Redis, and validation of the request bodies
sent to it against the real v2.13.1 swagger spec."""

import base64
import copy
import functools
import http.server
import re
import threading

import jsonschema
import requests
import yaml

from lab.standin.tests.support import SWAGGER, load_runtime

core_app = load_runtime("harbor_core.app")
core_settings = load_runtime("harbor_core.settings")
INITIAL_ADMIN_PASSWORD = "Initial12345"
UPSTREAM_CREDENTIAL = ("puller", "Pull3rSecret")


class RunningCore:
    """Core started as its image starts it (Redis, database, migrations), serving on
    loopback; ``received`` lists the (method, path) of every request it answered."""

    def __init__(self, env):
        self.settings = core_settings.Settings(env)
        self.app = core_app.App(self.settings)
        self.app.start()
        self.server = core_app.make_server(self.app, host="127.0.0.1", port=0)
        self.received = []
        received, handler = self.received, self.server.RequestHandlerClass

        class Recorded(handler):
            def dispatch(self, method):
                received.append((method, self.path.split("?")[0]))
                super().dispatch(method)

        self.server.RequestHandlerClass = Recorded
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.app.database.close()

    def writes(self):
        """The requests received that are not reads."""
        return [(method, path) for method, path in self.received if method not in ("GET", "HEAD")]


class StandinHarbor(RunningCore):
    def __init__(self, data_dir, backing, admin_password=INITIAL_ADMIN_PASSWORD, env=None):
        super().__init__(
            {
                "DATA_DIR": str(data_dir),
                "HARBOR_ADMIN_PASSWORD": admin_password,
                "EXT_ENDPOINT": "https://harbor.test.internal",
                **backing,
                **(env or {}),
            }
        )


def record_requests(monkeypatch):
    """Every (method, API path, json body) requests sends from now on, in a list."""
    sent = []
    original = requests.Session.request

    def request(self, method, url, **kwargs):
        sent.append((method, re.sub(r"^https?://[^/]+/api/v2\.0", "", url), kwargs.get("json")))
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    return sent


@functools.cache
def swagger():
    return yaml.load(SWAGGER.read_text(), Loader=yaml.CSafeLoader)


def _strict(schema):
    """Objects refuse fields the spec does not list. ``additionalProperties: {type:
    object}`` is go-swagger's "any value" (Harbor sends numbers and booleans there)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("additionalProperties") == {"type": "object"}:
            schema["additionalProperties"] = {}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def strict_definitions():
    return _strict(copy.deepcopy(swagger()["definitions"]))


def body_schema(method, path):
    """The body schema the spec gives ``method path`` (None: no body parameter)."""
    # Literal segments win over parameters (/system/purgeaudit/schedule before /{purge_id}).
    paths = sorted(swagger()["paths"].items(), key=lambda item: -len(re.sub(r"\{[^}]+\}", "", item[0])))
    for template, operations in paths:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/"))) + "$"
        if re.match(pattern, path.split("?")[0]) and method.lower() in operations:
            for parameter in operations[method.lower()].get("parameters", []):
                if parameter.get("in") == "body":
                    return parameter["schema"]
            return None
    raise AssertionError(f"{method} {path} is not in the swagger spec")


def assert_valid_request(method, path, body):
    schema = body_schema(method, path)
    if body is None:
        return
    assert schema is not None, f"{method} {path} takes no body"
    jsonschema.Draft4Validator({**schema, "definitions": strict_definitions()}).validate(body)


class UpstreamRegistry:
    """A loopback registry endpoint for Harbor's health checks: /api/version, and /v2/
    under token auth (a Bearer challenge answered with ``credential``)."""

    def __init__(self, credential=UPSTREAM_CREDENTIAL):
        expected = "Basic " + base64.b64encode(":".join(credential).encode()).decode()
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/api/version":
                    return self.answer(200, b'{"version": "v2.0"}')
                if self.path.startswith("/service/token"):
                    ok = self.headers.get("Authorization") == expected
                    return self.answer(200 if ok else 401, b'{"token": "t0ken"}')
                if self.path == "/v2/":
                    if self.headers.get("Authorization") == "Bearer t0ken":
                        return self.answer(200, b"{}")
                    return self.answer(
                        401,
                        b"{}",
                        {"WWW-Authenticate": f'Bearer realm="{registry.url}/service/token",service="harbor-registry"'},
                    )
                self.answer(404, b"")

            def answer(self, status, body, headers=None):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
