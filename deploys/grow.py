"""Grow a Harbor of one node into the Harbor of several nodes the inventory now
describes: its database and registry layers move into the backing host's shared
services, its keys stay. Plan it with ``--dry``; it stops Harbor on that node until
the server deploy runs.

    pyinfra inventories/prod_scaled.py deploys/backing.py
    pyinfra inventories/prod_scaled.py deploys/grow.py --dry --data harbor_grow_from=harbor-1 \
        --data harbor_grow_hostname=<harbor_hostname>
    pyinfra inventories/prod_scaled.py deploys/grow.py --data harbor_grow_from=harbor-1 \
        --data harbor_grow_hostname=<harbor_hostname>
    pyinfra inventories/prod_scaled.py deploys/server.py

Runs ``harbor_deploy.harbor_grow`` on the nodes and the backing host.
"""

from pyinfra import host

from harbor_deploy import harbor_grow

if {"harbor_servers", "harbor_backing"} & set(host.groups):
    harbor_grow()
