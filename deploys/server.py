"""Bare server to a healthy Harbor; run again, nothing changes.

    pyinfra inventories/prod.py deploys/server.py

Runs ``harbor_deploy.harbor_server`` on the ``harbor_servers`` group; README lists
the inventory keys.
"""

from pyinfra import host

from harbor_deploy import harbor_server

if "harbor_servers" in host.groups:
    harbor_server()
