"""trivy.database: a Trivy database bundle placed in the trivy-adapter's cache only when
the one there came from another bundle (or is not the scanner's), checked and unpacked
aside before it replaces the folder (pyinfra-testing specs under
tests/fixtures/operations/trivy.database/)."""

from pyinfra_testing.operations import make_operation_tests

from tests.conftest import FIXTURES

TestTrivyDatabase = make_operation_tests(
    "harbor_deploy.operations", "trivy.database", FIXTURES / "operations" / "trivy.database"
)
