import datetime
import shlex

from pyinfra.api import FactBase


class CertificateExpiry(FactBase[dict | None]):
    """
    Returns a PEM certificate's subject, subjectAltNames and expiry as the host sees
    them (``openssl x509``), or ``None`` when the file is missing.

    .. code:: python

        {
            "subject": "CN=harbor.example.com",
            "sans": ["DNS:harbor.example.com", "IP Address:10.0.0.5"],
            "not_after": datetime.datetime(2029, 3, 1, 18, 15, 35, tzinfo=datetime.timezone.utc),
        }
    """

    def command(self, path):
        quoted = shlex.quote(path)
        return (
            f"[ -f {quoted} ] && openssl x509 -in {quoted} -noout -enddate -subject "
            "-ext subjectAltName 2>/dev/null || true"
        )

    def process(self, output):
        fields, sans = {}, []
        for line in output:
            key, sep, value = line.strip().partition("=")
            if sep and key in ("notAfter", "subject"):
                fields[key] = value.strip()
            elif ":" in line and not line.strip().startswith("X509v3"):
                sans = [name.strip() for name in line.split(",")]
        if "notAfter" not in fields:
            return None
        not_after = datetime.datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y %Z")
        return {
            "subject": fields.get("subject"),
            "sans": sans,
            "not_after": not_after.replace(tzinfo=datetime.UTC),
        }
