"""TLS material of a Harbor instance: a controller CA and server certificate, or yours.

Generated files live in the controller secrets dir of the hostname (``ca.crt``,
``ca.key``, ``server.crt``, ``server.key``; keys 0600). Re-runs reuse them
byte for byte, so uploading them again changes nothing; the server certificate is
re-issued (same key) when it expires within ``renew_within_days`` or its names no
longer match. Docker refuses certificates without a subjectAltName, so every
certificate here carries one and provided ones must. The generated CA may sign for
the Harbor's names and addresses only (X.509 name constraints), so its key vouches
for nothing else; a name it may not sign for makes a new CA, which the clients must
then trust (the client deploy).

Nothing is written here: ``tls_material`` returns the material and the files the
controller must keep, which the server deploy writes in an operation. A controller
that lost its files takes the server's (certificate, key, CA certificate) back; the
CA key never leaves the controller, so without it the certificate is kept as long
as it is valid and matches, and a renewal stops with what to do.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY_DAYS = 3650
# The longest validity Apple/Chrome-era clients accept for server certificates.
SERVER_VALIDITY_DAYS = 825
RENEW_WITHIN_DAYS = 30
# Backdate notBefore a little so hosts with a slightly slow clock accept a fresh cert.
CLOCK_SKEW = datetime.timedelta(minutes=5)

CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.crt", "ca.key", "server.crt", "server.key"
# What the controller keeps of harbor_tls_chain for the clients (mode provided): beside
# a generated CA pair left from an earlier mode, not in its place.
PROVIDED_CHAIN = "provided-chain.crt"


class TlsError(Exception):
    """TLS material that cannot be used; the message never contains key material."""


@dataclass(frozen=True)
class TlsMaterial:
    """PEM bytes to upload: what nginx serves, and what Docker clients trust (None: public CA)."""

    certificate: bytes
    private_key: bytes
    ca_certificate: bytes | None


def _now():
    return datetime.datetime.now(datetime.UTC)


def new_key():
    # ECDSA P-256: fast to generate, accepted by nginx, Go (docker) and browsers.
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _general_name(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _canonical(name):
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def wanted_names(hostname, extra_sans=()):
    """The SAN strings a server certificate for ``hostname`` must carry, in order, no duplicates."""
    return list(dict.fromkeys(_canonical(name) for name in [hostname, *extra_sans]))


def subject_alt_names(cert):
    """The DNS names and IPs (as strings) of ``cert``'s subjectAltName; empty when it has none."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(sans.get_values_for_type(x509.DNSName)) | {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


def load_certificate(pem):
    """The first certificate of PEM bytes."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise TlsError("not a PEM certificate") from error


def is_certificate(pem):
    try:
        load_certificate(pem)
    except TlsError:
        return False
    return True


def load_certificates(pem):
    """Every certificate of PEM bytes (a chain)."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise TlsError("not a PEM certificate chain") from error


def load_private_key(pem):
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        # The exception text could quote the input: keep it out of the message.
        raise TlsError("not an unencrypted PEM private key") from error


def not_after(cert):
    return cert.not_valid_after_utc


def days_left(cert, now=None):
    """Days until ``cert`` expires (negative once expired)."""
    return (not_after(cert) - (now or _now())).total_seconds() / 86400


def key_matches(cert, key):
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(serialization.Encoding.PEM, public) == key.public_key().public_bytes(
        serialization.Encoding.PEM, public
    )


def _matches_name(pattern, hostname):
    if pattern.lower() == hostname.lower():
        return True
    # A wildcard covers exactly one leftmost label.
    if pattern.startswith("*.") and "." in hostname:
        return hostname.split(".", 1)[1].lower() == pattern[2:].lower()
    return False


def covers(cert, hostname):
    """True when ``cert``'s subjectAltName covers ``hostname`` (CN alone does not count)."""
    return any(_matches_name(name, hostname) for name in subject_alt_names(cert))


def check_pair(cert_pem, key_pem, hostname, now=None):
    """Problems (strings, no key material) of a provided certificate/key for ``hostname``."""
    try:
        cert = load_certificate(cert_pem)
    except TlsError as error:
        return [f"certificate: {error}"]
    problems = []
    try:
        if not key_matches(cert, load_private_key(key_pem)):
            problems.append("private key does not match the certificate")
    except TlsError as error:
        problems.append(f"private key: {error}")
    if days_left(cert, now) <= 0:
        problems.append(f"certificate expired on {not_after(cert):%Y-%m-%d}")
    if not subject_alt_names(cert):
        problems.append("certificate has no subjectAltName (Docker rejects CN-only certificates)")
    elif not covers(cert, hostname):
        problems.append(f"certificate subjectAltName does not cover {hostname}")
    return problems


