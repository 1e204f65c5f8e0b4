"""Undo the last upgrade of one Harbor server: the previous release back, with the
data of the backup the upgrade took first. It replaces the live data, so it asks for
the hostname repeated and acts on one named host.

    pyinfra inventories/prod.py deploys/rollback.py --limit harbor-1 --data harbor_rollback_hostname=<harbor_hostname>
    # then set harbor_version back in the inventory

Runs ``harbor_deploy.harbor_rollback``.
"""

from pyinfra import host

from harbor_deploy import harbor_rollback

if "harbor_servers" in host.groups:
    harbor_rollback()
