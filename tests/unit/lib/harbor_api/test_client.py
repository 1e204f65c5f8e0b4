"""harbor_deploy.lib.harbor_api.client: errors naming the resource, retries, no secret in errors, defaults."""

import json
import urllib.parse

import pytest
import requests

from harbor_deploy.lib.config.secrets import Secret
from harbor_deploy.lib.harbor_api import client as harbor_api

PASSWORD = "Sup3rSecretValue"


class FakeResponse:
    def __init__(self, status, body=b"", headers=None):
        self.status_code, self.content, self.headers = status, body, headers or {}
        self.reason = {200: "OK", 401: "Unauthorized", 500: "Internal Server Error"}.get(status, "")

    @property
    def text(self):
        return self.content.decode()

    def json(self):
        return json.loads(self.content)


class FakeSession(requests.Session):
    """Answers from a script: each item a FakeResponse or an exception to raise."""

    def __init__(self, script):
        super().__init__()
        self.script, self.calls = list(script), []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(script, **kwargs):
    sleeps = []
    harbor = harbor_api.HarborClient(
        "https://harbor.example.org:8443",
        "admin",
        Secret(PASSWORD, "test"),
        verify="/ca.crt",
        session=FakeSession(script),
        sleep=sleeps.append,
        **kwargs,
    )
    return harbor, sleeps


def errors_body(message):
    return (f'{{"errors": [{{"code": "X", "message": "{message}"}}]}}').encode()


@pytest.mark.parametrize(
    "status, error_type, hint",
    [
        (401, harbor_api.AuthenticationError, "credentials refused"),
        (403, harbor_api.PermissionDenied, "the account is not allowed"),
        (404, harbor_api.NotFound, "not found"),
        (409, harbor_api.Conflict, "already exists"),
    ],
)
def test_client_errors_name_method_resource_status_and_harbor_message(status, error_type, hint):
    harbor, sleeps = client([FakeResponse(status, errors_body("project ci already exists"))])
    with pytest.raises(error_type) as raised:
        harbor.post("/projects", "project ci", {"project_name": "ci"})
    text = str(raised.value)
    assert text.startswith(f"POST project ci: HTTP {status}: {hint}")
    assert "project ci already exists" in text
    assert raised.value.status == status and sleeps == []


def test_retries_gateway_errors_then_succeeds_with_exponential_backoff():
    harbor, sleeps = client([FakeResponse(502), FakeResponse(503), FakeResponse(200, b"[]")])
    assert harbor.get("/projects", "projects") == []
    assert sleeps == [0.5, 1.0]


def test_retries_connection_errors():
    harbor, sleeps = client([requests.ConnectionError("refused"), FakeResponse(200, b"{}")])
    assert harbor.get("/users/current", "current user") == {}
    assert sleeps == [0.5]


def test_gives_up_after_the_retries_with_the_last_status():
    harbor, sleeps = client([FakeResponse(500)] * 3, retries=2)
    with pytest.raises(harbor_api.ApiError) as raised:
        harbor.get("/health", "health")
    assert raised.value.status == 500 and len(sleeps) == 2


def test_a_post_answered_500_is_not_sent_twice():
    harbor, sleeps = client([FakeResponse(500, errors_body("boom"))])
    with pytest.raises(harbor_api.ApiError, match="boom"):
        harbor.post("/robots", "robot ci", {"name": "ci"})
    assert sleeps == []


def test_unreachable_harbor_is_an_api_error_without_credentials():
    harbor, _ = client([requests.ConnectionError("connection refused")] * 5)
    with pytest.raises(harbor_api.ApiError) as raised:
        harbor.get("/ping", "ping")
    assert raised.value.status is None
    assert "no answer" in str(raised.value)


def test_secrets_are_not_in_errors_reprs_or_the_request_except_the_auth_header():
    harbor, _ = client([FakeResponse(401, errors_body("unauthorized"))])
    with pytest.raises(harbor_api.AuthenticationError) as raised:
        harbor.current_user()
    for text in (str(raised.value), repr(raised.value), repr(harbor), repr(harbor.session.auth)):
        assert PASSWORD not in text
    prepared = requests.Request("GET", "https://h/").prepare()
    harbor.session.auth(prepared)
    assert prepared.headers["Authorization"].startswith("Basic ")


def test_tls_verification_is_passed_to_the_session():
    harbor, _ = client([])
    assert harbor.session.verify == "/ca.crt"
    assert harbor.with_credentials("robot$ci+x", "S3cretValue").session.verify == "/ca.crt"


def test_every_request_verifies_with_harbors_ca_even_with_a_ca_bundle_in_the_environment(monkeypatch):
    # requests would let REQUESTS_CA_BUNDLE replace a session's verify setting.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    harbor, _ = client([FakeResponse(200, b"{}")])
    harbor.get("/ping", "ping")
    assert harbor.session.calls[0][2]["verify"] == "/ca.crt"


