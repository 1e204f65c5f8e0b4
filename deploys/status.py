"""Day-2 status of every Harbor server, and of a scaled-out Harbor's load balancer
and backing services; changes nothing.

    pyinfra -y inventories/prod.py deploys/status.py

Prints one ``harbor-status <host> <json>`` line per ``harbor_servers``, ``harbor_lb``
and ``harbor_backing`` host (``harbor_deploy.harbor_status``).
"""

from pyinfra import host

from harbor_deploy import harbor_status

if {"harbor_servers", "harbor_lb", "harbor_backing"} & set(host.groups):
    harbor_status()
