"""The last lines of Harbor's logs from every Harbor server, to the controller; changes
nothing on the hosts.

    pyinfra -y inventories/prod.py deploys/logs.py --data harbor_logs_lines=500

Writes ``<harbor_logs_dir>/<host>/<component>.log`` (``harbor_deploy.harbor_logs``).
"""

from pyinfra import host

from harbor_deploy import harbor_logs

if "harbor_servers" in host.groups:
    harbor_logs()
