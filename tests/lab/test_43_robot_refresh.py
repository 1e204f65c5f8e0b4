"""A robot's secret replaced and rolled out in one run: ``deploys/robot_refresh.py``
with ``harbor_robot_refresh`` naming the lab's client robot (``demo+ci``). Harbor
refuses the old secret afterwards, the secrets dir holds the new one, and every
client's stored login works with it, without a second run; configure and the client
deploy then change nothing."""

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api.client import HarborClient
from lab.labctl import PREFIX
from tests.lab.conftest import changed_count, host_exec, run_pyinfra

ROBOT = "demo+ci"
BOTH = ("-y", "inventories/lab.py", "deploys/configure.py", "deploys/client.py")


def test_a_robot_secret_replaced_and_rolled_out_to_the_clients_in_one_run(lab, harbor_server):
    # The robot and the clients' logins as the lab has them (the clients' plan needs
    # the robot's secret: configure first).
    run_pyinfra("-y", "inventories/lab.py", "deploys/configure.py")
    run_pyinfra("-y", "inventories/lab.py", "deploys/client.py")
    store = SecretStore(harbor_server["secrets_dir"] / harbor_server["hostname"])
    old = store.read(f"robots/{ROBOT}").reveal()

    rolled = run_pyinfra(
        "-y", "inventories/lab.py", "deploys/robot_refresh.py", "--data", f'harbor_robot_refresh=["{ROBOT}"]'
    )

    new = store.read(f"robots/{ROBOT}").reveal()
    assert new != old
    assert old not in rolled.stdout + rolled.stderr and new not in rolled.stdout + rolled.stderr
    api = HarborClient(
        f"https://{harbor_server['address']}:{harbor_server['https_port']}",
        verify=str(store.path("ca.crt")),
        retries=0,
    )
    assert not api.with_credentials(f"robot${ROBOT}", old).authenticates()
    assert api.with_credentials(f"robot${ROBOT}", new).get("/projects/demo", "project demo")["name"] == "demo"
    for client in (h for h in lab["hosts"] if h["group"] == "docker_clients"):
        stored = host_exec(
            f"{PREFIX}-{client['name']}",
            f"docker login {harbor_server['registry']} </dev/null >/dev/null 2>&1 && echo works || echo refused",
        )
        assert stored == "works", client["name"]
    assert changed_count(run_pyinfra("-y", "--json", *BOTH[1:])) == 0
