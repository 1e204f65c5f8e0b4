"""Undo the last upgrade of every Harbor server: the previous release back, with the
data of the backup the upgrade took first.

    pyinfra inventories/prod.py deploys/rollback.py      # then set harbor_version back in the inventory

Runs ``harbor_deploy.harbor_rollback``.
"""

from pyinfra import host

from harbor_deploy import harbor_rollback

if "harbor_servers" in host.groups:
    harbor_rollback()
