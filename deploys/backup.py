"""Back up every Harbor server, and the database a scaled-out Harbor's nodes share on
its ``harbor_backing`` host, there and (by default) to the controller; Harbor keeps
serving.

    pyinfra -y inventories/prod.py deploys/backup.py
    pyinfra -y inventories/prod.py deploys/backup.py --data harbor_backup_registry=true   # image layers too

Runs ``harbor_deploy.harbor_backup``.
"""

from pyinfra import host

from harbor_deploy import harbor_backup

if "harbor_servers" in host.groups or "harbor_backing" in host.groups:
    harbor_backup()
