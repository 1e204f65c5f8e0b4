"""Harbor's REST API contract as its go-swagger server enforces it, read from the
real v2.13.1 ``swagger.yaml`` (shipped beside this file in the image).

Two behaviours a client can see, both from the generated server, not from
Harbor's handlers:

- Content negotiation (go-openapi/runtime ``Context.BindValidRequest``): the
  ``Accept`` header must match one of the operation's ``produces``. No header, or
  ``*/*``, takes the first; a request with a body falls back to its own content
  type. Otherwise the request is refused before any handler runs, with the error
  wrapped in a validation list, which Harbor's ``serveError`` answers as 422
  ``UNPROCESSABLE_ENTITY`` "validation failure list: unsupported media type
  requested, only [...] are available".
- Empty fields left out of responses (go-swagger models): every non-required
  property is ``omitempty`` unless ``x-omitempty: false``; arrays are not
  (a nil one is ``null``); ``x-nullable`` (or ``x-isnullable``) and ``$ref``-to-struct properties are
  pointers, left out only when unset; ``date-time`` strings are structs, never
  left out. So ``false``, ``""``, ``0``, ``{}`` of a map disappear from answers.
"""

import functools
import re
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
# In the image the spec sits beside this file; in a checkout, in upstream/.
SPEC_FILE = next(
    (path for path in (HERE / "swagger.yaml", HERE.parent / "upstream" / "swagger.yaml") if path.is_file()),
    HERE / "swagger.yaml",
)
NOT_ACCEPTABLE = "unsupported media type requested, only [{offers}] are available"


class Operation:
    def __init__(self, spec, template, method, definition):
        self.spec, self.template, self.method = spec, template, method
        self.produces = definition.get("produces") or spec.document.get("produces") or []
        self.responses = definition.get("responses") or {}

    def response_schema(self, status):
        response = self.responses.get(str(status)) or self.responses.get(status) or {}
        if "$ref" in response:
            response = self.spec.resolve(response)
        return response.get("schema")


class ApiSpec:
    def __init__(self, document):
        self.document = document
        self.definitions = document.get("definitions") or {}
        self.base_path = document.get("basePath", "")
        routes = []
        for template, methods in (document.get("paths") or {}).items():
            literal = re.sub(r"\{[^}]+\}", "", template)
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/"))) + "$")
            for method, definition in methods.items():
                if isinstance(definition, dict) and method != "parameters":
                    # Literal segments win over parameters (/users/current before /users/{id}).
                    routes.append((-len(literal), pattern, Operation(self, template, method.upper(), definition)))
        routes.sort(key=lambda route: route[0])
        self.routes = [(pattern, operation) for _, pattern, operation in routes]

    @classmethod
    @functools.cache
    def load(cls, path=SPEC_FILE):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return cls(yaml.load(Path(path).read_text(), Loader=loader))

    def operation(self, method, path):
        """The operation serving ``method path`` (path below the base path), or None."""
        path = path.rstrip("/") or "/"
        for pattern, operation in self.routes:
            if operation.method == method and pattern.match(path):
                return operation
        return None

    def resolve(self, schema):
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.definitions[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def omit_empty(self, schema, value):
        """``value`` as go-swagger's model of ``schema`` would serialise it."""
        schema = self.resolve(schema) or {}
        if isinstance(value, list):
            return [self.omit_empty(schema.get("items"), item) for item in value]
        if not isinstance(value, dict):
            return value
        if "properties" not in schema:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return {key: self.omit_empty(extra, item) for key, item in value.items()}
            return value
        required = set(schema.get("required") or [])
        shaped = {}
        for key, item in value.items():
            prop = schema["properties"].get(key)
            if prop is None:
                shaped[key] = item
            elif key in required or not self._omitted(prop, item):
                shaped[key] = self.omit_empty(prop, item)
        return shaped

    def _omitted(self, prop, value):
        """Whether go's ``omitempty`` drops ``value`` of property ``prop``."""
        if prop.get("x-omitempty") is False:
            return False
        if value is None:
            return True
        resolved = self.resolve(prop)
        kind = resolved.get("type")
        if prop.get("x-omitempty") is not True and kind == "array":
            return False
        # go-swagger takes x-isnullable as x-nullable: a pointer, left out only when nil.
        if prop.get("x-nullable") or prop.get("x-isnullable") or resolved.get("format") == "date-time":
            return False
        if "$ref" in prop and "properties" in resolved or "properties" in prop:
            return False  # a pointer to a struct: only nil is left out
        if kind == "object" and not resolved.get("additionalProperties"):
            return False  # interface{}: only nil is left out
        return value in ("", False, 0, [], {})


def negotiate(accept, offers, body_type=""):
    """go-openapi's ``NegotiateContentType``: the offer ``accept`` takes, or "" (refused).

    Without an Accept header the first offer; ``body_type`` (the request's own
    content type) is the fallback when nothing matches.
    """
    specs = []
    for part in (accept or "").split(","):
        value, *params = [piece.strip() for piece in part.split(";")]
        if not value:
            continue
        q = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        specs.append((value.lower(), q))
    if offers and not specs:
        return offers[0]
    best, best_q, best_wild = body_type, -1.0, 3
    for raw in offers:
        offer = raw.split(";")[0].strip().lower()
        for value, q in specs:
            if q == 0.0 or q < best_q:
                continue
            if value == "*/*":
                if q > best_q or best_wild > 2:
                    best, best_q, best_wild = raw, q, 2
            elif value.endswith("/*"):
                if offer.startswith(value[:-1]) and (q > best_q or best_wild > 1):
                    best, best_q, best_wild = raw, q, 1
            elif value == offer and (q > best_q or best_wild > 0):
                best, best_q, best_wild = raw, q, 0
    return best
