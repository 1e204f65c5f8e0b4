"""The CAs Harbor's core trusts, as its image builds them at every start.

Harbor's images run ``install_cert.sh`` before their binary (make/photon/core/entrypoint.sh,
make/photon/common/install_cert.sh, v2.13.1): the system bundle is put back from its
original, then every ``*.crt``, ``*.ca``, ``*.ca-bundle`` and ``*.pem`` file of
``/harbor_cust_cert`` is appended to it. That folder is the instance's
``common/config/shared/trust-certificates``, which ``prepare`` fills
(``prepare_trust_ca``: the internal TLS CA, ``storage_service.ca_bundle`` and
``external_redis.tlsOptions.rootCA``). Core's PostgreSQL driver (pgx) verifies a
server with ``sslmode`` ``verify-ca``/``verify-full`` and no ``sslrootcert`` against
those system roots; the stand-in's libpq needs the bundle's path, ``sslrootcert``.
"""

import shutil
from pathlib import Path

CUSTOM_DIR = Path("/harbor_cust_cert")
# The stand-in's OS is Debian: its system bundle (Photon's is /etc/pki/tls/certs/ca-bundle.crt).
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_SUFFIXES = (".crt", ".ca", ".ca-bundle", ".pem")


def install(custom_dir=CUSTOM_DIR, bundle=SYSTEM_BUNDLE):
    """``bundle`` rebuilt from its original (kept beside it at the first start) and the
    CA files of ``custom_dir``; returns ``bundle``."""
    original = bundle.with_name(bundle.name + ".original")
    if not original.exists():
        shutil.copy(bundle, original)
    parts = [original.read_bytes()]
    if custom_dir.is_dir():
        parts += [path.read_bytes() for path in sorted(custom_dir.iterdir()) if _is_ca_file(path)]
    bundle.write_bytes(b"".join(part if part.endswith(b"\n") else part + b"\n" for part in parts))
    return bundle


def _is_ca_file(path):
    return path.suffix in CA_SUFFIXES and not path.is_dir()
