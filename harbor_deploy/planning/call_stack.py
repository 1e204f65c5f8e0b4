"""pyinfra orders operations by the line numbers of the stack that added them
(``pyinfra.api.util.get_operation_order_from_stack``, ``get_call_location``). It
reads that stack with ``inspect.stack()`` and ``inspect.getframeinfo()``, which also
read a line of source for every frame, and for a frame of a deploy file (executed,
not imported) ``inspect.getmodule`` walks every loaded module to find it: about a
third of the controller's planning work per operation, on its one thread, for every
host of a fleet. Only each frame's file name and line number are used, so reading
the stack without source lines (``context=0``) gives the same order for less.
"""

import inspect
import sys

from pyinfra.api import util as pyinfra_util


def stack_without_source():
    """``inspect.stack(context=0)``, from the caller's frame as ``inspect.stack`` starts."""
    return inspect.getouterframes(sys._getframe(1), context=0)


def frame_info_without_source(frame):
    return inspect.getframeinfo(frame, context=0)


def read_without_source():
    """Have pyinfra read call stacks without source lines (once; a pyinfra whose
    ``api.util`` reads them otherwise is left as it is)."""
    if pyinfra_util.stack is inspect.stack and pyinfra_util.getframeinfo is inspect.getframeinfo:
        pyinfra_util.stack = stack_without_source
        pyinfra_util.getframeinfo = frame_info_without_source
