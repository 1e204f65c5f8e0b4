"""Generated CA and server certificate, reuse and renewal, checks of provided pairs."""

import datetime
import ipaddress
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harbor_deploy.lib.config.secrets import write_private_file
from harbor_deploy.lib.render import tls

HOST = "harbor.lab.internal"
NOW = datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC)
FILES = ("ca.crt", "ca.key", "server.crt", "server.key")
ONE_YEAR = datetime.timedelta(days=365)


def generate(directory, hostname, extra_sans=(), **kwargs):
    """What a server run does: plan from the directory's files, then keep what changed."""
    material, new_files = tls.plan_generated(tls.read_files(directory), hostname, extra_sans, **kwargs)
    for name, data in new_files.items():
        write_private_file(directory / name, data)
    return material


def _snapshot(directory):
    return {name: (directory / name).read_bytes() for name in FILES}


def _server_cert(directory):
    return x509.load_pem_x509_certificate((directory / "server.crt").read_bytes())


def test_generates_ca_and_server_certificate_with_private_keys(tmp_path):
    material = generate(tmp_path, HOST, ["harbor", "10.0.0.5"], now=NOW)
    for name in FILES:
        assert (tmp_path / name).exists()
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "server.key").stat().st_mode) == 0o600
    assert material.certificate == (tmp_path / "server.crt").read_bytes()
    assert material.private_key == (tmp_path / "server.key").read_bytes()
    assert material.ca_certificate == (tmp_path / "ca.crt").read_bytes()


def test_server_certificate_names_and_extensions(tmp_path):
    generate(tmp_path, HOST, ["harbor", "10.0.0.5"], now=NOW)
    cert = _server_cert(tmp_path)
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    assert tls.subject_alt_names(cert) == {HOST, "harbor", "10.0.0.5"}
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress)[0].exploded == "10.0.0.5"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == HOST
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    cert.verify_directly_issued_by(ca)
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=tls.SERVER_VALIDITY_DAYS)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


def test_ca_extensions_and_validity(tmp_path):
    generate(tmp_path, HOST, now=NOW)
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.not_valid_after_utc - NOW == datetime.timedelta(days=tls.CA_VALIDITY_DAYS)


def test_rerun_reuses_files_byte_for_byte(tmp_path):
    generate(tmp_path, HOST, ["10.0.0.5"], now=NOW)
    before = _snapshot(tmp_path)
    later = NOW + datetime.timedelta(days=300)
    generate(tmp_path, HOST, ["10.0.0.5"], now=later)
    assert _snapshot(tmp_path) == before


def test_renews_server_certificate_close_to_expiry_keeping_key_and_ca(tmp_path):
    generate(tmp_path, HOST, now=NOW)
    before = _snapshot(tmp_path)
    close = NOW + datetime.timedelta(days=tls.SERVER_VALIDITY_DAYS - 10)
    generate(tmp_path, HOST, now=close)
    after = _snapshot(tmp_path)
    assert after["server.crt"] != before["server.crt"]
    assert after["server.key"] == before["server.key"]
    assert after["ca.crt"] == before["ca.crt"]
    assert tls.days_left(_server_cert(tmp_path), close) > tls.SERVER_VALIDITY_DAYS - 1


def test_renew_window_is_configurable(tmp_path):
    generate(tmp_path, HOST, now=NOW)
    before = _snapshot(tmp_path)
    close = NOW + datetime.timedelta(days=tls.SERVER_VALIDITY_DAYS - 10)
    generate(tmp_path, HOST, renew_within_days=5, now=close)
    assert _snapshot(tmp_path) == before


def test_changed_names_reissue_the_server_certificate(tmp_path):
    generate(tmp_path, HOST, ["harbor"], now=NOW)
    before = _snapshot(tmp_path)
    generate(tmp_path, HOST, ["harbor", "registry.example"], now=NOW)
    assert _snapshot(tmp_path)["server.crt"] != before["server.crt"]
    assert tls.subject_alt_names(_server_cert(tmp_path)) == {HOST, "harbor", "registry.example"}


def test_ip_names_are_compared_canonically(tmp_path):
    generate(tmp_path, HOST, ["2001:db8::1"], now=NOW)
    before = _snapshot(tmp_path)
    generate(tmp_path, HOST, ["2001:0db8:0:0::1"], now=NOW)
    assert _snapshot(tmp_path) == before


