"""Inventory of one benchmark case: only the lab hosts named in ``HD_BENCH_HOSTS``
(``name=role,...``), each in the group its role gives, so ``pyinfra exec`` on this
inventory is the floor of exactly the hosts the case deploys to (``lab/bench.py``).

Roles: ``server`` (harbor-1 as the lab inventory has it), ``client`` (a Docker client
of it, a bare host included: the deploy installs docker there), ``fresh_server`` (a
bare host made a second Harbor, named by its address, secrets kept apart).
"""

import os
import runpy
from pathlib import Path

from lab.labctl import state_dir

_lab = runpy.run_path(str(Path(__file__).resolve().parent.parent / "inventories" / "lab.py"))
_hosts = {name: data for group in ("harbor_servers", "docker_clients", "bare_hosts") for name, data in _lab[group]}
_server = _lab["harbor_servers"][0][1]
_client = _lab["docker_clients"][0][1]


def _ssh(data):
    return {key: value for key, value in data.items() if key.startswith("ssh_") or key == "lab_address"}


def _as(role, data):
    if role == "server":
        return data
    if role == "client":
        return {**{k: v for k, v in _client.items() if k not in _ssh(_client)}, **_ssh(data)}
    address = data["lab_address"]
    return {
        **{k: v for k, v in _server.items() if k not in _ssh(_server)},
        **_ssh(data),
        "harbor_hostname": address,
        "harbor_tls_extra_sans": [],
        "harbor_api_host": address,
        "harbor_secrets_dir": str(state_dir() / "bench-secrets"),
    }


_roles = dict(item.split("=", 1) for item in os.environ.get("HD_BENCH_HOSTS", "").split(",") if item)
harbor_servers = [(name, _as(role, _hosts[name])) for name, role in _roles.items() if role.endswith("server")]
docker_clients = [(name, _as(role, _hosts[name])) for name, role in _roles.items() if role == "client"]
