"""Inventory of the local lab (`make lab-up` writes the state it reads).

Same groups as a production inventory: ``harbor_servers`` and ``docker_clients``,
plus ``bare_hosts`` (started without docker, to prove the deploy installs it).
"""

from lab.labctl import load_state, state_dir

_state = load_state()


# The lab's Harbor: served under a DNS name, installed from the lab's release mirror.
# Secrets live and die with the lab (a fresh clone reuses the lab's Harbor).
_harbor = {
    "harbor_hostname": _state["harbor_dns_name"],
    "harbor_secrets_dir": str(state_dir() / "secrets"),
}
_server_data = {
    **_harbor,
    "harbor_installer_source": "mirror",
    "harbor_mirror_url": _state["mirror_url"],
    # The mirror serves plain HTTP: each stand-in release is pinned by what the lab built.
    "harbor_installer_sha256": _state["installer_sha256"],
    # Configuration as code: the demo's project and the CI robot that pushes to it.
    "harbor_projects": [{"name": "demo", "public": False, "storage_quota": "2G"}],
    "harbor_robots": [{"name": "ci", "project": "demo"}],
}


def _group(name, **data):
    return [
        (
            host["name"],
            {
                **data,
                "ssh_hostname": "127.0.0.1",
                "ssh_port": host["ssh_port"],
                "ssh_user": "root",
                "ssh_key": _state["key"],
                "ssh_known_hosts_file": _state["known_hosts"],
                "ssh_strict_host_key_checking": "yes",
                "ssh_look_for_keys": False,
                "ssh_allow_agent": False,
                "lab_address": host["address"],
            },
        )
        for host in _state["hosts"]
        if host["group"] == name
    ]


# The controller is outside the lab's DNS: it calls Harbor's API at the server's
# lab address, which the generated certificate also names.
harbor_servers = [
    (name, {**data, "harbor_tls_extra_sans": [data["lab_address"]], "harbor_api_host": data["lab_address"]})
    for name, data in _group("harbor_servers", **_server_data)
]
# Clients log in as the demo's CI robot (deploys/configure.py creates it), never as admin.
docker_clients = _group("docker_clients", **_harbor, harbor_client_username="robot$demo+ci")
bare_hosts = _group("bare_hosts")
