"""secret_file.put: staged in a private dir with its mode set before it appears; no-op
when the content and mode match (pyinfra-testing specs under tests/fixtures/operations/);
secret_file.keep: never overwrites what another run kept meanwhile."""

from types import SimpleNamespace
from unittest import mock

from pyinfra_testing.operations import make_operation_tests

from harbor_deploy.lib.config.secrets import Secret
from harbor_deploy.operations import secret_file
from tests.conftest import FIXTURES

SPECS = FIXTURES / "operations"

TestSecretFilePut = make_operation_tests("harbor_deploy.operations", "secret_file.put", SPECS / "secret_file.put")
TestSecretFileUpload = make_operation_tests(
    "harbor_deploy.operations", "secret_file.upload", SPECS / "secret_file.upload"
)
TestSecretFileFetch = make_operation_tests("harbor_deploy.operations", "secret_file.fetch", SPECS / "secret_file.fetch")


def test_keep_fails_the_host_when_a_file_changed_since_the_run_read_it(tmp_path):
    """Another run of this controller kept its own generated password meanwhile: this
    host fails before it changes, naming the file, and the first value stays."""
    directory = tmp_path / "harbor.example.org"
    logged = []
    host = SimpleNamespace(print_prefix="[h] ", log_styled=lambda text, **_: logged.append(text))
    with mock.patch.object(secret_file, "host", host):
        [write] = secret_file.keep._inner(str(directory), {"db_password": Secret("mine", "t")}, {})
    directory.mkdir()
    (directory / "db_password").write_text("theirs")
    assert write.function(None, host, *write.args) is False
    assert logged == [
        f"controller secrets: db_password in {directory} changed since this run read them (another run at the "
        "same time?); nothing was changed here: run again"
    ]
    assert (directory / "db_password").read_text() == "theirs"
    (directory / "db_password").unlink()
    assert write.function(None, host, *write.args) is True
    assert (directory / "db_password").read_text() == "mine"
