"""harbor_deploy.planning.context: controller paths from the inventory file's folder."""

import sys

import pyinfra_cli.cli  # noqa: F401  (what a pyinfra CLI run has loaded)

from harbor_deploy.planning import context


def test_the_inventory_folder_is_read_from_pyinfras_own_command_line(tmp_path, monkeypatch):
    inventory = tmp_path / "inventories" / "prod.py"
    inventory.parent.mkdir()
    inventory.write_text("harbor_servers = ['h']\n")
    monkeypatch.chdir(tmp_path / "inventories")
    for argv in (
        ["pyinfra", "-y", "--limit", "h", "prod.py", "/x/deploys/server.py"],
        ["pyinfra", "prod.py", "/x/deploys/server.py", "--data", "k=v", "-vv"],
    ):
        context.cli_arguments.cache_clear()
        monkeypatch.setattr(sys, "argv", argv)
        assert context.inventory_dir() == inventory.parent
    context.cli_arguments.cache_clear()


def test_without_an_inventory_file_the_working_directory_counts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pyinfra", "host1,host2", "deploy.py"])
    context.cli_arguments.cache_clear()
    assert context.inventory_dir() == tmp_path
    context.cli_arguments.cache_clear()
