"""Facts of a Docker host as a client of one registry: its trust, its daemon.json
entries for it, and whether each user's stored login works. Credentials never
leave the host: only the stored user name and whether Harbor accepts the stored
credentials are reported."""

import re
import shlex

from pyinfra.api import FactBase

from harbor_deploy.facts.docker import (
    CONTENT_MARKER,
    DAEMON_JSON,
    DockerDaemonConfig,
    DockerEngine,
    parse_json_object,
    split_content,
)
from harbor_deploy.facts.files import FileStates
from harbor_deploy.facts.output import key_values, processed_sections, sections_command

CERTS_D = "/etc/docker/certs.d"
FETCH_FAILED = "--- fetch failed"


def certs_d_ca(registry):
    """Where dockerd looks for the CA of ``registry`` (``host:port``)."""
    return f"{CERTS_D}/{registry}/ca.crt"


def as_user(user, command):
    """``command`` (a shell string) run by ``user`` with that user's HOME, so docker
    reads and writes that user's ``~/.docker/config.json``; stdin passes through."""
    return (
        f"home=$(getent passwd {shlex.quote(user)} | cut -d: -f6) && "
        f'runuser -u {shlex.quote(user)} -- env HOME="$home" sh -c {shlex.quote(command)}'
    )


# Harbor's token service (src/core/service/token/creator.go): a caller asking no scope
# gets a token only when its credentials authenticate, else 401 (what docker login
# asks). Served by Harbor's nginx beside /v2/ at the registry address.
TOKEN_PATH = "/service/token?service=harbor-registry"


def token_status(registry, scheme="https"):
    """Shell setting ``$status`` to the HTTP code of Harbor's token service for the
    credentials in ``$auth`` (base64 ``user:password``, sent on curl's stdin, never on
    a command line), Harbor verified with the certs.d CA dockerd uses; empty or
    ``000`` without an HTTP answer."""
    ca = shlex.quote(certs_d_ca(registry))
    return (
        f"ca=; [ -f {ca} ] && ca={ca}; "
        "status=$(printf 'Authorization: Basic %s\\n' \"$auth\" | curl -s -o /dev/null -w '%{http_code}' "
        f'--max-time 20 ${{ca:+--cacert "$ca"}} -H @- {shlex.quote(f"{scheme}://{registry}{TOKEN_PATH}")})'
    )


def login_probe(registry, user, scheme="https"):
    """Shell printing ``<key>.<user>=...`` lines: whether the user exists, the user name
    stored in its ``auths`` entry for ``registry`` (the password half of the decoded
    ``auth`` is cut off on the host), and whether Harbor accepts the stored
    credentials: one token request with them (read from stdin by curl, never on a
    command line), verified with the certs.d CA dockerd uses. Without curl, with a
    credential helper holding the login, or when the request gets no answer from
    Harbor (a proxy only dockerd knows), ``docker login`` decides as dockerd sees it
    (it reads the stored credentials, or fails at once: stdin is not a terminal)."""

    def echo(key, value):
        return f"echo {shlex.quote(f'{key}.{user}={value}')}"

    # docker writes config.json indented: flatten it, then take this registry's "auth".
    key_re = r'"\(https:\/\/\)\{0,1\}' + re.sub(r"([.\[\]])", r"\\\1", registry) + r'\/\{0,1\}"'
    sed = f's/.*{key_re}:{{[^}}]*"auth":"\\([^"]*\\)".*/\\2/p'
    config = '"$home/.docker/config.json"'
    docker_login = as_user(user, f"docker login {shlex.quote(registry)} </dev/null >/dev/null 2>&1")
    return (
        f"home=$(getent passwd {shlex.quote(user)} | cut -d: -f6); "
        f'if [ -z "$home" ]; then {echo("user_exists", "no")}; else {echo("user_exists", "yes")}; '
        f'auth=$(tr -d " \\t\\r\\n" 2>/dev/null < {config} | sed -n {shlex.quote(sed)}); '
        f'echo {shlex.quote(f"username.{user}=")}"$(printf %s "$auth" | base64 -d 2>/dev/null | cut -s -d: -f1)"; '
        'status=; if [ -n "$auth" ] && command -v curl >/dev/null; then '
        f"{token_status(registry, scheme)}; fi; "
        f'if [ "$status" = 200 ]; then {echo("works", "yes")}; '
        f'elif [ "$status" = 401 ] || {{ [ -z "$auth" ] && ! grep -qs \'"cred\' {config}; }}; '
        f"then {echo('works', 'no')}; "
        f"elif command -v docker >/dev/null && {docker_login}; then {echo('works', 'yes')}; "
        f"else {echo('works', 'no')}; fi; fi"
    )


def _login_state(values, user):
    return {
        "user_exists": values.get(f"user_exists.{user}") == "yes",
        "username": values.get(f"username.{user}") or None,
        "works": values.get(f"works.{user}") == "yes",
    }


class DockerLoginCheck(FactBase[dict]):
    """
    Returns whether ``user``'s stored docker login for ``registry`` works (Harbor
    gives a token for the stored credentials, reached over ``scheme``; see
    ``login_probe``), and the user name stored in its ``auths`` entry (``None`` when
    there is none, e.g. with a credential helper).

    .. code:: python

        {"user_exists": True, "username": "robot$ci+push", "works": True}
    """

    def command(self, registry, user="root", scheme="https"):
        return login_probe(registry, user, scheme)

    def process(self, output):
        values = key_values(output)
        user = next((key.split(".", 1)[1] for key in values if key.startswith("user_exists.")), None)
        return _login_state(values, user)


