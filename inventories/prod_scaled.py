"""Example inventory of a scaled-out Harbor: copy it, fill in your hosts and names.

    pyinfra inventories/prod_scaled.py deploys/backing.py     # PostgreSQL, Redis, Swift (managed services: skip)
    pyinfra inventories/prod_scaled.py deploys/server.py      # both nodes and the load balancer, one node at a time
    pyinfra inventories/prod_scaled.py deploys/configure.py   # projects, robots, GC (once for both nodes)
    pyinfra inventories/prod_scaled.py deploys/client.py      # every Docker host

Two Harbor nodes sharing their state (database, Redis, object store) on a backing
host, behind HAProxy ending TLS (docs/scale-out.md). Hosts are named and reached by
their own addresses: ``registry.example.com``, the name clients use, resolves to the
load balancer, never to a host the deploys SSH into. Secrets never go here: the
backing services' passwords are ``external_db_password``, ``external_redis_password``
and ``object_store_key`` in the controller secrets dir (or their environment
variables), as docs/secrets.md says.
"""

_public = "registry.example.com"
_backing = "10.0.0.30"  # the backing host's address on the network the nodes share

# What every host must agree on: the name and port clients reach Harbor at, where the
# controller keeps the secrets, the SSH user with sudo.
_shared = {
    "harbor_hostname": _public,
    "harbor_https_port": 8443,
    "harbor_secrets_dir": ".secrets",  # next to this file; back it up
    "ssh_user": "deploy",
    "_sudo": True,
}
# What the nodes, the load balancer and the backing host read: the same on each node.
_harbor = {
    **_shared,
    "harbor_version": "v2.13.1",
    "harbor_external_url": f"https://{_public}:8443",  # the token realm, behind the load balancer
    "harbor_lb_tls": "terminate",
    "harbor_external_database": {
        "host": _backing,
        "port": 5432,
        "db_name": "registry",
        "username": "harbor",
        "ssl_mode": "verify-full",
    },
    "harbor_external_redis": {"host": f"{_backing}:6379"},
    "harbor_storage_service": {
        "s3": {
            "region": "us-east-1",
            "regionendpoint": f"http://{_backing}:8080",
            "bucket": "harbor",
            "accesskey": "harbor:registry",
            "secretkey": {"secret": "object_store_key"},
            "secure": False,
            "v4auth": True,
        },
        "redirect": {"disable": True},
    },
    "harbor_backing_allowed_sources": ["10.0.0.0/24"],
    # Configuration as code (deploys/configure.py runs once for both nodes).
    "harbor_projects": [{"name": "apps", "public": False, "storage_quota": "50G", "auto_scan": True}],
    "harbor_robots": [
        {"name": "ci", "project": "apps", "description": "Jenkins pushes"},
        {"name": "puller", "project": "apps", "access": ["pull"], "description": "production nodes"},
    ],
    "harbor_gc_schedule": {"schedule": "Weekly", "delete_untagged": True, "workers": 1},
}

# The nodes: SSH to their own addresses; the load balancer reaches them there too.
harbor_servers = [
    ("harbor-node-1", {**_harbor, "ssh_hostname": "10.0.0.11"}),
    ("harbor-node-2", {**_harbor, "ssh_hostname": "10.0.0.12"}),
]
# HAProxy in front of them, where registry.example.com points.
harbor_lb = [("harbor-lb-1", {**_harbor, "ssh_hostname": "10.0.0.10"})]
# PostgreSQL, Redis and Swift for both nodes (leave out with managed services).
harbor_backing = [("harbor-backing-1", {**_harbor, "ssh_hostname": _backing})]
# Docker hosts that trust, log in to, push to and pull from the registry, as a robot
# account, never admin (each logged-in user keeps the password in ~/.docker/config.json).
_client = {**_shared, "harbor_client_username": "robot$apps+puller"}
docker_clients = [
    ("docker-01", {**_client, "ssh_hostname": "10.0.1.21"}),
    ("docker-02", {**_client, "ssh_hostname": "10.0.1.22"}),
    # The CI agent pushes: user jenkins logs in as the project's CI robot.
    (
        "jenkins-agent-01",
        {
            **_client,
            "ssh_hostname": "10.0.1.31",
            "harbor_client_username": "robot$apps+ci",
            "harbor_client_login_users": ["jenkins"],
        },
    ),
]
# No `all` here: pyinfra makes it of every group's hosts (an `all` listing some of them
# would leave the others out).
