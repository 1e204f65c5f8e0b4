"""Where the Docker engine comes from: the default sources, or an internal repository
whose URL and signing key (a public key, armored or binary) are checked before any
change, naming the key and why, the key's content never shown."""

import pytest

from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.config.validate import ConfigError
from harbor_deploy.lib.plan.client import client_plan
from harbor_deploy.lib.plan.docker import docker_repository
from harbor_deploy.lib.render import tls

ARMORED = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0secretlooking\n-----END PGP PUBLIC KEY BLOCK-----\n"
# First packets of binary keys: old format, tag 6 (public key) and tag 5 (secret key).
BINARY_PUBLIC, BINARY_SECRET = b"\x99\x01\x0d\x04binary", b"\x95\x01\xd8\x04binary"


def problems(**data):
    with pytest.raises(ConfigError) as raised:
        docker_repository(merged(data))
    return raised.value.problems


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "docker.asc"
    path.write_bytes(ARMORED)
    return path


def test_no_repository_means_the_default_sources():
    assert docker_repository(merged({})) is None


def test_a_repository_with_its_public_key(key, tmp_path):
    repository = docker_repository(
        merged({"harbor_docker_repo_url": "http://mirror.lan/debian", "harbor_docker_repo_key": str(key)})
    )
    assert repository == {
        "url": "http://mirror.lan/debian",
        "key": ARMORED,
        "armored": True,
        "suite": None,
        "components": ["stable"],
        "packages": None,
    }
    binary = tmp_path / "docker.gpg"
    binary.write_bytes(BINARY_PUBLIC)
    found = docker_repository(
        merged(
            {
                "harbor_docker_repo_url": "https://mirror.lan/debian",
                "harbor_docker_repo_key": str(binary),
                "harbor_docker_repo_suite": "trixie",
                "harbor_docker_repo_components": ["main"],
                "harbor_docker_packages": ["docker.io", "docker-cli", "docker-compose"],
            }
        )
    )
    assert (found["armored"], found["suite"], found["packages"]) == (
        False,
        "trixie",
        ["docker.io", "docker-cli", "docker-compose"],
    )


def test_each_wrong_key_is_named(tmp_path, key):
    assert problems(harbor_docker_repo_key=str(key), harbor_docker_packages=["docker-ce"]) == [
        ("harbor_docker_repo_key", "has no effect without harbor_docker_repo_url"),
        ("harbor_docker_packages", "has no effect without harbor_docker_repo_url"),
    ]
    assert problems(harbor_docker_repo_url="ftp://mirror.lan/debian") == [
        ("harbor_docker_repo_url", "must be an http(s):// URL (the packages are signed: plain http will do)"),
        ("harbor_docker_repo_key", "required with harbor_docker_repo_url: the repository's signing key"),
    ]
    [(name, why)] = problems(harbor_docker_repo_url="http://me:pa55@mirror.lan/debian", harbor_docker_repo_key=str(key))
    assert name == "harbor_docker_repo_url" and "must not hold credentials" in why and "pa55" not in why
    assert problems(
        harbor_docker_repo_url="http://mirror.lan/debian",
        harbor_docker_repo_key=str(key),
        harbor_docker_repo_components=["main contrib"],
        harbor_docker_packages=["docker-ce; rm -rf /"],
    ) == [
        ("harbor_docker_repo_components", "[0] must be one word of apt's sources line"),
        ("harbor_docker_packages", "[0] must be a package name (a version pin with = or - allowed)"),
    ]


@pytest.mark.parametrize(
    "content, why",
    [
        (b"-----BEGIN PGP PRIVATE KEY BLOCK-----\nsecret\n", "holds a private key"),
        (BINARY_SECRET, "holds a private key"),
        (tls.cert_pem(tls.generate_ca("x")[1]), "is not an OpenPGP public key"),
    ],
)
def test_a_key_that_is_no_public_key_is_refused_without_showing_it(tmp_path, content, why):
    path = tmp_path / "key"
    path.write_bytes(content)
    [(name, found)] = problems(harbor_docker_repo_url="http://mirror.lan/debian", harbor_docker_repo_key=str(path))
    assert name == "harbor_docker_repo_key" and why in found and "secret" not in found


def test_the_client_deploy_checks_the_docker_keys_too(tmp_path):
    found = dict(
        pytest.raises(
            ConfigError, client_plan, {"harbor_hostname": "h.example", "harbor_docker_repo_url": "x"}, env={}
        ).value.problems
    )
    assert found["harbor_docker_repo_url"].startswith("must be an http(s):// URL")
