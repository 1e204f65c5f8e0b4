"""The secrets Harbor keeps per instance, shared by every node of one Harbor.

prepare generates them under ``<data_volume>/secret/`` only when absent: the key
that encrypts the credentials Harbor stores in its database (``keys/secretkey``, 16
characters) and the pair that signs and checks the registry's tokens
(``core/private_key.pem``, RSA, and ``registry/root.crt``, a certificate over it).
Nodes sharing one database and one name need the same three files, or a token one
node issues is refused by another and stored credentials can't be decrypted: they
are generated once on the controller and placed on every node before prepare.
"""

import datetime
import re
import secrets
import string

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# Controller name -> path under the data volume, as prepare and Harbor's containers use them.
NODE_PATHS = {
    "secretkey": "secret/keys/secretkey",
    "token_private_key.pem": "secret/core/private_key.pem",
    "token_root.crt": "secret/registry/root.crt",
}
SECRET_KEY_LENGTH = 16
SECRET_KEY_RE = re.compile(rb"[\x21-\x7e]{%d}" % SECRET_KEY_LENGTH)
# As Harbor's prepare makes the token pair.
TOKEN_KEY_BITS = 4096
TOKEN_CERT_DAYS = 3650


def on_node(data_volume):
    """{controller name: path on a node} for ``data_volume``."""
    return {name: f"{data_volume.rstrip('/')}/{path}" for name, path in NODE_PATHS.items()}


def generate(now=None):
    """The three files, new: {controller name: bytes}."""
    now = now or datetime.datetime.now(datetime.UTC)
    alphabet = string.ascii_letters + string.digits
    key = rsa.generate_private_key(public_exponent=65537, key_size=TOKEN_KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harbor-token-issuer")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=TOKEN_CERT_DAYS))
        .sign(key, hashes.SHA256())
    )
    return {
        "secretkey": "".join(secrets.choice(alphabet) for _ in range(SECRET_KEY_LENGTH)).encode(),
        "token_private_key.pem": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
        "token_root.crt": cert.public_bytes(serialization.Encoding.PEM),
    }


def problems(files):
    """Why ``files`` ({controller name: bytes}) can't serve as one instance's keys: a
    file missing, a secret key not of 16 characters, a certificate not over the key."""
    missing = [name for name in NODE_PATHS if name not in files]
    if missing:
        return [f"{name} is missing" for name in missing]
    found = []
    # prepare reads the file whole, line break included, and refuses any length but 16
    # (make/photon/prepare/utils/cert.py get_secret_key); core takes its bytes as an AES
    # key, so a character of several bytes breaks it too.
    if not SECRET_KEY_RE.fullmatch(files["secretkey"]):
        found.append(
            f"secretkey must be exactly {SECRET_KEY_LENGTH} printable ASCII characters, no line break "
            "(Harbor's prepare reads the file whole)"
        )
    try:
        key = serialization.load_pem_private_key(files["token_private_key.pem"], password=None)
        cert = x509.load_pem_x509_certificate(files["token_root.crt"])
    except ValueError as error:
        return [*found, f"the token pair does not load: {error}"]
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if not isinstance(key, rsa.RSAPrivateKey):
        found.append("token_private_key.pem must be an RSA key (Harbor signs tokens with RS256)")
    elif cert.public_key().public_bytes(*public) != key.public_key().public_bytes(*public):
        found.append(
            "token_root.crt is not a certificate over token_private_key.pem: the registry would refuse every token"
        )
    return found
