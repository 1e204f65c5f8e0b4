"""Replace robots' secrets and log their Docker clients in again with the new ones, in
one run (docs/configure.md#robots-that-expire-secrets-to-replace).

    pyinfra inventories/prod.py deploys/robot_refresh.py --data harbor_robot_refresh='["apps+ci"]'

Runs ``harbor_deploy.harbor_robot_refresh`` on the ``harbor_servers`` (the first of each
Harbor replaces the secrets) and the ``docker_clients`` (each logs in again when its
robot's secret changed), in that order.
"""

from pyinfra import host

from harbor_deploy import harbor_robot_refresh

if "harbor_servers" in host.groups or "docker_clients" in host.groups:
    harbor_robot_refresh()
