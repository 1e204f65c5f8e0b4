"""Benchmark only (``lab/bench.py``): the server deploy's installer stage alone, so its
upload can be timed against scp of the same bundle."""

from pyinfra import host

from harbor_deploy.stages import server

if "harbor_servers" in host.groups:
    server.installer_bundle(server.plan())
