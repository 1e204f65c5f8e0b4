"""Throwaway deploy for tests/lab/test_ops_on_lab.py: the custom firewalld and
docker_daemon operations on a real host. The test passes the port and registry:

    pyinfra -y inventories/lab.py tests/lab/deploys/ops_on_lab.py --limit client-2 \\
        --data test_port=18099 --data test_registry=hd-ops-test.invalid:5000

With ``--data test_log_driver=<name>`` the change also needs a docker restart.
"""

from pyinfra import host

from harbor_deploy.operations import docker_daemon, firewalld

port = int(host.data.test_port)
settings = {"insecure-registries": [host.data.test_registry]}
if host.data.get("test_log_driver"):
    settings["log-driver"] = host.data.test_log_driver

firewalld.port(name=f"Open test port {port}/tcp", port=port, protocol="tcp")

daemon_config = docker_daemon.daemon_json(
    name="Merge the test insecure registry into daemon.json",
    settings=settings,
)
docker_daemon.apply(name="Apply daemon.json", _if=daemon_config.did_change)
