"""Stand-ins for the Harbor services the lab only needs alive and answering.

    idle.py serve NAME    # run the service NAME (see SERVICES)

HTTP services answer every GET with 200 on their real port and health paths.
(harbor-db and redis are the real servers, and harbor-log has harbor_log.py.)
"""

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The services and the port their real containers listen on.
SERVICES = {"portal": 8080, "jobservice": 8080, "registryctl": 8080, "trivy-adapter": 8080, "exporter": 8080}
PORTAL_PAGE = b"<!doctype html><html><head><title>Harbor</title></head><body>Harbor</body></html>\n"
METRICS = b'# HELP harbor_up Running status of Harbor.\n# TYPE harbor_up gauge\nharbor_up{component="core"} 1\n'


def http_handler(name):
    class Handler(BaseHTTPRequestHandler):
        server_version = f"harbor-{name}-standin"
        sys_version = ""

        def do_GET(self):
            body = METRICS if name == "exporter" else PORTAL_PAGE if name == "portal" else b"{}"
            content_type = (
                "text/plain" if name == "exporter" else "text/html" if name == "portal" else "application/json"
            )
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
    server = ThreadingHTTPServer(("0.0.0.0", port), http_handler(name))
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
