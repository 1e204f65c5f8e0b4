"""secret_file.put: staged in a private dir with its mode set before it appears; no-op
when the content and mode match (pyinfra-testing specs under tests/fixtures/operations/)."""

from types import SimpleNamespace
from unittest import mock

from pyinfra_testing.operations import make_operation_tests

from harbor_deploy.operations import secret_file
from tests.conftest import FIXTURES

SPECS = FIXTURES / "operations"

TestSecretFilePut = make_operation_tests("harbor_deploy.operations", "secret_file.put", SPECS / "secret_file.put")
TestSecretFileUpload = make_operation_tests(
    "harbor_deploy.operations", "secret_file.upload", SPECS / "secret_file.upload"
)
TestSecretFileFetch = make_operation_tests("harbor_deploy.operations", "secret_file.fetch", SPECS / "secret_file.fetch")


def test_keep_writes_private_files_and_removes_the_ones_set_to_none(tmp_path):
    (tmp_path / "provided-chain.crt").write_text("old chain")
    with mock.patch.object(secret_file, "host", SimpleNamespace(print_prefix="[h] ")):
        [command] = secret_file.keep._inner(
            tmp_path, {"provided-chain.crt": None, "ca.crt": b"CA"}, {"provided-chain.crt": "removed"}
        )
    command.function(*command.args, **command.kwargs)
    assert not (tmp_path / "provided-chain.crt").exists()
    assert (tmp_path / "ca.crt").read_bytes() == b"CA" and (tmp_path / "ca.crt").stat().st_mode & 0o777 == 0o600
