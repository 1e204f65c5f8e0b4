"""The stand-in installed by hand, as Harbor's guide does, on the lab's real hosts."""

from tests.lab.conftest import lab  # noqa: F401  (fixture)
