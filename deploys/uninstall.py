"""Remove Harbor from every Harbor server; its data stays unless a purge is asked for
twice.

    pyinfra inventories/prod.py deploys/uninstall.py          # --dry: list what goes
    pyinfra inventories/prod.py deploys/uninstall.py --data harbor_uninstall_purge=true \\
        --data harbor_uninstall_purge_hostname=harbor.example.org   # data deleted too

Runs ``harbor_deploy.harbor_uninstall``; the server deploy afterwards brings the same
Harbor back on the data it kept.
"""

from pyinfra import host

from harbor_deploy import harbor_uninstall

if "harbor_servers" in host.groups:
    harbor_uninstall()
