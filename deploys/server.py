"""Bare server to a healthy Harbor; run again, nothing changes.

    pyinfra inventories/prod.py deploys/server.py

Runs ``harbor_deploy.harbor_server`` on the ``harbor_servers`` group and, for a
Harbor of several nodes, its load balancer (``harbor_lb``); docs/keys.md lists the
inventory keys.
"""

from pyinfra import host

from harbor_deploy import harbor_server

# One call for both groups: the nodes and the load balancer take part in one rolling change.
if "harbor_servers" in host.groups or "harbor_lb" in host.groups:
    harbor_server()
