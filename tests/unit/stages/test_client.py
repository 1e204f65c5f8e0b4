"""Client stage decisions: where the CA comes from, and when a fetched one is refused
(the host then fails alone, with the reason)."""

import dataclasses
import hashlib

from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from harbor_deploy.lib.plan.client import ClientPlan
from harbor_deploy.lib.render import tls
from harbor_deploy.stages.client import registry_ca

URL = "https://harbor.lab.internal:8443/api/v2.0/systeminfo/getcert"
_, CA = tls.generate_ca("harbor.lab.internal")
PEM = tls.cert_pem(CA)
PLAN = ClientPlan(
    registry="harbor.lab.internal:8443",
    trust="https",
    ca_pem=None,
    ca_fetch_url=URL,
    ca_sha256=None,
    os_trust_store=False,
    login_users=("root",),
    username="admin",
    password=None,
    daemon_settings={},
    restart_batch=1,
    smoke_test=False,
    smoke_project="library",
)


def ca_for(plan, fetched=None):
    """The stage's decision, given what the host's ClientState read (no host asked again)."""
    host = create_host(FakeState(), facts={})
    with ctx_state.use(FakeState()), ctx_host.use(host):
        return registry_ca(dataclasses.replace(plan, state={"ca": fetched}))


def test_controller_ca_is_used_as_is_without_asking_the_host():
    assert ca_for(dataclasses.replace(PLAN, ca_pem=PEM, ca_fetch_url=None)) == (PEM, None)
    assert ca_for(dataclasses.replace(PLAN, ca_fetch_url=None)) == (None, None)


def test_fetched_ca_is_checked_and_pinned():
    fetched = {"pem": PEM.decode(), "error": None}
    assert ca_for(PLAN, fetched) == (PEM, None)
    pinned = dataclasses.replace(PLAN, ca_sha256=hashlib.sha256(PEM).hexdigest())
    assert ca_for(pinned, fetched) == (PEM, None)
    ca, problem = ca_for(dataclasses.replace(PLAN, ca_sha256="0" * 64), fetched)
    assert ca is None and problem.startswith(f"refusing the CA from {URL}: its sha256")


def test_unfetchable_ca_is_a_reason_to_fail_the_host():
    assert ca_for(PLAN, {"pem": None, "error": "curl exit 7"}) == (
        None,
        f"cannot fetch the registry CA from {URL}: curl exit 7",
    )
