"""Docker hosts trust, log in to, push to and pull from Harbor; run again, nothing changes.

    pyinfra inventories/prod.py deploys/client.py

Runs ``harbor_deploy.harbor_clients`` on the ``docker_clients`` group, all hosts in
parallel (daemon reloads and restarts in batches of ``harbor_client_restart_batch``).
A host that fails (e.g. its daemon.json is not valid JSON) stops there; the others
carry on and pyinfra's summary names it.
"""

from pyinfra import host

from harbor_deploy import harbor_clients

if "docker_clients" in host.groups:
    harbor_clients()
