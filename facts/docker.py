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


# Packages that install dockerd, and the compose v2 plugin (Debian's docker.io and
# docker-compose, Docker's docker-ce and docker-compose-plugin, Fedora's moby-engine).
ENGINE_PACKAGES = ("docker-ce", "docker.io", "moby-engine", "docker-engine")
COMPOSE_PACKAGES = ("docker-compose-plugin", "docker-compose")
# Where the docker CLI looks for plugins (docker/cli cli-plugins/manager, Linux), the
# user's own first.
PLUGIN_DIRS = (
    "$HOME/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
# The upstream version of the first installed package named, in the order named: from
# dpkg's database (epoch and Debian revision cut off) or rpm's; empty when none is.
PACKAGE_VERSION = (
    "package_version() { "
    "if command -v dpkg-query >/dev/null 2>&1; then "
    "dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\\n' \"$@\" 2>/dev/null "
    '| awk -v named="$*" \'$1 == "ii" { found[$2] = $3 } '
    'END { n = split(named, order, " "); '
    "for (i = 1; i <= n; i++) if (order[i] in found) { print found[order[i]]; exit } }' "
    "| sed 's/^[0-9]*://;s/-[^-]*$//'; "
    "elif command -v rpm >/dev/null 2>&1; then "
    "rpm -q --qf '%{VERSION}\\n' \"$@\" 2>/dev/null | grep -v ' ' | head -n 1; fi; }"
)


class DockerEngine(FactBase[dict]):
    """
    Returns the docker engine state in one round trip, without running docker:
    whether dockerd is installed, its version (its package's, from the dpkg or rpm
    database, so known even when stopped; ``dockerd --version`` only for an engine
    installed without a package), whether the docker CLI is there (a package of its
    own on Debian 13), the compose v2 plugin version (the plugin file in the CLI's
    plugin directories, its package's version) and whether the docker service is
    active and enabled.

    .. code:: python

        {
            "installed": True,
            "version": "26.1.5+dfsg1",
            "cli": True,
            "compose_version": "2.26.1",
            "active": True,
            "enabled": True,
        }
    """

    def command(self):
        plugins = " ".join(f'"{d}/docker-compose"' for d in PLUGIN_DIRS)
        return (
            f"{PACKAGE_VERSION}; "
            "if command -v dockerd >/dev/null 2>&1; then echo installed=yes; "
            f'v=$(package_version {" ".join(ENGINE_PACKAGES)}); '
            'if [ -n "$v" ]; then echo "version=$v"; else echo "dockerd=$(dockerd --version 2>/dev/null)"; fi; fi; '
            'echo "cli=$(command -v docker >/dev/null 2>&1 && echo yes)"; '
            f"for plugin in {plugins}; do if [ -x \"$plugin\" ]; then "
            f'v=$(package_version {" ".join(COMPOSE_PACKAGES)}); '
            'echo "compose_version=${v:-$("$plugin" version --short 2>/dev/null)}"; break; fi; done; '
            'echo "active=$(systemctl is-active docker 2>/dev/null)"; '
            'echo "enabled=$(systemctl is-enabled docker 2>/dev/null)"'
        )

    def process(self, output):
        values = key_values(output)
        version = re.match(r"Docker version ([^,\s]+)", values.get("dockerd", ""))
        return {
            "installed": values.get("installed") == "yes",
            "version": values.get("version") or (version.group(1) if version else None),
            "cli": values.get("cli") == "yes",
            "compose_version": values.get("compose_version") or None,
            "active": values.get("active") == "active",
            "enabled": values.get("enabled") == "enabled",
        }


def _registry_host(key):
    """``host:port`` of an ``auths`` key, which older clients store as a URL."""
    return re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
