"""A running Harbor's configuration as configure's keys: YAML written to the
controller file ``harbor_export_file`` (no secrets), for configure to take back
through ``harbor_config_file``.

    pyinfra inventories/prod.py deploys/export.py --data harbor_export_file=harbor.yml

Runs ``harbor_deploy.harbor_export`` on the controller, once per Harbor instance of
``harbor_servers``. Changes nothing in Harbor.
"""

from pyinfra import host

from harbor_deploy import harbor_export

if "harbor_servers" in host.groups:
    harbor_export()
