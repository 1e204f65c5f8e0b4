"""Bare server to a healthy Harbor; run again, nothing changes.

    pyinfra inventories/prod.py deploys/server.py

Runs ``harbor_deploy.harbor_server`` on the ``harbor_servers`` group and, for a
Harbor of several nodes, its load balancer (``harbor_lb``) and backing host
(``harbor_backing``); docs/keys.md lists the inventory keys.
"""

from pyinfra import host

from harbor_deploy import harbor_server

# One call for all three groups: the nodes, the load balancer and the backing host (its
# dump of the shared database before an upgrade) take part in one rolling change.
if {"harbor_servers", "harbor_lb", "harbor_backing"} & set(host.groups):
    harbor_server()
