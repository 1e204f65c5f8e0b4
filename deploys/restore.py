"""Restore a backup onto one Harbor server: the same one, or a new one the server
deploy installed first (same release or newer). It replaces the live data, so it
asks for the hostname repeated and acts on one named host.

    pyinfra inventories/prod.py deploys/restore.py --limit harbor-1 \
        --data harbor_restore_from=harbor-20261128T221500Z-v2.13.1 --data harbor_restore_hostname=<harbor_hostname>
    # or from a backup folder on the controller (a replaced server's):
    #   --data harbor_restore_from=harbor-backups/old-server/harbor-20261128T221500Z-v2.13.1

Runs ``harbor_deploy.harbor_restore``.
"""

from pyinfra import host

from harbor_deploy import harbor_restore

if "harbor_servers" in host.groups:
    harbor_restore()
