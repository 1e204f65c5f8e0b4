"""docker_engine.installed on Debian, Ubuntu and the RHEL family (AlmaLinux 10 was
the original target; no RHEL host can be built here), from fact fixtures."""

from pyinfra_testing.operations import make_operation_tests

from tests.conftest import FIXTURES

SPECS = FIXTURES / "operations"

TestDockerEngineInstalled = make_operation_tests(
    "harbor_deploy.operations", "docker_engine.installed", SPECS / "docker_engine.installed"
)
