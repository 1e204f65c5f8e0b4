"""The package as a user gets it: a wheel built from this checkout, installed into a
fresh venv, holds the library, the facts, the operations and the templates and
nothing of the lab; a deploy file of the user's own, outside the checkout, imports
the packaged deploys and runs them against the lab's Harbor server: converged, so
nothing changes, and the status is reported."""

import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from lab import labctl
from tests.conftest import ROOT

DEPLOY = """
from pyinfra import host

from harbor_deploy import harbor_server, harbor_status

if "registry" in host.groups:
    harbor_server()
    harbor_status()
"""


def run(*args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    place = tmp_path_factory.mktemp("package")
    # Built from a copy of the checkout's files: setuptools reuses a build/ directory
    # whose files are not older than the sources, which would package stale ones.
    source = place / "source"
    listed = run("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_symlink() or (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            # The package's facts/ and templates/ links stay links, as in a clone.
            shutil.copy2(ROOT / name, source / name, follow_symlinks=False)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(place / "dist"),
        str(source),
    )
    [wheel] = (place / "dist").glob("harbor_deploy-*.whl")
    run(sys.executable, "-m", "venv", str(place / "venv"))
    run(str(place / "venv" / "bin" / "pip"), "install", "-q", str(wheel))
    return {"place": place, "wheel": wheel, "venv": place / "venv"}


def test_the_wheel_holds_the_package_and_its_templates_and_nothing_of_the_lab(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for expected in (
        "harbor_deploy/__init__.py",
        "harbor_deploy/deploys.py",
        "harbor_deploy/lib/config/validate.py",
        "harbor_deploy/facts/harbor.py",
        "harbor_deploy/operations/secret_file.py",
        "harbor_deploy/templates/harbor.yml.j2",
        "harbor_deploy/templates/harbor.service.j2",
    ):
        assert expected in names
    assert not [name for name in names if name.split("/")[0] in ("lab", "tests", "deploys", "inventories")]


def test_a_deploy_file_of_ones_own_runs_the_packaged_deploys(installed, harbor_server, lab):
    project = installed["place"] / "project"
    project.mkdir()
    server = next(h for h in lab["hosts"] if h["group"] == "harbor_servers")
    data = {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": server["ssh_port"],
        "ssh_user": "root",
        "ssh_key": lab["key"],
        "ssh_known_hosts_file": lab["known_hosts"],
        "ssh_strict_host_key_checking": "yes",
        "harbor_hostname": lab["harbor_dns_name"],
        "harbor_secrets_dir": str(labctl.state_dir() / "secrets"),
        "harbor_installer_source": "mirror",
        "harbor_mirror_url": lab["mirror_url"],
        "harbor_installer_sha256": lab["installer_sha256"],
        "harbor_tls_extra_sans": [server["address"]],
        "harbor_api_host": server["address"],
    }
    (project / "inventory.py").write_text(f"registry = [({server['name']!r}, {data!r})]\n")
    (project / "site.py").write_text(DEPLOY)
    where = run(
        str(installed["venv"] / "bin" / "python"),
        "-c",
        "import harbor_deploy; print(harbor_deploy.__file__)",
        cwd=project,
    )
    assert where.stdout.startswith(str(installed["venv"]))

    result = run(
        str(installed["venv"] / "bin" / "pyinfra"),
        "-y",
        "--json",
        "inventory.py",
        "site.py",
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project)},
    )

    assert json.loads(result.stdout)["results"]["totals"]["success"] == 0, result.stderr
    line = next(line.strip() for line in result.stderr.splitlines() if "harbor-status " in line)
    assert json.loads(line.split("harbor-status ", 1)[1].split(" ", 1)[1])["health"] == "healthy"
