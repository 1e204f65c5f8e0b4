"""Day-2 status of every Harbor server; changes nothing.

    pyinfra -y inventories/prod.py deploys/status.py

Prints one ``harbor-status <host> <json>`` line per ``harbor_servers`` host
(``harbor_deploy.harbor_status``).
"""

from pyinfra import host

from harbor_deploy import harbor_status

if "harbor_servers" in host.groups:
    harbor_status()