def _name(cert):
    return cert.subject.rfc4514_string() or "(empty subject)"


def _self_signed(cert):
    return cert.subject == cert.issuer and _issued_by(cert, cert)


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def chain_problems(cert_pem, chain_pem, now=None):
    """Problems of a provided chain as the clients' trust (their ``ca.crt``), HAProxy's
    ``ca-file`` and the controller's API trust: it must lead from the certificate to a
    root CA (self-signed) through CA certificates it holds (or the certificate file
    holds after the certificate), none of them expired, and hold that root. Docker (Go)
    would accept an intermediate alone, OpenSSL (HAProxy, the controller) would not."""
    try:
        leaf, *bundled = load_certificates(cert_pem)
        chain = load_certificates(chain_pem)
    except TlsError as error:
        return [str(error)]
    problems = [f"{_name(cert)} expired on {not_after(cert):%Y-%m-%d}" for cert in chain if days_left(cert, now) <= 0]
    current, path = leaf, []
    while not _self_signed(current):
        issuer = next((c for c in [*chain, *bundled] if c not in path and _issued_by(current, c)), None)
        if issuer is None:
            if current is leaf:
                return [*problems, f"does not verify the certificate: nothing in it signed {_name(leaf)}"]
            break
        if not _is_ca(issuer):
            problems.append(f"{_name(issuer)} signs {_name(current)} but is no CA certificate (basicConstraints CA)")
        path.append(issuer)
        current = issuer
    if not (_self_signed(current) and current in chain):
        problems.append(
            f"holds no root CA: the certificate's issuers end at {_name(current)}, issued by "
            f"{current.issuer.rfc4514_string()}; add that root CA's certificate (the clients, HAProxy and the "
            "controller trust this file alone)"
        )
    return problems


def _builder(subject, issuer, public_key, days, now):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


# RFC 6761's reserved name, which never names a host: the one DNS name a CA for a
# Harbor known by addresses alone may sign, so that it signs no real one.
NO_DNS_NAME = "invalid"


def _ip(name):
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def name_constraints(names):
    """X.509 name constraints letting a CA sign for ``names`` (DNS names and addresses)
    only: each DNS name (and the names below it; a wildcard's domain), each address
    alone. With no address, every address is excluded; with no DNS name, only
    ``NO_DNS_NAME`` is permitted."""
    addresses = [_ip(name) for name in names if _ip(name) is not None]
    domains = list(dict.fromkeys(name.removeprefix("*.") for name in names if _ip(name) is None)) or [NO_DNS_NAME]
    permitted = [x509.DNSName(domain) for domain in domains]
    permitted += [x509.IPAddress(ipaddress.ip_network(address)) for address in addresses]
    excluded = None if addresses else [x509.IPAddress(ipaddress.ip_network(net)) for net in ("0.0.0.0/0", "::/0")]
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)


def permits(ca_cert, names):
    """Whether ``ca_cert`` may sign for ``names``: its permitted subtrees hold those of
    ``name_constraints(names)``; a CA made before name constraints may sign anything."""
    try:
        found = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return True
    return set(name_constraints(names).permitted_subtrees) <= set(found.permitted_subtrees or ())


