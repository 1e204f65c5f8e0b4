"""Example production inventory: copy it, replace the placeholder hosts.

    pyinfra inventories/prod.py deploys/lab_check.py

Hosts are reached over SSH as pyinfra usually does (``ssh_user``, ``ssh_key``,
``~/.ssh/config`` ...). Every data key the deploys read, with its default and
meaning, is listed in README.md ("Inventory keys"); set them per group here or in
``group_data/<group>.py`` next to this file. Secrets (passwords) do not belong in
this file: they come from environment variables or the controller secrets dir.
"""

# The Harbor registry server(s). One server per Harbor instance.
harbor_servers = [
    ("registry.example.com", {
        "ssh_user": "root",
    }),
]

# Docker hosts that trust, log in to, push to and pull from the registry:
# developer boxes, CI agents (e.g. a `jenkins` OS user), production nodes.
docker_clients = [
    ("docker-01.example.com", {"ssh_user": "root"}),
    ("docker-02.example.com", {"ssh_user": "root"}),
    ("jenkins-agent-01.example.com", {"ssh_user": "root"}),
]
