"""docker_smoke: the image is built on the host from a scratch tarball (no external
pull) and named after the pushing host; the pull takes the next running client's."""

from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from harbor_deploy.operations import docker_smoke


def commands_of(op, name="client-1", state=None, **kwargs):
    state = state or FakeState()
    host = create_host(state, name=name)
    with ctx_state.use(state), ctx_host.use(host):
        return [command.get_raw_value() for command in op._inner(**kwargs)]


def test_push_builds_from_a_scratch_tarball_and_pushes_the_host_tag():
    [command] = commands_of(docker_smoke.push, registry="harbor.lab.internal:8443", project="library")
    assert command == (
        'home=$(getent passwd root | cut -d: -f6) && runuser -u root -- env HOME="$home" sh -c '
        "'dir=$(mktemp -d) && trap '\"'\"'rm -rf \"$dir\"'\"'\"' EXIT && "
        'printf "%s\\n" \'"\'"\'hd-smoke image pushed by client-1\'"\'"\' > "$dir/hd-smoke.txt" && '
        'tar -C "$dir" -cf - hd-smoke.txt | docker import --message hd-smoke - '
        "harbor.lab.internal:8443/library/hd-smoke:client-1 >/dev/null && "
        "docker push --quiet harbor.lab.internal:8443/library/hd-smoke:client-1'"
    )
    assert "docker pull" not in command


class Peer:
    def __init__(self, name, groups=("docker_clients",)):
        self.name, self.groups = name, groups


def test_pull_takes_the_next_running_client_and_removes_the_local_copy_first():
    state = FakeState()
    state.active_hosts = {Peer("client-1"), Peer("client-3"), Peer("harbor-1", ("harbor_servers",))}
    [command] = commands_of(
        docker_smoke.pull_peer,
        state=state,
        registry="h:8443",
        project="library",
        group="docker_clients",
        user="jenkins",
    )
    assert "runuser -u jenkins" in command
    reference = "h:8443/library/hd-smoke:client-3"
    assert command.index(f"docker image rm --force {reference}") < command.index(f"docker pull --quiet {reference}")


def test_pull_alone_takes_its_own_image_back():
    state = FakeState()
    state.active_hosts = {Peer("client-1")}
    [command] = commands_of(docker_smoke.pull_peer, state=state, registry="h:8443", project="p", group="docker_clients")
    assert "docker pull --quiet h:8443/p/hd-smoke:client-1" in command
