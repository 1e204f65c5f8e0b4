"""The controller's side of a Harbor the tests of this folder start (each module's
``harbor`` fixture): its secrets store, holding the initial admin password, and an
admin client."""

import pytest

from harbor_deploy.lib.config.secrets import SecretStore
from harbor_deploy.lib.harbor_api import resources
from harbor_deploy.lib.harbor_api.client import HarborClient
from lab.standin.tests.in_process import INITIAL_ADMIN_PASSWORD


@pytest.fixture
def store(tmp_path):
    store = SecretStore(tmp_path / "secrets" / "harbor.test.internal", env={})
    store.store("admin_password", INITIAL_ADMIN_PASSWORD)
    return store


@pytest.fixture
def client(harbor, store):
    return resources.AdminAccess(HarborClient(harbor.url, retries=0), store, rotate=False).client()
