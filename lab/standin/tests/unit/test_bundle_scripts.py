"""install.sh, common.sh and prepare of the stand-in bundle, run with bash."""

import os
import shutil
import subprocess
import tarfile

import pytest

from lab.standin import build
from lab.standin.tests.support import STANDIN

BUNDLE = STANDIN / "bundle"
FAKE_DOCKER = """#!/bin/bash
echo "docker $*" >> "$DOCKER_CALLS"
case "$1 $2" in
  "--version "*) echo "Docker version 26.1.5+dfsg1, build a72d7cd" ;;
  "compose version") echo "Docker Compose version 2.26.1" ;;
esac
exit 0
"""


def run_install(*args, env=None, cwd=BUNDLE):
    return subprocess.run(
        ["bash", str(cwd / "install.sh"), *args],
        capture_output=True,
        text=True,
        env=env if env is not None else {**os.environ, "TERM": "xterm"},
        timeout=30,
        check=False,
    )


def test_help_exits_zero_with_usage():
    result = run_install("--help")
    assert result.returncode == 0
    assert "--with-trivy" in result.stdout


@pytest.mark.parametrize("argument", ["--with-notary", "--with-chartmuseum", "--with-clair", "trivy"])
def test_any_other_argument_prints_usage_and_fails(argument):
    result = run_install(argument)
    assert result.returncode == 1
    assert "Please set --with-trivy" in result.stdout


def test_without_term_common_sh_stops_the_installer():
    env = {key: value for key, value in os.environ.items() if key != "TERM"}
    result = run_install("--help", env=env)
    assert result.returncode != 0
    assert "TERM" in result.stderr


@pytest.fixture
def bundle(tmp_path):
    """A bundle copy with a docker on PATH that only records its calls."""
    target = tmp_path / "harbor"
    shutil.copytree(BUNDLE, target)
    (target / "harbor.v2.13.1.tar.gz").write_bytes(b"")
    (target / "harbor.yml").write_text("hostname: harbor.lab.internal\ndata_volume: /srv/harbor-data\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    calls = tmp_path / "calls"
    env = {**os.environ, "TERM": "xterm", "PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKER_CALLS": str(calls)}
    return target, env, calls


def test_install_loads_prepares_then_recreates_the_project(bundle):
    target, env, calls = bundle
    result = run_install("--with-trivy", env=env, cwd=target)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = calls.read_text().splitlines()
    steps = [line for line in lines if not line.startswith(("docker --version", "docker compose version"))]
    assert steps[0] == "docker load -i ./harbor.v2.13.1.tar.gz"
    assert steps[1].startswith("docker run --rm ")
    assert steps[1].endswith(" goharbor/prepare:@HARBOR_VERSION@ prepare --with-trivy")
    assert steps[2:] == ["docker compose down -v", "docker compose up -d"]
    assert not (target / "input").exists()
    assert sorted(path.name for path in target.iterdir()) == sorted(
        ["install.sh", "common.sh", "prepare", "harbor.yml", "harbor.v2.13.1.tar.gz"]
    )


def test_prepare_mounts_like_the_real_one_without_privileges(bundle):
    target, env, calls = bundle
    result = subprocess.run(
        ["bash", str(target / "prepare")], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    run_args = calls.read_text().split()
    assert "--privileged" not in run_args
    mounts = [run_args[i + 1] for i, arg in enumerate(run_args) if arg == "-v"]
    assert mounts == [
        f"{target}/input:/input",
        "/srv/harbor-data:/data",
        f"{target}:/compose_location",
        f"{target}/common/config:/config",
        "/:/hostfs",
    ]
    assert run_args[-2:] == ["goharbor/prepare:@HARBOR_VERSION@", "prepare"]


@pytest.mark.parametrize("version, config_version", [("v2.11.2", "2.11.0"), ("v2.14.0", "2.14.0")])
def test_each_release_bundle_is_reproducible_and_its_template_names_its_config_version(
    tmp_path, version, config_version
):
    # The same name (gzip's header holds it) built twice: the same bytes.
    first, second = tmp_path / "one" / "bundle.tgz", tmp_path / "two" / "bundle.tgz"
    first.parent.mkdir()
    second.parent.mkdir()
    build.write_bundle(first, version)
    build.write_bundle(second, version)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as bundle:
        template = bundle.extractfile("harbor/harbor.yml.tmpl").read().decode()
    assert f"\n_version: {config_version}\n" in template
