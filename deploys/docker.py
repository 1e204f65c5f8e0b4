"""Docker engine with compose v2 on every targeted host (what the server deploy also
does first when docker is missing; the client deploy installs dockerd and the CLI only),
from the default sources or the internal repository of ``harbor_docker_repo_url``.

    pyinfra inventories/prod.py deploys/docker.py --limit new-host
"""

from harbor_deploy import docker_engine

docker_engine()
