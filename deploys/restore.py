"""Restore a backup onto every Harbor server: the same one, or a new one the server
deploy installed first (same release or newer).

    pyinfra inventories/prod.py deploys/restore.py                                  # the latest backup
    pyinfra inventories/prod.py deploys/restore.py --data harbor_restore_from=harbor-20261128T221500Z-v2.13.1

Runs ``harbor_deploy.harbor_restore``.
"""

from pyinfra import host

from harbor_deploy import harbor_restore

if "harbor_servers" in host.groups:
    harbor_restore()