def test_list_reads_every_page():
    first = FakeResponse(200, ("[" + ",".join(["{}"] * harbor_api.PAGE_SIZE) + "]").encode())
    harbor, _ = client([first, FakeResponse(200, b"[{}]")])
    assert len(harbor.list("/projects", "projects")) == harbor_api.PAGE_SIZE + 1
    pages = [call[2]["params"]["page"] for call in harbor.session.calls]
    assert pages == [1, 2]


def config(tmp_path, **data):
    return {
        "harbor_hostname": "harbor.example.org",
        "harbor_tls_mode": "generate",
        "harbor_https_port": 8443,
        "harbor_http_port": 8081,
        "harbor_secrets_dir": str(tmp_path),
        "harbor_external_url": None,
        "harbor_api_url": None,
        "harbor_api_verify": None,
        "harbor_tls_chain": None,
        **data,
    }


def test_default_url_and_verify_use_the_https_port_and_the_generated_ca(tmp_path):
    settings = config(tmp_path)
    assert harbor_api.default_url(settings) == "https://harbor.example.org:8443"
    with pytest.raises(harbor_api.ApiError, match="run the server deploy first"):
        harbor_api.default_verify(settings)
    ca = tmp_path / "harbor.example.org" / "ca.crt"
    ca.parent.mkdir()
    ca.write_text("PEM")
    assert harbor_api.default_verify(settings) == str(ca)


def test_default_url_and_verify_alternatives(tmp_path):
    assert (
        harbor_api.default_url(config(tmp_path, harbor_tls_mode="http", harbor_http_port=80))
        == "http://harbor.example.org"
    )
    assert (
        harbor_api.default_url(config(tmp_path, harbor_external_url="https://r.example.org/"))
        == "https://r.example.org"
    )
    assert harbor_api.default_url(config(tmp_path, harbor_api_url="http://127.0.0.1:9/")) == "http://127.0.0.1:9"
    assert harbor_api.default_verify(config(tmp_path, harbor_tls_mode="provided")) is True
    assert (
        harbor_api.default_verify(config(tmp_path, harbor_tls_mode="provided", harbor_tls_chain="/c.pem")) == "/c.pem"
    )
    assert harbor_api.default_verify(config(tmp_path, harbor_api_verify=False)) is False


def test_each_call_accepts_only_what_its_operation_produces():
    # Harbor answers 406 to an Accept header matching none of an operation's `produces`.
    harbor, _ = client([FakeResponse(200, b"Pong"), FakeResponse(200, b"{}")])
    assert harbor.ping() == "Pong"
    harbor.get("/users/current", "current user")
    accepts = [call[2]["headers"]["Accept"] for call in harbor.session.calls]
    assert accepts == ["text/plain", "application/json"]
    assert "Accept" not in harbor.session.headers or harbor.session.headers["Accept"] == "*/*"


def test_credentials_are_sent_as_utf8_like_harbor_compares_them():
    harbor = harbor_api.HarborClient("https://h", "admin", Secret("Pässwörd-ü1", "test"))
    prepared = requests.Request("GET", "https://h/").prepare()
    harbor.session.auth(prepared)
    import base64

    sent = base64.b64decode(prepared.headers["Authorization"].removeprefix("Basic "))
    assert sent == "admin:Pässwörd-ü1".encode()


@pytest.mark.parametrize(
    "value, harbor_reads",
    [
        ("dev+ci", "dev+ci"),
        ("a b", "a b"),
        ("100%", "100%"),
        ("x=y", "x=y"),
        ("~tilde", "~tilde"),
        ("[bracket", "[bracket"),
        ("{brace", "{brace"),
        ("(paren", "(paren"),
        ("\\back", "\\back"),
        ("ünï", "ünï"),
    ],
)
def test_a_query_value_reaches_harbor_as_an_exact_match_of_itself(value, harbor_reads):
    """Harbor decodes q once in its HTTP layer, then QueryUnescape's it and reads
    key=value pairs split at "," (src/lib/q/builder.go); a leading backslash escapes a
    pattern character and is removed."""
    encoded = requests.Request("GET", "http://h/x", params=harbor_api.query_params("name", value)).prepare().url
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(encoded).query)["q"][0]  # Go's url.Query()
    key, _, read = urllib.parse.unquote_plus(query).partition("=")  # url.QueryUnescape, one pair
    read = read[1:] if read.startswith("\\") else read
    assert (key, read) == ("name", harbor_reads)


def test_a_query_value_with_a_comma_is_matched_fuzzily_on_its_longest_part():
    assert harbor_api.query_params("name", "a,bcd,e") == {"q": "name=~bcd"}
    assert harbor_api.query_params("name", ",,") == {}
