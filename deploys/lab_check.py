"""Prove pyinfra reaches every host over SSH and reads its facts.

    pyinfra inventories/lab.py deploys/lab_check.py

Prints one line per host (OS, systemd, docker, compose, firewalld); changes nothing.
"""

import json

from pyinfra import host, logger

from harbor_deploy.facts.docker import DockerEngine
from harbor_deploy.facts.host import HostOverview

overview = host.get_fact(HostOverview)
engine = host.get_fact(DockerEngine)
report = {
    **overview,
    "docker_installed": engine["installed"],
    "docker_version": engine["version"],
    "compose_version": engine["compose_version"],
}
logger.info(f"lab-check {host.name} {json.dumps(report, sort_keys=True)}")
