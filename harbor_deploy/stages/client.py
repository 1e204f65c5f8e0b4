"""The client deploy's stages: a Docker host trusts, logs in to, pushes to and
pulls from the registry; a re-run changes nothing and restarts nothing.

Each stage is a named ``@deploy``; ``deploys/client.py`` composes them. The daemon
configuration comes first: a host whose daemon.json is not valid JSON fails there
(dockerd would not start with it) and is left untouched by the later stages.
"""

from dataclasses import replace
from io import BytesIO

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.facts.server import Which
from pyinfra.operations import files, server

from harbor_deploy.facts.docker_client import ClientState, certs_d_ca
from harbor_deploy.lib.config.defaults import CLIENT_GROUP
from harbor_deploy.lib.plan.client import check_ca_pem, client_plan
from harbor_deploy.operations import docker_daemon, docker_login, docker_smoke, secret_file
from harbor_deploy.operations.docker_daemon import fail_host
from harbor_deploy.operations.secret_file import public
from harbor_deploy.planning.context import host_data, refused_before_any_change

# OS trust stores: anchor directory and refresh command, Debian family first.
OS_TRUST_STORES = (
    ("update-ca-certificates", "/usr/local/share/ca-certificates"),
    ("update-ca-trust", "/etc/pki/ca-trust/source/anchors"),
)


def plan(overrides=None):
    """Check this host's data and resolve registry, CA and password on the controller,
    then read the host's state in one round trip (``ClientState``).

    Runs while pyinfra prepares the deploy, before any host is changed: a problem
    stops the whole run with every problem listed.
    """
    with refused_before_any_change():
        resolved = client_plan(host_data(overrides=overrides))
    state = host.get_fact(
        ClientState,
        registry=resolved.registry,
        users=list(resolved.login_users),
        paths=[certs_d_ca(resolved.registry)],
        ca_url=resolved.ca_fetch_url,
        ca_pin=resolved.ca_sha256,
        scheme="http" if resolved.trust == "http" else "https",
    )
    return replace(resolved, state=state)


@deploy("Docker daemon configuration")
def daemon_config(plan):
    """Merge the registry settings into daemon.json (always checked: invalid JSON
    fails the host) and apply a change by reload when possible, in rolling batches."""
    registry = plan.registry
    merge = docker_daemon.daemon_json(
        name=f"daemon.json holds the settings for {registry}" if plan.daemon_settings else "daemon.json is valid JSON",
        settings=plan.daemon_settings,
        current=plan.state["daemon"],
    )
    docker_daemon.apply(
        name="Apply daemon.json (reload when only reloadable keys changed)",
        _if=merge.did_change,
        _parallel=plan.restart_batch,
    )


def registry_ca(plan):
    """The CA PEM bytes to trust, from the controller or fetched by this host; or the
    reason a fetch is unusable (the host then fails, the others carry on)."""
    if plan.ca_fetch_url is None:
        return plan.ca_pem, None
    fetched = plan.state["ca"]
    if fetched["pem"] is None:
        return None, f"cannot fetch the registry CA from {plan.ca_fetch_url}: {fetched['error']}"
    pem = fetched["pem"].encode()
    problems = check_ca_pem(pem, plan.ca_sha256)
    if problems:
        return None, f"refusing the CA from {plan.ca_fetch_url}: {'; '.join(problems)}"
    return pem, None


@deploy("Registry trust")
def trust(plan):
    """HTTPS: the CA in /etc/docker/certs.d/<registry>/ca.crt, which dockerd reads
    on every connection (no restart); optionally in the OS trust store too."""
    if plan.trust != "https":
        return
    ca, problem = registry_ca(plan)
    if problem:
        server.shell(name="Registry CA", commands=[fail_host(problem)])
        return
    if ca is None:
        return
    secret_file.put(
        name=f"Registry CA for {plan.registry}",
        dest=certs_d_ca(plan.registry),
        content=ca,
        mode="0644",
        mask=public,
        known_files=plan.state["files"],
    )
    if plan.os_trust_store:
        os_trust_store(plan.registry, ca)


def os_trust_store(registry, ca):
    for command, anchors in OS_TRUST_STORES:
        if host.get_fact(Which, command=command):
            anchor = files.put(
                name=f"Registry CA for {registry} in the OS trust store",
                src=BytesIO(ca),
                dest=f"{anchors}/harbor-{registry.replace(':', '-')}.crt",
                user="root",
                group="root",
                mode="644",
            )
            server.shell(name="Refresh the OS trust store", commands=[command], _if=anchor.did_change)
            return
    raise DeployError(f"{host.name}: no OS trust store tool ({', '.join(c for c, _ in OS_TRUST_STORES)})")


@deploy("Registry login")
def login(plan):
    for user in plan.login_users:
        docker_login.login(
            name=f"docker login {plan.registry} as {plan.username} for {user}",
            registry=plan.registry,
            username=plan.username,
            password=plan.password,
            user=user,
            check=plan.state["registry"]["logins"].get(user),
            scheme="http" if plan.trust == "http" else "https",
        )


@deploy("Registry smoke test")
def smoke_test(plan):
    """Push an image built here, then pull the one another client pushed. Always
    runs (it is a check, never a no-op)."""
    user = plan.login_users[0]
    docker_smoke.push(
        name=f"Smoke test: push hd-smoke:<host> to {plan.registry}/{plan.smoke_project}",
        registry=plan.registry,
        project=plan.smoke_project,
        user=user,
    )
    docker_smoke.pull_peer(
        name="Smoke test: pull another client's hd-smoke image",
        registry=plan.registry,
        project=plan.smoke_project,
        group=CLIENT_GROUP,
        user=user,
    )
