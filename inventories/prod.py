"""Example production inventory: copy it, fill in your hosts and names.

    pyinfra inventories/prod.py deploys/server.py --dry --diff   # what would change
    pyinfra inventories/prod.py deploys/server.py                # Harbor on the servers
    pyinfra inventories/prod.py deploys/configure.py             # projects, robots, GC
    pyinfra inventories/prod.py deploys/client.py                # every Docker host

Every data key the deploys read is listed with its default in docs/keys.md. Data
shared by both groups sits in ``all`` (pyinfra's own convention, like
``group_data/all.py``); a group's tuple carries what only its hosts need; a host's
own dict wins over both. Secrets never go here: they come from environment
variables or the controller secrets dir (docs/secrets.md). Relative controller
paths (the secrets dir) are taken from this file's folder.
"""

# What servers and clients must agree on: the name clients reach Harbor at, its
# ports, and where the controller keeps the secrets (the CA clients trust included).
_shared = {
    "harbor_hostname": "registry.example.com",
    "harbor_https_port": 8443,
    "harbor_http_port": 8081,
    "harbor_secrets_dir": ".secrets",  # next to this file; back it up
    # Servers are reached as a normal user with sudo, as most sites do. With a sudo
    # password, run with --use-sudo-password (asked once) or set _sudo_password here
    # from your vault: it never appears on a remote command line.
    "ssh_user": "deploy",
    "_sudo": True,
}

# The Harbor server(s): one host per Harbor instance, reached over SSH at its own
# address, not at the name clients use (which may move to a load balancer).
harbor_servers = (
    [("harbor-1", {"ssh_hostname": "10.0.0.10"})],
    {
        "harbor_version": "v2.13.1",
        "harbor_data_volume": "/data",
        # Your own certificate instead of the generated CA; the chain goes up to its root
        # CA, which the clients then trust (docs/server.md#a-certificate-from-your-own-ca):
        # "harbor_tls_mode": "provided",
        # "harbor_tls_certificate": "tls/registry.crt", "harbor_tls_private_key": "tls/registry.key",
        # "harbor_tls_chain": "tls/chain.pem",
        # When the controller can't resolve harbor_hostname (split DNS, no record yet),
        # name an address it can reach and put it in the generated certificate too:
        # "harbor_api_host": "10.0.0.10",
        # "harbor_tls_extra_sans": ["10.0.0.10"],
        "harbor_firewall_zone": "public",
        # Air-gapped site (docs/offline.md): an internal mirror of GitHub's Harbor releases,
        # and Docker's packages from an internal repository (clients too: put it in _shared).
        # "harbor_installer_source": "mirror", "harbor_mirror_url": "https://mirror.example.com/github",
        # "harbor_docker_repo_url": "https://mirror.example.com/docker-ce/rhel",
        # "harbor_docker_repo_key": "keys/docker-ce.asc",
        # Configuration as code (deploys/configure.py).
        "harbor_projects": [
            {
                "name": "apps",
                "public": False,
                "storage_quota": "50G",
                "auto_scan": True,
                "retention": {"schedule": "Daily", "rules": [{"template": "latestPushedK", "count": 20}]},
            },
        ],
        "harbor_robots": [
            {"name": "ci", "project": "apps", "description": "Jenkins pushes"},
            {"name": "puller", "project": "apps", "access": ["pull"], "description": "production nodes"},
        ],
        "harbor_gc_schedule": {"schedule": "Weekly", "delete_untagged": True, "workers": 1},
    },
)

# Docker hosts that trust, log in to, push to and pull from the registry: developer
# boxes, CI agents (a `jenkins` OS user), production nodes.
docker_clients = (
    [
        "docker-01.example.com",
        "docker-02.example.com",
        # The CI agent pushes: user jenkins logs in as the project's CI robot.
        (
            "jenkins-agent-01.example.com",
            {"harbor_client_username": "robot$apps+ci", "harbor_client_login_users": ["jenkins"]},
        ),
    ],
    {
        # A robot account, never admin: each logged-in user keeps the password in
        # ~/.docker/config.json. Its secret comes from deploys/configure.py (secrets dir).
        "harbor_client_username": "robot$apps+puller",
        "harbor_client_login_users": ["root"],
        "harbor_client_daemon_extra": {"live-restore": True},
        "harbor_client_restart_batch": 1,
    },
)

# pyinfra's group of every host, with the data they share: every group of this file
# (a group left out here, harbor_lb or harbor_backing added later, is never created).
all = (  # noqa: A001
    [name if isinstance(name, str) else name[0] for group in (harbor_servers, docker_clients) for name in group[0]],
    _shared,
)
