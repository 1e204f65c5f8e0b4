"""secret_file.put: staged in a private dir with its mode set before it appears; no-op
when the content and mode match (pyinfra-testing specs under tests/fixtures/operations/);
secret_file.keep: never overwrites what another run kept meanwhile."""

import os
import subprocess
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


def test_keep_writes_private_files_and_removes_the_ones_set_to_none(tmp_path):
    (tmp_path / "provided-chain.crt").write_text("old chain")
    with mock.patch.object(secret_file, "host", SimpleNamespace(print_prefix="[h] ")):
        [command] = secret_file.keep._inner(
            tmp_path,
            {"provided-chain.crt": None, "ca.crt": b"CA"},
            {"provided-chain.crt": "removed"},
            as_read={"provided-chain.crt": b"old chain"},
        )
    assert command.function(None, None, *command.args) is True
    assert not (tmp_path / "provided-chain.crt").exists()
    assert (tmp_path / "ca.crt").read_bytes() == b"CA" and (tmp_path / "ca.crt").stat().st_mode & 0o777 == 0o600


def test_put_writes_the_content_byte_exact_from_the_commands_stdin(tmp_path):
    """The one command run by a local shell as a connection runs it (its ``_stdin``
    written as pyinfra writes it: text lines, a newline added to the last one): any
    bytes, no final newline kept as it is, the mode set, nothing staged left."""
    dest = tmp_path / "tls" / "server.key"
    dest.parent.mkdir()
    content = bytes(range(256)) + b"no final newline"
    owner = f"{os.getuid()}:{os.getgid()}"
    with mock.patch.object(secret_file, "state", SimpleNamespace(config=SimpleNamespace(DIFF=False))):
        [put] = secret_file.put._inner(str(dest), content, mode="0640", owner=owner, known_files={})
    stdin = put.connector_arguments["_stdin"]
    sent = stdin if stdin.endswith("\n") else stdin + "\n"
    subprocess.run(["sh", "-c", str(put)], input=sent.encode(), check=True)
    assert dest.read_bytes() == content
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["server.key"]
