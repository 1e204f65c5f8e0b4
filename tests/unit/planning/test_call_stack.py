"""pyinfra reads call stacks without source lines: the same operation order and
call locations."""

import inspect
import os
from types import SimpleNamespace

from pyinfra.api import util as pyinfra_util

from harbor_deploy.planning import call_stack

DEPLOY_FILE = """\
def outer(read):
    return inner(read)

def inner(read):
    return read()

order = outer(READ)
"""


def test_operations_are_ordered_by_the_same_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(pyinfra_util, "stack", inspect.stack)
    monkeypatch.setattr(pyinfra_util, "getframeinfo", inspect.getframeinfo)
    deploy_file = tmp_path / "deploy.py"  # executed, not imported: as pyinfra runs a deploy file
    deploy_file.write_text(DEPLOY_FILE)
    state = SimpleNamespace(current_deploy_filename=str(deploy_file), current_op_file_number=0)

    def order():
        namespace = {
            "READ": lambda: (pyinfra_util.get_operation_order_from_stack(state), pyinfra_util.get_call_location())
        }
        exec(compile(DEPLOY_FILE, str(deploy_file), "exec"), namespace)
        return namespace["order"]

    with_source = order()
    call_stack.read_without_source()
    assert pyinfra_util.stack is call_stack.stack_without_source
    assert order() == with_source
    assert with_source[0][:3] == [7, 2, 5]  # the deploy file's line, then each call's
    assert with_source[1] == f"line 5 in {os.path.relpath(deploy_file)}"  # named in pyinfra's errors


def test_a_pyinfra_reading_stacks_otherwise_is_left_alone(monkeypatch):
    def own_stack():
        return []

    monkeypatch.setattr(pyinfra_util, "stack", own_stack)
    call_stack.read_without_source()
    assert pyinfra_util.stack is own_stack
