"""The stand-in's tests. pyinfra's CLI package patches the standard library with gevent
on import: patched first here too (tests/conftest.py), before anything imports ssl."""

import tests.conftest  # noqa: F401
