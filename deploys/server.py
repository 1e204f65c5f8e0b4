"""Bare server to a healthy Harbor; run again, nothing changes.

    pyinfra inventories/prod.py deploys/server.py

Runs on the ``harbor_servers`` group. Every stage is a named ``@deploy`` in
``harbor_deploy/stages``; README lists the inventory keys.
"""

from pyinfra import host

from harbor_deploy.stages import server
from harbor_deploy.stages.docker_engine import docker_engine

if "harbor_servers" in host.groups:
    plan = server.plan()  # validates data and fetches the installer before any change
    server.controller_secrets(plan)
    server.preflight(plan)
    docker_engine()
    server.installer_bundle(plan)
    inputs = [*server.tls_files(plan), server.harbor_config(plan)]
    unit = server.systemd_unit(plan)
    applied = server.apply(plan, inputs)
    server.service(plan)
    server.firewall(plan)
    server.verify(plan, changes=[*inputs, unit, applied])
    server.summary(plan)
