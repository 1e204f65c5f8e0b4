"""Docker engine with compose v2 on every targeted host (what the server and client
deploys also do first when docker is missing).

    pyinfra inventories/prod.py deploys/docker.py --limit new-host
"""

from harbor_deploy import docker_engine

docker_engine()