class RegistryCaCertificate(FactBase[dict]):
    """
    Returns the CA certificate (PEM text) Harbor serves at ``url``
    (``https://<host>:<port>/api/v2.0/systeminfo/getcert``), fetched from this host
    without verifying the server (it is what will be trusted: the caller checks it
    against the sha256 ``pin``, which rules out a man in the middle), or ``None`` and
    the error. When ``installed`` (the CA file this host trusts) has the ``pin``'s
    sha256 already, that file is read instead: nothing is fetched, and a Harbor that
    does not answer fails nothing.

    .. code:: python

        {"pem": "-----BEGIN CERTIFICATE-----\\n...", "error": None}
    """

    def requires_command(self, url, installed, pin):
        return "curl"

    def command(self, url, installed, pin):
        path = shlex.quote(installed)
        return (
            f'if [ "$(sha256sum < {path} 2>/dev/null | cut -c1-64)" = {shlex.quote(pin)} ]; then cat {path}; '
            f'else curl -fsSk --max-time 20 {shlex.quote(url)} 2>&1 || echo "{FETCH_FAILED}: curl exit $?"; fi'
        )

    def process(self, output):
        text = "\n".join(output)
        if FETCH_FAILED in text:
            return {"pem": None, "error": text.strip().replace(FETCH_FAILED + ": ", "")}
        if "-----BEGIN CERTIFICATE-----" not in text:
            return {"pem": None, "error": "the answer is not a PEM certificate"}
        return {"pem": text.strip() + "\n", "error": None}


class ClientRegistryState(FactBase[dict]):
    """
    Returns, in one round trip, how this host is a client of ``registry``: the CA in
    ``/etc/docker/certs.d/<registry>/ca.crt`` (sha256), the registry's entries in
    daemon.json (``insecure-registries``, ``registry-mirrors`` naming it), the trust
    mode that follows (``"https"`` with a certs.d CA, ``"http"`` when listed as an
    insecure registry, else ``"system"``: the OS trust decides) and, per user,
    whether the stored login works.

    .. code:: python

        {
            "registry": "harbor.lab.internal:8443",
            "trust": "https",
            "ca_sha256": "9f86d08...",
            "daemon_json_error": None,
            "insecure_registry": False,
            "registry_mirrors": [],
            "logins": {"root": {"user_exists": True, "username": "admin", "works": True}},
        }
    """

    def command(self, registry, users=("root",), scheme="https"):
        ca = shlex.quote(certs_d_ca(registry))
        return (
            f"echo registry={shlex.quote(registry)}; "
            f"echo \"ca_sha256=$(sha256sum {ca} 2>/dev/null | cut -d' ' -f1)\"; "
            + "".join(f"( {login_probe(registry, user, scheme)} ); " for user in users)
            + f"if [ -e {DAEMON_JSON} ]; then echo {shlex.quote(CONTENT_MARKER)}; cat {DAEMON_JSON}; fi"
        )

    def process(self, output):
        values, raw = split_content(output)
        config, error = parse_json_object(raw) if raw is not None else ({}, None)
        config = config or {}
        registry = values["registry"]
        insecure = registry in config.get("insecure-registries", [])
        mirrors = [
            m for m in config.get("registry-mirrors", []) if re.sub(r"^[a-z]+://", "", m).rstrip("/") == registry
        ]
        ca_sha256 = values.get("ca_sha256") or None
        users = [key.split(".", 1)[1] for key in values if key.startswith("user_exists.")]
        return {
            "registry": registry,
            "trust": "http" if insecure else "https" if ca_sha256 else "system",
            "ca_sha256": ca_sha256,
            "daemon_json_error": error,
            "insecure_registry": insecure,
            "registry_mirrors": mirrors,
            "logins": {user: _login_state(values, user) for user in users},
        }


class ClientState(FactBase[dict]):
    """
    Returns everything the client deploy decides from, in one round trip: each
    section is the fact of that name read by its own command; ``ca`` only when
    ``ca_url`` is given (the CA is fetched from Harbor by this host).

    + registry: ``host:port`` of the registry
    + users: OS users whose docker login is checked
    + paths: files the deploy converges (``FileStates``)
    + ca_url: where this host fetches the registry's CA, or None
    + ca_pin: the sha256 that CA must have (with ``ca_url``): when the one in certs.d
      has it, that one is read instead (``RegistryCaCertificate``)
    + scheme: how the registry is reached, ``https`` or ``http`` (an insecure registry)

    .. code:: python

        {
            "engine": {...},    # DockerEngine
            "daemon": {...},    # DockerDaemonConfig of /etc/docker/daemon.json
            "registry": {...},  # ClientRegistryState
            "files": {...},     # FileStates
            "ca": {...},        # RegistryCaCertificate, or None
        }
    """

    def command(self, registry, users, paths, ca_url=None, ca_pin=None, scheme="https"):
        sections = {
            "engine": DockerEngine().command(),
            "daemon": DockerDaemonConfig().command(DAEMON_JSON),
            "registry": ClientRegistryState().command(registry, users, scheme),
            "files": FileStates().command(paths),
        }
        if ca_url:
            sections["ca"] = RegistryCaCertificate().command(ca_url, certs_d_ca(registry), ca_pin)
        return sections_command(sections)

    def process(self, output):
        return processed_sections(
            output,
            {
                "engine": DockerEngine(),
                "daemon": DockerDaemonConfig(),
                "registry": ClientRegistryState(),
                "files": FileStates(),
                "ca": RegistryCaCertificate(),
            },
        )
