"""packages.installed with apt (Debian, Ubuntu) and dnf (the RHEL family: the load
balancer's HAProxy), from fact fixtures: only the missing packages, nothing when all
are there."""

from pyinfra_testing.operations import make_operation_tests

from tests.conftest import FIXTURES

TestPackagesInstalled = make_operation_tests(
    "harbor_deploy.operations", "packages.installed", FIXTURES / "operations" / "packages.installed"
)
