"""Benchmark only (``lab/bench.py``): the installer upload alone, as the server deploy
makes it (``harbor.installer_bundle``: staged, verified on the host, recorded), so it
can be timed against scp of the same bundle. The bundle and its sha256 come from the
environment, so nothing else (planning, hashing on the controller) is in the time."""

import os

from pyinfra import host

from harbor_deploy.lib.config.defaults import DEFAULT_VERSION, REMOTE_CACHE, release_dir
from harbor_deploy.operations import harbor

if "harbor_servers" in host.groups:
    harbor.installer_bundle(
        name="Upload the offline installer",
        src=os.environ["HD_BENCH_BUNDLE"],
        sha256=os.environ["HD_BENCH_BUNDLE_SHA256"],
        cache_dir=REMOTE_CACHE,
        release_dir=release_dir("/usr/local/harbor", DEFAULT_VERSION),
        install_dir="/usr/local/harbor",
    )
