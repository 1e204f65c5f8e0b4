"""Day-2 status of every Harbor server; changes nothing.

    pyinfra -y inventories/prod.py deploys/status.py

Prints one ``harbor-status <host> <json>`` line per ``harbor_servers`` host: the
installed and running version, kept releases, harbor.service, each container's
state and health, Harbor's own health answer, the served certificate's expiry and
Harbor's firewalld service (its ports, enabled in the zone) and the zone's other open ports.
"""

import json

from pyinfra import host, logger

from facts.firewalld import FirewalldState
from facts.harbor import HarborHealth, HarborInstallation
from facts.tls import CertificateExpiry
from harbor_deploy.defaults import DEFAULT_VERSION, SERVER_TLS_CERTIFICATE, merged
from harbor_deploy.stages.context import host_data
from harbor_deploy.stages.server import FIREWALLD_SERVICE

if "harbor_servers" in host.groups:
    config = merged(host_data())  # reads only: no validation, no secrets
    version = config["harbor_version"] if config["harbor_version"] != "latest" else DEFAULT_VERSION
    installation = host.get_fact(HarborInstallation, install_dir=config["harbor_install_dir"],
                                 version=version)
    scheme, port = (("http", config["harbor_http_port"]) if config["harbor_tls_mode"] == "http"
                    else ("https", config["harbor_https_port"]))
    health = host.get_fact(HarborHealth, url=f"{scheme}://127.0.0.1:{port}")
    certificate = host.get_fact(CertificateExpiry, path=SERVER_TLS_CERTIFICATE)
    firewall = host.get_fact(FirewalldState)
    zone = firewall["zones"].get(config["harbor_firewall_zone"], {})
    status = {
        "running_version": installation["running_version"],
        "release_dir": installation["release_dir"],
        "releases": installation["releases"],
        "service": f"{installation['service_enabled']}/{installation['service_active']}",
        "health": (health["api"] or {}).get("status", "no answer"),
        "containers": {name: f"{c['state']}/{c['health']}" for name, c in health["containers"].items()},
        "certificate_not_after": certificate["not_after"].isoformat() if certificate else None,
        # Harbor's ports live in the firewalld service the server deploy owns.
        "firewalld": {"service_ports": firewall["local_services"].get(FIREWALLD_SERVICE),
                      "enabled": FIREWALLD_SERVICE in zone.get("runtime_services", []),
                      "zone_ports": zone.get("runtime")} if firewall["running"] else None,
    }
    logger.info(f"harbor-status {host.name} {json.dumps(status, sort_keys=True)}")