def test_a_new_ca_reissues_the_server_certificate(tmp_path):
    generate(tmp_path, HOST, now=NOW)
    (tmp_path / "ca.crt").unlink()
    generate(tmp_path, HOST, now=NOW)
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    _server_cert(tmp_path).verify_directly_issued_by(ca)


def _ca(directory):
    return x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())


def _verified_for(ca, cert, name):
    """Whether a client trusting ``ca`` (only) accepts ``cert`` for ``name``, name
    constraints included, as cryptography's verifier (RFC 5280 path validation) judges."""
    try:
        subject = verification.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = verification.DNSName(name)
    verifier = verification.PolicyBuilder().store(verification.Store([ca])).time(NOW).build_server_verifier(subject)
    try:
        verifier.verify(cert, [])
    except verification.VerificationError:
        return False
    return True


def _openssl_verifies(tmp_path, ca_pem, cert_pem):
    (tmp_path / "check-ca.pem").write_bytes(ca_pem)
    (tmp_path / "check-leaf.pem").write_bytes(cert_pem)
    result = subprocess.run(
        ["openssl", "verify", "-attime", str(int(NOW.timestamp()) + 60), "-CAfile", str(tmp_path / "check-ca.pem"),
         str(tmp_path / "check-leaf.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode == 0


def test_the_generated_ca_may_sign_for_the_harbors_names_and_addresses_only(tmp_path):
    generate(tmp_path, HOST, ["harbor", "*.nodes.lab.internal", "10.0.0.5", "2001:db8::1"], now=NOW)
    ca = _ca(tmp_path)
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert set(constraints.value.permitted_subtrees) == {
        x509.DNSName(HOST),
        x509.DNSName("harbor"),
        x509.DNSName("nodes.lab.internal"),
        x509.IPAddress(ipaddress.ip_network("10.0.0.5/32")),
        x509.IPAddress(ipaddress.ip_network("2001:db8::1/128")),
    }
    assert constraints.value.excluded_subtrees is None
    for name in (HOST, "harbor", "node-1.nodes.lab.internal", "10.0.0.5", "2001:db8::1"):
        assert _verified_for(ca, _server_cert(tmp_path), name), name


@pytest.mark.parametrize(
    "names, foreign",
    [
        ([HOST, "10.0.0.5"], "www.example.org"),
        ([HOST, "10.0.0.5"], "10.0.0.6"),
        ([HOST], "192.0.2.1"),  # no address wanted: every address excluded
        (["10.0.0.5"], "www.example.org"),  # no DNS name wanted: only .invalid permitted
    ],
)
def test_a_certificate_the_ca_signs_for_another_name_is_refused(tmp_path, names, foreign):
    generate(tmp_path, names[0], names[1:], now=NOW)
    ca, ca_key = _ca(tmp_path), tls.load_private_key((tmp_path / "ca.key").read_bytes())
    rogue = tls.issue_server_certificate(ca_key, ca, tls.new_key(), [foreign], now=NOW)
    assert not _verified_for(ca, rogue, foreign)
    assert _verified_for(ca, _server_cert(tmp_path), names[0])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl here")
@pytest.mark.parametrize("names", [[HOST, "harbor", "10.0.0.5"], [HOST], ["10.0.0.5"], ["10.0.0.5", "harbor"]])
def test_openssl_verifies_what_the_constrained_ca_issues(tmp_path, names):
    """OpenSSL (curl, Python's ssl) also checks a subject CN that looks like a DNS name
    against the constraints: an address is never the CN."""
    generate(tmp_path, names[0], names[1:], now=NOW)
    assert _openssl_verifies(tmp_path, (tmp_path / "ca.crt").read_bytes(), (tmp_path / "server.crt").read_bytes())
    ca, ca_key = _ca(tmp_path), tls.load_private_key((tmp_path / "ca.key").read_bytes())
    rogue = tls.issue_server_certificate(ca_key, ca, tls.new_key(), ["www.example.org"], now=NOW)
    assert not _openssl_verifies(tmp_path, (tmp_path / "ca.crt").read_bytes(), tls.cert_pem(rogue))


def test_an_address_is_named_in_the_subject_as_a_label(tmp_path):
    generate(tmp_path, "10.0.0.5", now=NOW)
    assert _server_cert(tmp_path).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Harbor 10.0.0.5"


def test_a_name_outside_the_cas_constraints_makes_a_new_ca_and_one_left_out_does_not(tmp_path):
    generate(tmp_path, HOST, ["harbor", "10.0.0.5"], now=NOW)
    first = _snapshot(tmp_path)
    generate(tmp_path, HOST, ["harbor"], now=NOW)  # fewer names: the CA may still sign them
    assert _snapshot(tmp_path)["ca.crt"] == first["ca.crt"]
    generate(tmp_path, HOST, ["harbor", "registry.example"], now=NOW)
    assert _snapshot(tmp_path)["ca.crt"] != first["ca.crt"]
    assert _verified_for(_ca(tmp_path), _server_cert(tmp_path), "registry.example")


def test_a_ca_made_before_name_constraints_is_kept(tmp_path):
    key = tls.new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Harbor CA {HOST}")])
    unconstrained = (
        x509.CertificateBuilder(name, name, key.public_key(), x509.random_serial_number(), NOW, NOW + ONE_YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_private_file(tmp_path / "ca.key", tls.key_pem(key))
    write_private_file(tmp_path / "ca.crt", tls.cert_pem(unconstrained))
    generate(tmp_path, HOST, ["registry.example"], now=NOW)
    assert (tmp_path / "ca.crt").read_bytes() == tls.cert_pem(unconstrained)
    _server_cert(tmp_path).verify_directly_issued_by(unconstrained)


def _pair(tmp_path, names, now=NOW):
    generate(tmp_path, names[0], names[1:], now=now)
    return (tmp_path / "server.crt").read_bytes(), (tmp_path / "server.key").read_bytes()


def test_check_pair_accepts_a_good_pair(tmp_path):
    cert, key = _pair(tmp_path, [HOST])
    assert tls.check_pair(cert, key, HOST, now=NOW) == []


def test_check_pair_accepts_a_wildcard_for_one_label(tmp_path):
    cert, key = _pair(tmp_path, ["*.lab.internal"])
    assert tls.check_pair(cert, key, HOST, now=NOW) == []
    assert tls.check_pair(cert, key, "a.b.lab.internal", now=NOW) == [
        "certificate subjectAltName does not cover a.b.lab.internal"
    ]


def test_check_pair_reports_mismatch_expiry_and_wrong_name(tmp_path):
    cert, _ = _pair(tmp_path / "one", ["other.example"], now=NOW - datetime.timedelta(days=900))
    _, other_key = _pair(tmp_path / "two", [HOST])
    found = tls.check_pair(cert, other_key, HOST, now=NOW)
    assert "private key does not match the certificate" in found
    assert any(why.startswith("certificate expired on") for why in found)
    assert f"certificate subjectAltName does not cover {HOST}" in found


def test_check_pair_rejects_common_name_only_certificates(tmp_path):
    _, key_pem = _pair(tmp_path, [HOST])
    key = tls.load_private_key(key_pem)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(tls.serialization.Encoding.PEM)
    assert tls.check_pair(cert_pem, key_pem, HOST, now=NOW) == [
        "certificate has no subjectAltName (Docker rejects CN-only certificates)"
    ]


def test_check_pair_reports_garbage_without_echoing_it():
    secret_looking = b"-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----\n"
    assert tls.check_pair(b"nonsense", secret_looking, HOST) == ["certificate: not a PEM certificate"]
    with pytest.raises(tls.TlsError) as raised:
        tls.load_private_key(secret_looking)
    assert "TOPSECRET" not in str(raised.value)


def test_load_provided_appends_the_chain_and_trusts_it(tmp_path):
    cert, key = _pair(tmp_path, [HOST])
    (tmp_path / "chain.pem").write_bytes((tmp_path / "ca.crt").read_bytes())
    material = tls.load_provided(tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "chain.pem")
    assert material.certificate == cert + (tmp_path / "ca.crt").read_bytes()
    assert len(tls.load_certificates(material.certificate)) == 2
    assert material.private_key == key
    assert material.ca_certificate == (tmp_path / "ca.crt").read_bytes()
    public = tls.load_provided(tmp_path / "server.crt", tmp_path / "server.key")
    assert public.certificate == cert and public.ca_certificate is None


def test_tls_material_follows_the_mode_and_writes_nothing(tmp_path):
    config = {"harbor_tls_mode": "http", "harbor_hostname": HOST, "harbor_tls_extra_sans": []}
    assert tls.tls_material(config, {}) == (None, {})
    generated, new_files = tls.tls_material({**config, "harbor_tls_mode": "generate"}, {}, now=NOW)
    assert set(new_files) == set(FILES) and generated.ca_certificate == new_files["ca.crt"]
    assert list(tmp_path.iterdir()) == []
    again, unchanged = tls.tls_material({**config, "harbor_tls_mode": "generate"}, new_files, now=NOW)
    assert (again, unchanged) == (generated, {})


def test_without_the_ca_key_a_valid_certificate_is_kept_and_a_renewal_stops(tmp_path):
    generate(tmp_path, HOST, ["10.0.0.5"], now=NOW)
    recovered = {name: (tmp_path / name).read_bytes() for name in ("ca.crt", "server.crt", "server.key")}
    material, new_files = tls.plan_generated(recovered, HOST, ["10.0.0.5"], now=NOW)
    assert new_files == {} and material.certificate == recovered["server.crt"]
    close = NOW + datetime.timedelta(days=tls.SERVER_VALIDITY_DAYS - 10)
    for names, now in ((["10.0.0.5"], close), (["10.0.0.6"], NOW)):
        with pytest.raises(tls.TlsError, match="the CA key ca.key is not in the secrets dir"):
            tls.plan_generated(recovered, HOST, names, now=now)


def test_expiry_helpers(tmp_path):
    generate(tmp_path, HOST, now=NOW)
    cert = _server_cert(tmp_path)
    assert tls.not_after(cert) == NOW + datetime.timedelta(days=tls.SERVER_VALIDITY_DAYS)
    assert tls.days_left(cert, NOW) == pytest.approx(tls.SERVER_VALIDITY_DAYS)
    assert tls.days_left(cert, NOW + datetime.timedelta(days=1000)) < 0


# --- a company CA's chain (harbor_tls_mode provided) ------------------------------


def _authority(name, signer=None, ca=True, days=3650):
    """(key, certificate) of a CA named ``name``: a root, or signed by ``signer``."""
    key = tls.new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_key, issuer = (key, subject) if signer is None else (signer[0], signer[1].subject)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer_key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture
def company():
    """A company root, its issuing intermediate and Harbor's certificate it signed."""
    root = _authority("Example Corp Root CA")
    issuing = _authority("Example Corp Issuing CA", signer=root)
    leaf = tls.issue_server_certificate(issuing[0], issuing[1], tls.new_key(), [HOST], now=NOW)
    return {"root": tls.cert_pem(root[1]), "issuing": tls.cert_pem(issuing[1]), "leaf": tls.cert_pem(leaf)}


def test_a_chain_up_to_the_root_is_what_clients_need(company):
    assert tls.chain_problems(company["leaf"], company["issuing"] + company["root"], now=NOW) == []
    # The intermediate sent with the certificate (a "fullchain" file), the root alone in the chain.
    assert tls.chain_problems(company["leaf"] + company["issuing"], company["root"], now=NOW) == []


def test_a_chain_without_its_root_is_refused_naming_the_missing_issuer(company):
    [why] = tls.chain_problems(company["leaf"], company["issuing"], now=NOW)
    assert why.startswith("holds no root CA: the certificate's issuers end at CN=Example Corp Issuing CA")
    assert "issued by CN=Example Corp Root CA; add that root CA's certificate" in why


def test_a_chain_that_did_not_sign_the_certificate_is_refused(company):
    other = tls.cert_pem(_authority("Another Root")[1])
    assert tls.chain_problems(company["leaf"], other, now=NOW) == [
        f"does not verify the certificate: nothing in it signed CN={HOST}"
    ]


def test_an_expired_or_non_ca_issuer_is_named(company):
    root = _authority("Old Root", days=-1)
    issuing = _authority("Not A CA", signer=root, ca=False)
    leaf = tls.cert_pem(tls.issue_server_certificate(issuing[0], issuing[1], tls.new_key(), [HOST], now=NOW))
    found = tls.chain_problems(leaf, tls.cert_pem(issuing[1]) + tls.cert_pem(root[1]), now=NOW)
    assert found == [
        f"CN=Old Root expired on {(NOW - datetime.timedelta(days=1)):%Y-%m-%d}",
        f"CN=Not A CA signs CN={HOST} but is no CA certificate (basicConstraints CA)",
    ]
