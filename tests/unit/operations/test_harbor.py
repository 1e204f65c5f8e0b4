"""harbor.installer_bundle: sends the bundle only when the host's recorded checksum or
size differs, verifies it on the host before it takes its name, unpacks aside and
links (pyinfra-testing specs under tests/fixtures/operations/harbor.installer_bundle/)."""

from pyinfra_testing.operations import make_operation_tests

from tests.conftest import FIXTURES

SPECS = FIXTURES / "operations"

TestInstallerBundle = make_operation_tests(
    "harbor_deploy.operations", "harbor.installer_bundle", SPECS / "harbor.installer_bundle"
)
