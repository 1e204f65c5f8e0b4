"""Stand-ins for the Harbor services the lab only needs alive and answering.

    idle.py serve NAME    # run the service NAME (see SERVICES)

HTTP services answer every GET with 200 on their real port and health paths.
(harbor-db and redis are the real servers, and harbor-log has harbor_log.py.) The
trivy-adapter also answers its metadata with the vulnerability database it finds in
its cache, as the real adapter does; it scans nothing.
"""

import json
import os
import re
import signal
import sys
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from go_listener import GoHTTPServer

# The services and the port their real containers listen on.
SERVICES = {"portal": 8080, "jobservice": 8080, "registryctl": 8080, "trivy-adapter": 8080, "exporter": 8080}
PORTAL_PAGE = b"<!doctype html><html><head><title>Harbor</title></head><body>Harbor</body></html>\n"
METRICS = b'# HELP harbor_up Running status of Harbor.\n# TYPE harbor_up gauge\nharbor_up{component="core"} 1\n'


# harbor-scanner-trivy v0.33.1 (Harbor v2.13.1's adapter), pkg/http/api/v1/handler.go
# GetMetadata: the adapter's settings, and the database dates ``trivy version`` reads
# from <cache>/db/metadata.json (a next update only while updates are not skipped).
METADATA_PATH = "/api/v1/metadata"
METADATA_TYPE = "application/vnd.scanner.adapter.metadata+json; version=1.0"
DB_UPDATED_AT = "harbor.scanner-adapter/vulnerability-database-updated-at"
DB_NEXT_UPDATE_AT = "harbor.scanner-adapter/vulnerability-database-next-update-at"
JAVA_DB_NEXT_UPDATE_AT = "harbor.scanner-adapter/vulnerability-java-database-next-update-at"
BOOLEAN_SETTINGS = (
    "SCANNER_TRIVY_SKIP_UPDATE",
    "SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE",
    "SCANNER_TRIVY_OFFLINE_SCAN",
    "SCANNER_TRIVY_IGNORE_UNFIXED",
    "SCANNER_TRIVY_DEBUG_MODE",
    "SCANNER_TRIVY_INSECURE",
)
TEXT_SETTINGS = (
    "SCANNER_TRIVY_VULN_TYPE",
    "SCANNER_TRIVY_SECURITY_CHECKS",
    "SCANNER_TRIVY_SEVERITY",
    "SCANNER_TRIVY_TIMEOUT",
)


def rfc3339(stamp):
    """trivy-db's metadata time (RFC 3339 with nanoseconds) as Go's time.RFC3339 prints it."""
    return datetime.fromisoformat(re.sub(r"\.\d+", "", stamp)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def database_metadata(cache_dir, folder):
    """``<cache>/<folder>/metadata.json`` of trivy-db or trivy-java-db, None without one."""
    try:
        return json.loads((Path(cache_dir) / folder / "metadata.json").read_text())
    except (OSError, ValueError):
        return None


def flag(env, key):
    """A switch as the adapter reads it (prepare writes Python's True/False, which Go's
    ParseBool takes) and shows it (strconv.FormatBool)."""
    return "true" if env.get(key, "").lower() in ("1", "t", "true") else "false"


def adapter_metadata(env):
    """What the Trivy adapter answers on /api/v1/metadata."""
    skip = flag(env, "SCANNER_TRIVY_SKIP_UPDATE") == "true"
    skip_java = flag(env, "SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE") == "true"
    properties = {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"}
    properties.update({f"env.{key}": flag(env, key) for key in BOOLEAN_SETTINGS})
    properties.update({f"env.{key}": env.get(key, "") for key in TEXT_SETTINGS})
    cache = env.get("SCANNER_TRIVY_CACHE_DIR", "/home/scanner/.cache/trivy")
    database, java = database_metadata(cache, "db"), database_metadata(cache, "java-db")
    if database:
        properties[DB_UPDATED_AT] = rfc3339(database["UpdatedAt"])
        if not skip:
            properties[DB_NEXT_UPDATE_AT] = rfc3339(database["NextUpdate"])
        if java and not skip_java:
            properties[JAVA_DB_NEXT_UPDATE_AT] = rfc3339(java["NextUpdate"])
    return {
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": env.get("TRIVY_VERSION", "Unknown")},
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": [
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                ],
                "produces_mime_types": ["application/vnd.security.vulnerability.report; version=1.1"],
            }
        ],
        "properties": properties,
    }


def http_handler(name):
    class Handler(BaseHTTPRequestHandler):
        server_version = f"harbor-{name}-standin"
        sys_version = ""

        def do_GET(self):
            body = METRICS if name == "exporter" else PORTAL_PAGE if name == "portal" else b"{}"
            content_type = (
                "text/plain" if name == "exporter" else "text/html" if name == "portal" else "application/json"
            )
            if name == "trivy-adapter" and self.path == METADATA_PATH:
                body, content_type = json.dumps(adapter_metadata(os.environ)).encode(), METADATA_TYPE
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stderr.write(f"{self.address_string()} - {fmt % args}\n")

    return Handler


def serve(name):
    # As PID 1 python ignores SIGTERM: exit on it, so `docker stop` needs no 10s kill timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = SERVICES[name]
    server = GoHTTPServer(("0.0.0.0", port), http_handler(name))
    print(f"{name} stand-in listening on :{port}", flush=True)
    server.serve_forever()


def main(argv):
    if len(argv) != 2 or argv[0] != "serve" or argv[1] not in SERVICES:
        print(__doc__, file=sys.stderr)
        return 2
    serve(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