def generate_ca(hostname, names=None, now=None):
    """A new CA (key, certificate) valid ``CA_VALIDITY_DAYS``, named after the registry,
    that may sign for ``names`` (default: ``hostname``) only (``name_constraints``): its
    key, kept on the controller, can vouch for this Harbor and nothing else."""
    now = now or _now()
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Harbor CA {hostname}"[:64])])
    cert = (
        _builder(name, name, key.public_key(), CA_VALIDITY_DAYS, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(name_constraints(names or [hostname]), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_server_certificate(ca_key, ca_cert, server_key, names, now=None):
    """A server certificate for ``names`` signed by the CA. Its subject CN is the first
    name, or for an address "Harbor <address>": clients read the subjectAltName, and
    OpenSSL would check a CN that looks like a DNS name against the CA's DNS constraints."""
    now = now or _now()
    common_name = f"Harbor {names[0]}" if _ip(names[0]) else names[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    return (
        _builder(subject, ca_cert.subject, server_key.public_key(), SERVER_VALIDITY_DAYS, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _pair(files, cert_name, key_name):
    if cert_name not in files or key_name not in files:
        return None
    cert = load_certificate(files[cert_name])
    key = load_private_key(files[key_name])
    if not key_matches(cert, key):
        raise TlsError(f"{key_name} does not match {cert_name}")
    return key, cert


def _issued_by(cert, ca_cert):
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def read_files(directory):
    """The generated TLS files present in ``directory``, by name."""
    directory = Path(directory)
    return {
        name: (directory / name).read_bytes()
        for name in (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY)
        if (directory / name).is_file()
    }


def plan_generated(files, hostname, extra_sans=(), renew_within_days=RENEW_WITHIN_DAYS, now=None):
    """The material a generated CA and server certificate give, from the current
    ``files`` (name -> PEM bytes); returns ``(TlsMaterial, new_files)``, ``new_files``
    being what changed and must be kept (name -> bytes).

    A missing or expiring CA, or one whose name constraints leave out one of the names,
    is replaced (and the server certificate re-issued); the server certificate is
    re-issued when it expires within ``renew_within_days``, when its names differ from
    hostname + extra SANs, or when another CA signed it.
    Without the CA key (recovered files), a certificate needing any of that is a
    ``TlsError`` naming what to do.
    """
    now = now or _now()
    names = wanted_names(hostname, extra_sans)
    files, new_files = dict(files), {}
    ca_cert = load_certificate(files[CA_CERT]) if CA_CERT in files else None
    ca_key = load_private_key(files[CA_KEY]) if CA_KEY in files else None
    if ca_key is not None and ca_cert is not None and not key_matches(ca_cert, ca_key):
        raise TlsError(f"{CA_KEY} does not match {CA_CERT}")
    server = _pair(files, SERVER_CERT, SERVER_KEY)
    if ca_cert is not None and ca_key is None:
        usable = (
            server is not None
            and days_left(server[1], now) > renew_within_days
            and subject_alt_names(server[1]) == set(names)
            and _issued_by(server[1], ca_cert)
        )
        if not usable:
            raise TlsError(
                f"the server certificate must be re-issued (expiring, other names, or missing) but the "
                f"CA key {CA_KEY} is not in the secrets dir (it never leaves the controller): restore it "
                f"from a backup, or remove {CA_CERT} there to make a new CA (every client must then trust "
                "it: run the client deploy)"
            )
    elif ca_cert is None or days_left(ca_cert, now) <= renew_within_days or not permits(ca_cert, names):
        ca_key, ca_cert = generate_ca(hostname, names, now)
        new_files[CA_KEY], new_files[CA_CERT] = key_pem(ca_key), cert_pem(ca_cert)
        server = None if server is None else (server[0], None)
    if server is None:
        server_key = new_key()
        new_files[SERVER_KEY] = key_pem(server_key)
        server_cert = None
    else:
        server_key, server_cert = server
    if (
        server_cert is None
        or days_left(server_cert, now) <= renew_within_days
        or subject_alt_names(server_cert) != set(names)
        or not _issued_by(server_cert, ca_cert)
    ):
        server_cert = issue_server_certificate(ca_key, ca_cert, server_key, names, now)
        new_files[SERVER_CERT] = cert_pem(server_cert)
    files.update(new_files)
    material = TlsMaterial(certificate=files[SERVER_CERT], private_key=files[SERVER_KEY], ca_certificate=files[CA_CERT])
    return material, new_files


def load_provided(cert_path, key_path, chain_path=None):
    """Provided material as nginx needs it: certificate followed by the chain.

    The chain (when given) is also what Docker clients trust as ``ca.crt``;
    without one the certificate is assumed to come from a publicly trusted CA.
    """
    certificate = Path(cert_path).read_bytes()
    chain = Path(chain_path).read_bytes() if chain_path else None
    if chain:
        certificate = certificate.rstrip(b"\n") + b"\n" + chain
    return TlsMaterial(certificate=certificate, private_key=Path(key_path).read_bytes(), ca_certificate=chain)


def tls_material(config, files=None, now=None):
    """``(TlsMaterial, new_files)`` for ``config`` (merged, validated data); ``files``
    are the generated ones the controller has (or recovered); ``(None, {})`` in http mode."""
    mode = config["harbor_tls_mode"]
    if mode == "generate":
        return plan_generated(files or {}, config["harbor_hostname"], config["harbor_tls_extra_sans"], now=now)
    if mode == "provided":
        return load_provided(
            config["harbor_tls_certificate"], config["harbor_tls_private_key"], config["harbor_tls_chain"]
        ), {}
    return None, {}
