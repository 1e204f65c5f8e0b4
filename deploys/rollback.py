"""Undo the last upgrade of one Harbor server: the previous release back, with the
data of the backup the upgrade took first. It replaces the live data, so it asks for
the hostname repeated and acts on one named host.

    pyinfra inventories/prod.py deploys/rollback.py --limit harbor-1 --data harbor_rollback_hostname=<harbor_hostname>
    # then set harbor_version back in the inventory

    # A Harbor of several nodes: all of its hosts, harbor_version naming the release to go back to
    pyinfra inventories/prod_scaled.py deploys/rollback.py --data harbor_version=v2.13.1 \
        --data harbor_rollback_hostname=<harbor_hostname>

Runs ``harbor_deploy.harbor_rollback``.
"""

from pyinfra import host

from harbor_deploy import harbor_rollback

# A Harbor of several nodes goes back as one: its nodes, load balancer and backing host.
if {"harbor_servers", "harbor_lb", "harbor_backing"} & set(host.groups):
    harbor_rollback()
