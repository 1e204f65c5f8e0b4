"""CertificateExpiry on output captured from the lab server."""

import datetime

from harbor_deploy.facts.tls import CertificateExpiry
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"


def test_certificate_expiry_as_the_server_sees_it():
    fact = CertificateExpiry().process((FACT_OUTPUTS / "certificate_expiry_server.txt").read_text().splitlines())
    assert fact["subject"] == "CN=harbor.lab.internal"
    assert fact["sans"][0] == "DNS:harbor.lab.internal" and fact["sans"][1].startswith("IP Address:")
    assert fact["not_after"] == datetime.datetime(2029, 3, 1, 18, 15, 35, tzinfo=datetime.UTC)


def test_missing_certificate_is_none():
    assert CertificateExpiry().process([]) is None
