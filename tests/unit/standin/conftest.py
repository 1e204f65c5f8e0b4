import importlib.util
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[3]
STANDIN = ROOT / "lab" / "standin"
RUNTIME = STANDIN / "runtime"
# Harbor v2.13.1's own files, unmodified (the bundle ships the template).
HARBOR_TEMPLATE = STANDIN / "upstream" / "harbor.yml.tmpl"
SWAGGER = STANDIN / "upstream" / "swagger.yaml"


def load_runtime(name):
    """A stand-in runtime program as a module (their plain names would clash)."""
    module_name = f"standin_{name}"
    # The programs import each other as the image runs them: from their own directory.
    if str(RUNTIME) not in sys.path:
        sys.path.append(str(RUNTIME))
    if (RUNTIME / name.split(".")[0]).is_dir():  # a package (harbor_core): its own names
        return importlib.import_module(name)
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, RUNTIME / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture(scope="session")
def rsa_key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture
def harbor_yml():
    """The real harbor.yml.tmpl as a dict, with a usable hostname."""
    config = yaml.safe_load(HARBOR_TEMPLATE.read_text())
    config["hostname"] = "harbor.lab.internal"
    return config
