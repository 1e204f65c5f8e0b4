"""Report how each Docker client uses the registry; changes nothing.

    pyinfra inventories/prod.py deploys/client_status.py

Prints one ``client-state <host> <json>`` line per ``docker_clients`` host: trust
mode, certs.d CA sha256, daemon.json entries for the registry and, per login user,
whether the stored login works (see ``facts.docker_client.ClientRegistryState``).
"""

import json

from pyinfra import host

from facts.docker_client import ClientRegistryState
from harbor_deploy.client import registry_address
from harbor_deploy.defaults import CLIENT_GROUP, merged
from harbor_deploy.stages.context import host_data

if CLIENT_GROUP in host.groups:
    config = merged(host_data())  # needs no password: it only reads
    state = host.get_fact(ClientRegistryState, registry=registry_address(config),
                          users=list(config["harbor_client_login_users"]))
    print(f"client-state {host.name} {json.dumps(state, sort_keys=True)}", flush=True)
