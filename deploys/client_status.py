"""Report how each Docker client uses the registry; changes nothing.

    pyinfra -y inventories/prod.py deploys/client_status.py

Prints one ``client-state <host> <json>`` line per ``docker_clients`` host
(``harbor_deploy.harbor_client_status``).
"""

from pyinfra import host

from harbor_deploy import harbor_client_status

if "docker_clients" in host.groups:
    harbor_client_status()
