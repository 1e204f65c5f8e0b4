"""An in-process stand-in harbor-core (lab/standin/runtime/harbor_core) on loopback,
on the test session's PostgreSQL and Redis, and validation of the request bodies
sent to it against the real v2.13.1 swagger spec."""

import base64
import copy
import functools
import hashlib
import http.server
import json
import re
import threading

import jsonschema
import requests
import yaml

from lab.standin.tests.registry import DistributionRegistry, Front
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


class Receiver:
    """An HTTP endpoint on loopback keeping every POST (headers and JSON body)."""

    def __init__(self):
        self.received = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((self.path, dict(self.headers), json.loads(body)))
                receiver.arrived.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class StandinHarborWithRegistry:
    """A stand-in Harbor as clients reach it: core and a registry behind the front
    (nginx's routing) at ``url``; ``token_key`` is core's token signing key (PEM)."""

    def __init__(self, data_dir, backing, token_key, env=None):
        data_dir.mkdir(parents=True, exist_ok=True)
        key = data_dir / "private_key.pem"
        key.write_bytes(token_key)
        self.registry = DistributionRegistry(data_dir / "registry")
        self.core = StandinHarbor(
            data_dir,
            backing,
            env={"REGISTRY_URL": self.registry.url, "TOKEN_PRIVATE_KEY_PATH": str(key), **(env or {})},
        )
        self.front = Front(self.core.url, self.registry.url)
        self.registry.realm = f"{self.front.url}/service/token"
        self.url = self.front.url

    def settle(self, timeout=30):
        """Wait for the work core does in the background (deliveries, replications)."""
        for thread in list(self.core.app.background):
            thread.join(timeout)

    def stop(self):
        self.settle()
        self.front.stop()
        self.core.stop()
        self.registry.stop()


def push_image(harbor_url, credential, repository, tag, content=b"layer"):
    """An image of one layer pushed to ``repository:tag`` through the registry API, as
    docker push sends it; its manifest digest."""
    distribution = load_runtime("harbor_core.distribution")
    registry = distribution.Registry(harbor_url, credential=credential)
    layer, config = content, json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    for data in (layer, config):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not registry.has_blob(repository, digest):
            registry.push_blob(repository, digest, data)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    registry.push_manifest(repository, tag, manifest, "application/vnd.oci.image.manifest.v1+json")
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


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
    object}`` is go-swagger's "any value" (Harbor sends numbers and booleans there), and
    so is an object with neither properties nor additionalProperties (``interface{}``:
    a replication filter's value is a string or a list)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("additionalProperties") == {"type": "object"}:
            schema["additionalProperties"] = {}
        if schema.get("type") == "object" and "properties" not in schema and "additionalProperties" not in schema:
            schema.pop("type")
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
    under token auth (a Bearer challenge answered with ``credential``, which
    ``expect`` changes)."""

    def __init__(self, credential=UPSTREAM_CREDENTIAL):
        self.expect(credential)
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/api/version":
                    return self.answer(200, b'{"version": "v2.0"}')
                if self.path.startswith("/service/token"):
                    ok = self.headers.get("Authorization") == registry.expected
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

    def expect(self, credential):
        self.expected = "Basic " + base64.b64encode(":".join(credential).encode()).decode()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
