import json
import re
import shlex

from pyinfra.api import FactBase

from harbor_deploy.facts.output import key_values, split_at

DAEMON_JSON = "/etc/docker/daemon.json"
CONTENT_MARKER = "--- content"


def split_content(output):
    """Header ``key=value`` lines, and the file content after the content marker (or None)."""
    head, content = split_at(output, CONTENT_MARKER)
    return key_values(head), None if content is None else "\n".join(content)


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


class DockerDaemonConfig(FactBase[dict]):
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
        head, raw = split_content(output)
        config, error = parse_json_object(raw) if raw is not None else ({}, None)
        return {
            "docker_active": head.get("docker_active") == "active",
            "exists": raw is not None,
            "mode": head.get("mode"),
            "config": config,
            "error": error,
            "raw": raw if error else None,
        }


class DockerEngine(FactBase[dict]):
    """
    Returns the docker engine state in one round trip: whether dockerd is installed,
    its version (read from the binary, so known even when stopped), whether the docker
    CLI is there (a package of its own on Debian 13), the compose v2 plugin version and
    whether the docker service is active and enabled.

    .. code:: python

        {
            "installed": True,
            "version": "26.1.5+dfsg1",
            "cli": True,
            "compose_version": "2.26.1-4",
            "active": True,
            "enabled": True,
        }
    """

    def command(self):
        return (
            'echo "installed=$(command -v dockerd >/dev/null 2>&1 && echo yes)"; '
            'echo "dockerd=$(dockerd --version 2>/dev/null)"; '
            'echo "cli=$(command -v docker >/dev/null 2>&1 && echo yes)"; '
            'echo "compose_version=$(docker compose version --short 2>/dev/null)"; '
            'echo "active=$(systemctl is-active docker 2>/dev/null)"; '
            'echo "enabled=$(systemctl is-enabled docker 2>/dev/null)"'
        )

    def process(self, output):
        values = key_values(output)
        version = re.match(r"Docker version ([^,\s]+)", values.get("dockerd", ""))
        return {
            "installed": values.get("installed") == "yes",
            "version": version.group(1) if version else None,
            "cli": values.get("cli") == "yes",
            "compose_version": values.get("compose_version") or None,
            "active": values.get("active") == "active",
            "enabled": values.get("enabled") == "enabled",
        }


def _registry_host(key):
    """``host:port`` of an ``auths`` key, which older clients store as a URL."""
    return re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
