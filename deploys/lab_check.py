"""Prove pyinfra reaches every host over SSH and reads its facts.

    pyinfra inventories/lab.py deploys/lab_check.py

Prints one line per host (OS, systemd, docker, compose, firewalld); changes nothing.
"""

import json

from pyinfra import host, logger

from harbor_deploy.facts.host import HostOverview

overview = host.get_fact(HostOverview)
logger.info(f"lab-check {host.name} {json.dumps(overview, sort_keys=True)}")
