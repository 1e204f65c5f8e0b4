"""Back up every Harbor server, on the server and (by default) to the controller;
Harbor keeps serving.

    pyinfra -y inventories/prod.py deploys/backup.py
    pyinfra -y inventories/prod.py deploys/backup.py --data harbor_backup_registry=true   # image layers too

Runs ``harbor_deploy.harbor_backup``.
"""

from pyinfra import host

from harbor_deploy import harbor_backup

if "harbor_servers" in host.groups:
    harbor_backup()
