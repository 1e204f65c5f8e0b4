"""secret_file.put: staged in a private dir with its mode set before it appears; no-op
when the content and mode match (pyinfra-testing specs under tests/fixtures/operations/)."""

from pyinfra_testing.operations import make_operation_tests

from tests.conftest import FIXTURES

SPECS = FIXTURES / "operations"

TestSecretFilePut = make_operation_tests("harbor_deploy.operations", "secret_file.put", SPECS / "secret_file.put")
TestSecretFileUpload = make_operation_tests(
    "harbor_deploy.operations", "secret_file.upload", SPECS / "secret_file.upload"
)
TestSecretFileFetch = make_operation_tests("harbor_deploy.operations", "secret_file.fetch", SPECS / "secret_file.fetch")
