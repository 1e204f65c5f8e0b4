"""TrivyDatabases: Trivy's databases in the trivy-adapter's cache, their owner, metadata
and the bundle they came from (outputs captured by running the fact's command on a
cache the trivy.database operation placed, then with a file and a folder of root's)."""

import subprocess

from harbor_deploy.facts.trivy import TrivyDatabases
from tests.conftest import FIXTURES

FACT_OUTPUTS = FIXTURES / "facts"
BUNDLE = "08e81fe33fcc5f3241c918e3cb39e645662955de0f9f1301a491b19d37d3e6ec"


def test_a_placed_database_with_its_metadata_and_bundle():
    found = TrivyDatabases().process((FACT_OUTPUTS / "trivy_databases_placed.txt").read_text().splitlines())
    assert found == {
        "db": {
            "owner": "10000:10000",
            "foreign_owner": False,
            "bundle_sha256": BUNDLE,
            "metadata": {
                "Version": 2,
                "NextUpdate": "2026-12-02T06:12:40.123456789Z",
                "UpdatedAt": "2026-12-01T06:12:40.123456789Z",
                "DownloadedAt": "2026-12-01T07:00:00Z",
            },
        }
    }


def test_anything_not_the_scanners_is_seen():
    found = TrivyDatabases().process((FACT_OUTPUTS / "trivy_databases_foreign_owner.txt").read_text().splitlines())
    assert found["db"]["foreign_owner"] is True and found["db"]["bundle_sha256"] == BUNDLE
    assert found["java-db"] == {"owner": "0:0", "foreign_owner": True, "metadata": None, "bundle_sha256": None}


def test_no_cache_at_all_is_no_database(tmp_path):
    command = TrivyDatabases().command(str(tmp_path))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    assert output == "" and TrivyDatabases.default() == {}
