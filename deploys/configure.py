"""Harbor's settings as code: admin password, registries, users, projects, members,
robot accounts, tag retention and GC schedule, converged through the REST API.

    pyinfra inventories/prod.py deploys/configure.py          # --dry: list the changes only

Runs on the controller, once per Harbor instance of ``harbor_servers``, after the
server deploy. Secrets (managed admin password, user passwords, robot secrets) go
to the controller secrets dir, never to the output. Every stage is a named
``@deploy`` in ``harbor_deploy/stages``; README lists the inventory keys.
"""

from harbor_deploy.stages import configure

if configure.configures_here():
    plan = configure.plan()  # checks data and reaches the API before any change
    configure.admin_password(plan)
    configure.harbor_resources(plan)
