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


def runs_if(state, inventory, host_name, name_start, failed=()):
    """Whether ``host_name`` runs its operation whose name starts with ``name_start``
    once the hosts ``failed`` have failed (its ``_if``, asked as the run would)."""
    host = inventory.get_host(host_name)
    [op_hash] = [
        op_hash
        for op_hash in host.op_hash_order
        if next(iter(state.get_op_meta(op_hash).names)).split(" | ")[-1].startswith(name_start)
    ]
    condition = state.get_op_data_for_host(host, op_hash).global_arguments.get("_if")
    state.failed_hosts = {inventory.get_host(name) for name in failed}
    try:
        return condition is None or all(
            check() for check in (condition if isinstance(condition, list) else [condition])
        )
    finally:
        state.failed_hosts = set()
