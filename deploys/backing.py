"""PostgreSQL, Redis and object storage (Swift + S3 API) for several Harbor nodes;
run again, nothing changes.

    pyinfra inventories/prod.py deploys/backing.py

Runs ``harbor_deploy.harbor_backing`` on the ``harbor_backing`` group: it serves what
``harbor_external_database``, ``harbor_external_redis`` and ``harbor_storage_service``
say (docs/keys.md lists the keys; docs/scale-out.md the whole setup).
"""

from pyinfra import host

from harbor_deploy import harbor_backing

if "harbor_backing" in host.groups:
    harbor_backing()
