"""Docker hosts trust, log in to, push to and pull from Harbor; run again, nothing changes.

    pyinfra inventories/prod.py deploys/client.py

Runs on the ``docker_clients`` group, all hosts in parallel (daemon reloads and
restarts in batches of ``harbor_client_restart_batch``). A host that fails (e.g.
its daemon.json is not valid JSON) stops there; the others carry on and pyinfra's
summary names it. Every stage is a named ``@deploy`` in
``harbor_deploy/stages``; README lists the inventory keys.
"""

from pyinfra import host

from harbor_deploy.defaults import CLIENT_GROUP
from harbor_deploy.stages import client
from harbor_deploy.stages.docker_engine import docker_engine

if CLIENT_GROUP in host.groups:
    plan = client.plan()  # checks data and resolves CA and password before any change
    docker_engine()
    client.daemon_config(plan)
    client.trust(plan)
    client.login(plan)
    if plan.smoke_test:
        client.smoke_test(plan)
