"""Harbor's settings as code: admin password, registries, users, projects, members,
robot accounts, tag retention, immutable tag rules, webhooks, replication, scanning
and the GC schedule, converged through the REST API.

    pyinfra inventories/prod.py deploys/configure.py          # --dry: list the changes only

Runs ``harbor_deploy.harbor_configure`` on the controller, once per Harbor instance
of ``harbor_servers``, after the server deploy. Secrets (managed admin password, user
passwords, robot secrets) go to the controller secrets dir, never to the output.
"""

from pyinfra import host

from harbor_deploy import harbor_configure

if "harbor_servers" in host.groups:
    harbor_configure()
