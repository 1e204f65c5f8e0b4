"""The server stages' files: harbor.service as each kind of Harbor gets it."""

from pyinfra.api.util import get_template

from harbor_deploy.lib import TEMPLATES
from harbor_deploy.lib.config.defaults import SHARED_VALUES, SHARED_VALUES_SCRIPT


def unit(shared_values):
    return get_template(str(TEMPLATES / "harbor.service.j2")).render(
        install_dir="/usr/local/harbor",
        project="harbor",
        log_port=1514,
        shared_values=shared_values,
        shared_values_script=SHARED_VALUES_SCRIPT,
    )


def test_a_node_of_several_writes_the_shared_values_before_every_start_a_single_node_keeps_its_unit():
    single, node = unit(None).splitlines(), unit(SHARED_VALUES).splitlines()
    assert "shared-values" not in "\n".join(single)
    write = f"ExecStartPre=/bin/sh {SHARED_VALUES_SCRIPT} {SHARED_VALUES} /usr/local/harbor/common/config"
    # After the other ExecStartPre lines, right before the containers start; nothing else differs.
    assert node[node.index(write) + 1].startswith("ExecStart=/usr/bin/docker compose")
    assert [line for line in node if line not in single and not line.startswith("#")] == [write]
