"""Facts whose output holds secrets, read without printing it at any verbosity."""

from contextlib import contextmanager

from pyinfra import host, state


class _HiddenFactOutput:
    """pyinfra prints fact output at -vvv; while any quiet read runs, it doesn't.
    Counted, because hosts read their facts concurrently."""

    def __init__(self):
        self.readers, self.saved = 0, False

    @contextmanager
    def __call__(self, current_state):
        if self.readers == 0:
            self.saved = current_state.print_fact_output
        self.readers += 1
        current_state.print_fact_output = False
        try:
            yield
        finally:
            self.readers -= 1
            if self.readers == 0:
                current_state.print_fact_output = self.saved


_hidden_fact_output = _HiddenFactOutput()


def quiet_fact(fact, on=None, **arguments):
    """``host.get_fact(fact, **arguments)`` (of host ``on``, else the current one) with
    its output never printed. The fact's command must always succeed: pyinfra prints
    the output of a failing one."""
    with _hidden_fact_output(state):
        return (on or host).get_fact(fact, **arguments)
