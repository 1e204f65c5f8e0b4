"""The backing host's facts, their commands run by a local shell on real folders."""

import subprocess

from harbor_deploy.facts.backing import DatabaseDumps


def test_the_complete_dumps_of_a_label_oldest_first(tmp_path):
    for name in (
        "harbor-db-20261207T101500Z-before-upgrade.pgdump",
        "harbor-db-20261201T090000Z-before-upgrade.pgdump",
        "harbor-db-20261207T120000Z-before-upgrade.pgdump",  # no .sha256: not complete
        "harbor-db-20261207T130000Z-before-upgrade.pgdump.partial",
        "harbor-db-20261207T110000Z.pgdump",  # a backup's, another label
    ):
        (tmp_path / name).write_text("dump")
    for name in ("harbor-db-20261207T101500Z-before-upgrade", "harbor-db-20261201T090000Z-before-upgrade"):
        (tmp_path / f"{name}.pgdump.sha256").write_text("sum")
    fact = DatabaseDumps()
    output = subprocess.run(
        ["sh", "-c", fact.command(str(tmp_path), "before-upgrade")], capture_output=True, text=True, check=True
    ).stdout
    assert fact.process(output.splitlines()) == [
        "harbor-db-20261201T090000Z-before-upgrade.pgdump",
        "harbor-db-20261207T101500Z-before-upgrade.pgdump",
    ]
    missing = subprocess.run(
        ["sh", "-c", fact.command(str(tmp_path / "none"), "before-upgrade")], capture_output=True, text=True, check=True
    )
    assert fact.process(missing.stdout.splitlines()) == []
