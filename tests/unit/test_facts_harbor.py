"""Harbor facts: masking on the host equals the controller's masking; parsing."""

import subprocess

import pytest

from facts.harbor import HarborHealth, HarborInstallation, MaskedFileContents
from harbor_deploy import harbor_yml
from harbor_deploy.defaults import merged
from harbor_deploy.secrets import HarborSecrets, Secret

NASTY = ["Adm1n: #pass", "'quoted'", "- dash", "null", "ünïcødé", "back\\slash", "line\nbreak"]


@pytest.mark.parametrize("password", NASTY)
def test_host_side_masking_matches_the_controller_masking(tmp_path, password):
    config = merged({"harbor_hostname": "harbor.example.com",
                     "harbor_storage_service": {"s3": {"accesskey": "AK", "secretkey": "SK-value",
                                                       "bucket": "b"}}})
    text = harbor_yml.render(config, HarborSecrets(Secret(password, "t"), Secret("Db-" + password, "t")))
    path = tmp_path / "harbor.yml"
    path.write_text(text)
    command = MaskedFileContents().command(path=str(path))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    fact = MaskedFileContents().process(output.splitlines())
    assert fact == harbor_yml.masked(text).splitlines()
    for secret in (password, "SK-value"):
        if secret != "null":
            assert all(secret not in line for line in fact)


def test_masked_file_contents_of_a_missing_file_is_none(tmp_path):
    command = MaskedFileContents().command(path=str(tmp_path / "absent.yml"))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    assert MaskedFileContents().process(output.splitlines()) is None
