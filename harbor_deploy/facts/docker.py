import json
import re
import shlex

from pyinfra.api import FactBase

DAEMON_JSON = "/etc/docker/daemon.json"
CONTENT_MARKER = "--- content"

# Credential values in ~/.docker/config.json are replaced on the host, before any
# output leaves it; empty values stay empty so that "no credential" is still visible.
_REDACT_CREDENTIALS = (
    r"""sed -E 's/("(auth|identitytoken|registrytoken|password)"[[:space:]]*:[[:space:]]*")"""
    r"""([^"\\]|\\.)+"/\1<redacted>"/g'"""
)


def _split_content(output):
    """Header ``key=value`` lines, and the file content after the content marker (or None)."""
    if CONTENT_MARKER in output:
        at = output.index(CONTENT_MARKER)
        head, content = output[:at], "\n".join(output[at + 1:])
    else:
        head, content = output, None
    return dict(line.split("=", 1) for line in head if "=" in line), content


def parse_json_object(text):
    """``(dict, None)`` for a JSON object (an empty or blank text counts as ``{}``),
    ``(None, error message)`` otherwise."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return None, str(error)
    if not isinstance(value, dict):
        return None, f"top-level value is a {type(value).__name__}, not an object"
    return value, None


class DockerDaemonConfig(FactBase):
    """
    Returns the docker daemon configuration file, parsed, and whether dockerd is
    active, in one round trip. ``exists`` is ``False`` for a missing file; an
    existing file that is not a JSON object has ``config: None``, the parser's
    ``error`` and its ``raw`` text. A blank file counts as ``{}``.

    .. code:: python

        {
            "docker_active": True,
            "exists": True,
            "mode": "644",
            "config": {"insecure-registries": ["harbor.lab.internal:80"]},
            "error": None,
            "raw": None,
        }
    """

    def command(self, path=DAEMON_JSON):
        quoted = shlex.quote(path)
        return (
            'echo "docker_active=$(systemctl is-active docker 2>/dev/null)"; '
            f"if [ -e {quoted} ]; then "
            f'echo "mode=$(stat -c %a {quoted})"; echo {shlex.quote(CONTENT_MARKER)}; cat {quoted}; '
            "fi"
        )

    def process(self, output):
        head, raw = _split_content(output)
        config, error = parse_json_object(raw) if raw is not None else ({}, None)
        return {
            "docker_active": head.get("docker_active") == "active",
            "exists": raw is not None,
            "mode": head.get("mode"),
            "config": config,
            "error": error,
            "raw": raw if error else None,
        }


class DockerEngine(FactBase):
    """
    Returns the docker engine state in one round trip: whether dockerd is installed,
    its version (read from the binary, so known even when stopped), the compose v2
    plugin version and whether the docker service is active and enabled.

    .. code:: python

        {
            "installed": True,
            "version": "26.1.5+dfsg1",
            "compose_version": "2.26.1-4",
            "active": True,
            "enabled": True,
        }
    """

    def command(self):
        return (
            'echo "installed=$(command -v dockerd >/dev/null 2>&1 && echo yes)"; '
            'echo "dockerd=$(dockerd --version 2>/dev/null)"; '
            'echo "compose_version=$(docker compose version --short 2>/dev/null)"; '
            'echo "active=$(systemctl is-active docker 2>/dev/null)"; '
            'echo "enabled=$(systemctl is-enabled docker 2>/dev/null)"'
        )

    def process(self, output):
        values = dict(line.split("=", 1) for line in output if "=" in line)
        version = re.match(r"Docker version ([^,\s]+)", values.get("dockerd", ""))
        return {
            "installed": values.get("installed") == "yes",
            "version": version.group(1) if version else None,
            "compose_version": values.get("compose_version") or None,
            "active": values.get("active") == "active",
            "enabled": values.get("enabled") == "enabled",
        }


class DockerLogin(FactBase):
    """
    Returns whether ``user`` has docker credentials for ``registry`` (``host:port``
    as given to ``docker login``): an ``auths`` entry holding a credential, a
    ``credHelpers`` entry, or an ``auths`` entry under a ``credsStore``. Credential
    values are redacted on the host: only their presence is ever reported.

    .. code:: python

        {
            "user_exists": True,
            "config_exists": True,
            "config_error": None,
            "auth_entry": True,
            "creds_store": None,
            "cred_helper": None,
            "logged_in": True,
        }
    """

    def command(self, registry, user="root"):
        return (
            # process() only sees the output: the registry it is about travels in it.
            f"echo registry={shlex.quote(registry)}; "
            f"home=$(getent passwd {shlex.quote(user)} | cut -d: -f6); "
            'if [ -z "$home" ]; then echo user_exists=no; exit 0; fi; '
            'echo user_exists=yes; config="$home/.docker/config.json"; '
            f'if [ -e "$config" ]; then echo {shlex.quote(CONTENT_MARKER)}; '
            f'{_REDACT_CREDENTIALS} "$config"; fi'
        )

    def process(self, output):
        head, raw = _split_content(output)
        config, error = parse_json_object(raw) if raw is not None else ({}, None)
        config = config or {}
        registry = head.get("registry")
        auths = {_registry_host(key): entry for key, entry in config.get("auths", {}).items()}
        entry = auths.get(registry)
        auth_entry = isinstance(entry, dict) and any(entry.get(key) for key in ("auth", "identitytoken"))
        creds_store = config.get("credsStore") or None
        cred_helper = config.get("credHelpers", {}).get(registry) or None
        return {
            "user_exists": head.get("user_exists") == "yes",
            "config_exists": raw is not None,
            "config_error": error,
            "auth_entry": auth_entry,
            "creds_store": creds_store,
            "cred_helper": cred_helper,
            "logged_in": auth_entry or bool(cred_helper) or (creds_store is not None and entry is not None),
        }


def _registry_host(key):
    """``host:port`` of an ``auths`` key, which older clients store as a URL."""
    return re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
