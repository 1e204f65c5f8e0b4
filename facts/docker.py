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
    Returns the docker daemon configuration file, parsed, in one round trip (whether
    dockerd runs is ``DockerEngine``'s). ``exists`` is ``False`` for a missing file; an
    existing file that is not a JSON object has ``config: None``, the parser's
    ``error`` and its ``raw`` text. A blank file counts as ``{}``.

    .. code:: python

        {
            "exists": True,
            "mode": "644",
            "config": {"insecure-registries": ["harbor.lab.internal:80"]},
            "error": None,
            "raw": None,
        }
    """

    @staticmethod
    def default():
        return {"exists": False, "mode": None, "config": {}, "error": None, "raw": None}

    def command(self, path=DAEMON_JSON):
        quoted = shlex.quote(path)
        return (
            f"if [ -e {quoted} ]; then "
            f'echo "mode=$(stat -c %a {quoted})"; echo {shlex.quote(CONTENT_MARKER)}; cat {quoted}; '
            "fi"
        )

    def process(self, output):
        head, raw = split_content(output)
        config, error = parse_json_object(raw) if raw is not None else ({}, None)
        return {
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
# Each named package's status and version, one ``package.<name>=<status>|<version>``
# line per package the dpkg (or rpm) database knows, in one query.
PACKAGE_QUERY = (
    "if command -v dpkg-query >/dev/null 2>&1; then "
    "dpkg-query -W -f 'package.${{Package}}=${{db:Status-Abbrev}}|${{Version}}\\n' {packages} 2>/dev/null; "
    "elif command -v rpm >/dev/null 2>&1; then "
    "rpm -q --qf 'package.%{{NAME}}=ii |%{{VERSION}}\\n' {packages} 2>/dev/null; fi"
)


def installed_version(values, packages):
    """The upstream version of the first of ``packages`` installed (epoch and Debian
    revision cut off), from ``PACKAGE_QUERY``'s lines; None when none is."""
    for package in packages:
        status, _, version = values.get(f"package.{package}", "").partition("|")
        if status.strip() == "ii" and version:
            return re.sub(r"-[^-]*$", "", re.sub(r"^[0-9]+:", "", version))
    return None


def unless_installed(packages, command):
    """Shell running ``command`` unless ``$packages`` (``PACKAGE_QUERY``'s output)
    shows one of ``packages`` installed."""
    patterns = "|".join(f"*'package.{package}=ii '*" for package in packages)
    return f'case "$packages" in {patterns}) ;; *) {command};; esac'


class DockerEngine(FactBase[dict]):
    """
    Returns the docker engine state in one round trip, without running docker:
    whether dockerd is installed, its version (its package's, from the dpkg or rpm
    database, so known even when stopped; ``dockerd --version`` only for an engine
    installed without a package), whether the docker CLI is there (a package of its
    own on Debian 13), the compose v2 plugin version (the plugin file in the CLI's
    plugin directories, its package's version) and whether the docker service is
    active and enabled. One package query and one ``systemctl show``.

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
        query = PACKAGE_QUERY.format(packages=" ".join(ENGINE_PACKAGES + COMPOSE_PACKAGES))
        dockerd_version = unless_installed(ENGINE_PACKAGES, 'echo "dockerd=$(dockerd --version 2>/dev/null)"')
        compose_version = unless_installed(COMPOSE_PACKAGES, 'echo "compose=$("$plugin" version --short 2>/dev/null)"')
        return (
            f'packages=$({query}); echo "$packages"; '
            f"if command -v dockerd >/dev/null 2>&1; then echo installed=yes; {dockerd_version}; fi; "
            "command -v docker >/dev/null 2>&1 && echo cli=yes; "
            f'for plugin in {plugins}; do if [ -x "$plugin" ]; then echo compose_plugin=yes; {compose_version}; '
            "break; fi; done; "
            "systemctl show docker --property=ActiveState,UnitFileState 2>/dev/null"
        )

    def process(self, output):
        values = key_values(output)
        installed = values.get("installed") == "yes"
        dockerd = re.match(r"Docker version ([^,\s]+)", values.get("dockerd", ""))
        plugin = values.get("compose_plugin") == "yes"
        return {
            "installed": installed,
            "version": (installed_version(values, ENGINE_PACKAGES) or (dockerd.group(1) if dockerd else None))
            if installed
            else None,
            "cli": values.get("cli") == "yes",
            "compose_version": (installed_version(values, COMPOSE_PACKAGES) or values.get("compose") or None)
            if plugin
            else None,
            "active": values.get("ActiveState") == "active",
            "enabled": values.get("UnitFileState") == "enabled",
        }


def _registry_host(key):
    """``host:port`` of an ``auths`` key, which older clients store as a URL."""
    return re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
