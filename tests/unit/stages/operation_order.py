"""A deploy's operations planned as pyinfra's CLI plans a deploy file, and the order
it runs them in across hosts (each host's sequence, joined only through the operations
hosts share), for the stages' tests."""

from unittest import mock

import pyinfra
from pyinfra.api import Config, Inventory, State
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_host, ctx_state


def planned(names, deploy_file_code, **groups):
    """``(state, inventory)`` once ``deploy_file_code(host)`` ran for each of ``names``;
    ``groups``: ``{group: [names]}``."""
    inventory = Inventory((list(names), {}), **{group: (members, {}) for group, members in groups.items()})
    state = State(inventory, Config())
    state.current_deploy_filename = __file__
    state.current_op_file_number = 0
    state.set_stage(StateStage.Prepare)
    with mock.patch.object(pyinfra, "is_cli", True):
        for host in inventory:
            state.activate_host(host)
            with ctx_state.use(state), ctx_host.use(host):
                deploy_file_code(host)
    return state, inventory


def run_order(state, inventory, words=None):
    """``[(operation name, [hosts])]`` in the order pyinfra runs them: the name's last
    part (after the deploys'), its first ``words`` words when given."""
    order = []
    for op_hash in state.get_op_order():
        name = next(iter(state.get_op_meta(op_hash).names)).split(" | ")[-1]
        order.append(
            (
                name if words is None else name.split(" ")[:words],
                [h.name for h in inventory if op_hash in h.op_hash_order],
            )
        )
    return order
