"""Validation of a Harbor server's data before any host changes.

Every problem is collected as ``(key, why)`` and reported at once in one
``ConfigError``. Messages name keys and rules, never secret values.
"""

import difflib
import ipaddress
import json
import math
import re
from pathlib import Path

import yaml

from harbor_deploy.lib.config import schema
from harbor_deploy.lib.config.defaults import (
    HARBOR_LOG_PORT,
    KEYS_BY_NAME,
    REMOTE_CACHE,
    SERVER_TLS_DIR,
    STORAGE_DRIVERS,
    UPGRADE_LOG_DIR,
    defaults,
    merged,
)
from harbor_deploy.lib.config.readers import conninfo_problem, env_file_problem, go_yaml_problem, raw_yaml_problem
from harbor_deploy.lib.config.secrets import (
    REFERENCE_KEYS,
    REFERENCE_NAME_RE,
    SPECS_BY_NAME,
    meets_harbor_password_rule,
    reference_env_var,
    reference_name,
    references,
    resolved,
)
from harbor_deploy.lib.render import tls

MINIMUM_VERSION = (2, 0, 0)
VERSION_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def version_key(version):
    """``v2.13.1`` -> ``(2, 13, 1)``, to order Harbor versions."""
    return tuple(int(part) for part in VERSION_RE.match(version).groups())


# Harbor upgrades at most two minor versions at a time (its migrate refuses more).
MAX_MINOR_STEP = 2


def upgrade_problem(running, target):
    """Why ``running`` can't move to ``target`` in one upgrade, or None."""
    old, new = version_key(running), version_key(target)
    if new < old:
        return (
            f"{target} is older than the running Harbor {running}: downgrades are refused (a database never "
            "moves to an older release; restore a backup onto a reinstall instead)"
        )
    if new[0] != old[0]:
        return f"{running} -> {target} changes the major version: follow Harbor's upgrade notes by hand"
    if new[1] - old[1] <= MAX_MINOR_STEP:
        return None
    steps = [f"v{old[0]}.{old[1]}"]
    minor = old[1]
    while new[1] - minor > MAX_MINOR_STEP:
        minor += MAX_MINOR_STEP
        steps.append(f"v{old[0]}.{minor}")
    steps.append(target)
    return (
        f"{running} -> {target} skips more than {MAX_MINOR_STEP} minor versions: upgrade in steps, "
        f"{' -> '.join(steps)} (set harbor_version to each in turn)"
    )


# How an adoption refusal ends: a Harbor is adopted as it is, changed afterwards.
AS_IT_IS = "adopt it as it is, then change it (and run deploys/client.py for its clients)"


def adoption_problems(install_dir, harbor_yml_text, installed, target, config):
    """Why the Harbor installed by hand in the plain directory ``install_dir`` can't be
    adopted as it is, as ``(key, why)``: its release ``installed`` (from the bundle in
    it) must be ``target``, and what holds its data and what its clients trust must be
    what the inventory says, or adopting would hide its data or break its clients."""
    found = yaml.safe_load(harbor_yml_text) if harbor_yml_text else None
    if not isinstance(found, dict):
        yield "harbor_install_dir", f"{install_dir}/harbor.yml is missing or not YAML: there is nothing to adopt from"
        return
    if installed is None:
        yield "harbor_install_dir", f"{install_dir} holds no harbor.v*.tar.gz, so its release is unknown"
    elif installed != target:
        yield (
            "harbor_version",
            f"{install_dir} holds Harbor {installed}, installed by hand: set harbor_version to {installed} to "
            f"adopt it as it is, then to {target} to upgrade it",
        )
    data_volume = str(found.get("data_volume", "")).rstrip("/")
    if data_volume != config["harbor_data_volume"].rstrip("/"):
        yield "harbor_data_volume", f"is not {data_volume or 'set'}, where {install_dir}/harbor.yml keeps Harbor's data"
    database = found.get("external_database")
    database = database.get("harbor") if isinstance(database, dict) else None
    for key, section, value in (
        ("harbor_external_database", "external_database", database),
        ("harbor_external_redis", "external_redis", found.get("external_redis")),
        ("harbor_storage_service", "storage_service", found.get("storage_service")),
    ):
        if _backing(value) != _backing(config[key]):
            yield key, f"must say what {install_dir}/harbor.yml's {section} says: Harbor's data is there"
    https = found.get("https") if isinstance(found.get("https"), dict) else None
    http = found.get("http") if isinstance(found.get("http"), dict) else {}
    # Where its clients reach it: adopted as it is, changed afterwards like any setting.
    served = {
        "harbor_hostname": found.get("hostname"),
        "harbor_http_port": http.get("port"),
        "harbor_https_port": (https or {}).get("port"),
    }
    for key, value in served.items():
        if value is not None and str(value).lower() != str(config[key]).lower():
            yield key, f"is not {value}, which {install_dir}/harbor.yml serves to its clients: {AS_IT_IS}"
    if https and config["harbor_tls_mode"] != "provided":
        yield (
            "harbor_tls_mode",
            f"{install_dir}/harbor.yml serves HTTPS with {https.get('certificate')} and {https.get('private_key')}, "
            "which its clients trust: copy both to the controller and set harbor_tls_mode: provided, "
            "harbor_tls_certificate, harbor_tls_private_key (and harbor_tls_chain: the CA the clients trust); "
            f"{AS_IT_IS}",
        )
    elif not https and config["harbor_tls_mode"] != "http":
        yield "harbor_tls_mode", f"{install_dir}/harbor.yml serves plain HTTP to its clients: set http; {AS_IT_IS}"


def _backing(section):
    """Where a harbor.yml section or its inventory key puts data: the database or Redis
    host, or the storage driver; None for Harbor's own."""
    if not isinstance(section, dict) or not section:
        return None
    if "host" in section:
        return str(section["host"])
    return sorted(name for name in section if name not in STORAGE_OPTIONS)


SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
PURGE_HOURS_RE = re.compile(r"^(\d+)h$")
DNS_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SERVER_PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]*$")
EXTERNAL_URL_RE = re.compile(r"^https?://(?P<host>[^/:\[\]]+|\[[0-9a-fA-F:.]+\])(?::(?P<port>\d{1,5}))?/?$")

PLACEHOLDER_HOSTNAME = "reg.mydomain.com"
DEFAULT_PASSWORDS = ("Harbor12345", "root123")
# What people put in the inventory instead of using the secret sources.
SECRET_KEY_ALIASES = {
    "harbor_admin_password": "admin_password",
    "harbor_db_password": "db_password",
    "harbor_database_password": "db_password",
}
STORAGE_OPTIONS = ("ca_bundle", "redirect")


def confirmation_problems(config, key, action):
    """An operation that can destroy data asks for the hostname repeated in ``key``:
    ``[(key, why)]`` unless it repeats ``harbor_hostname`` exactly."""
    if config[key] != config["harbor_hostname"]:
        return [(key, f"must repeat harbor_hostname ({config['harbor_hostname']}) to confirm {action}")]
    return []


class ConfigError(Exception):
    """Invalid data; ``problems`` is the list of ``(key, why)``."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = "\n".join(f"  {key}: {why}" for key, why in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the Harbor server data:\n{lines}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_port(value):
    return _is_int(value) and 1 <= value <= 65535


def _is_ip(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_dns_name(value):
    labels = value.rstrip(".").split(".")
    return len(value) <= 253 and all(DNS_LABEL_RE.match(label) for label in labels)


def _suggestion(name, known):
    """`` (did you mean x?)`` for the closest known name, compared without the shared prefix."""
    stem = name.removeprefix("harbor_")
    stems = {candidate.removeprefix("harbor_"): candidate for candidate in known}
    close = difflib.get_close_matches(stem, sorted(stems), n=1)
    return f" (did you mean {stems[close[0]]}?)" if close else ""


def _unknown_key_problems(data, other_keys):
    known = set(KEYS_BY_NAME) | set(other_keys)
    for name in data:
        if not name.startswith("harbor_") or name in known:
            continue
        if name in SECRET_KEY_ALIASES:
            spec = SPECS_BY_NAME[SECRET_KEY_ALIASES[name]]
            yield (
                name,
                (
                    f"secrets are not inventory data: set {spec.env_var} or put it in "
                    f"<harbor_secrets_dir>/<hostname>/{spec.name}"
                ),
            )
            continue
        yield name, f"unknown key{_suggestion(name, known)}"


def hostname_problems(config):
    hostname = config.get("harbor_hostname")
    key = "harbor_hostname"
    if not hostname:
        yield key, "required: the DNS name (or IP) clients use to reach Harbor"
        return
    if not isinstance(hostname, str):
        yield key, "must be a string"
        return
    if "://" in hostname or "/" in hostname or (":" in hostname and not _is_ip(hostname)):
        yield key, "must be a bare host name or IP, without scheme, port or path"
    elif _is_ip(hostname) and ipaddress.ip_address(hostname).version == 6:
        yield (
            key,
            (
                "must not be an IPv6 address: Harbor's prepare builds its URLs as "
                "<scheme>://<hostname>:<port> without brackets, so the token realm and external URL "
                "would be broken; use a DNS name (with an AAAA record)"
            ),
        )
    elif hostname.lower() == "localhost" or _is_ip(hostname) and ipaddress.ip_address(hostname).is_loopback:
        yield key, "must not be localhost or a loopback address: clients outside the server must reach it"
    elif hostname.lower() == PLACEHOLDER_HOSTNAME:
        yield key, f"{PLACEHOLDER_HOSTNAME} is Harbor's placeholder: set the real name"
    elif not _is_ip(hostname) and not _is_dns_name(hostname):
        yield key, "is not a valid DNS name or IP address"


def _version_problems(config):
    version = config["harbor_version"]
    if version == "latest":
        return
    match = VERSION_RE.match(str(version))
    if not match:
        yield "harbor_version", 'must be "vX.Y.Z" (e.g. v2.13.1) or "latest"'
    elif tuple(int(part) for part in match.groups()) < MINIMUM_VERSION:
        yield "harbor_version", "must be v2.0.0 or newer"


def unverified_source(config):
    """What leaves the installer with nothing but a pinned sha256 to vouch for it, or
    None: a file from anywhere, or a mirror over plain HTTP, whose md5sum comes the
    same way as the bundle. (The official source and an HTTPS mirror are authenticated
    by TLS, and their md5sum with them.)"""
    source, url = config["harbor_installer_source"], config["harbor_mirror_url"]
    if source == "file":
        return "harbor_installer_source is file"
    if source == "mirror" and str(url).startswith("http://"):
        return f"harbor_mirror_url {url} is plain HTTP"
    return None


def _installer_problems(config):
    source = config["harbor_installer_source"]
    url = config["harbor_mirror_url"]
    if source == "mirror" and not url:
        yield "harbor_mirror_url", "required when harbor_installer_source is mirror"
    if url is not None and not re.match(r"^https?://[^/\s]+", str(url)):
        yield "harbor_mirror_url", "must be an http(s):// URL"
    path = config["harbor_installer_file"]
    if source == "file":
        if not path:
            yield "harbor_installer_file", "required when harbor_installer_source is file"
        elif not Path(path).is_file():
            yield "harbor_installer_file", f"no such file on the controller: {path}"
    pin, version, why = config["harbor_installer_sha256"], config["harbor_version"], unverified_source(config)
    if why and pin is None:
        yield (
            "harbor_installer_sha256",
            f"required as {why}: nothing else vouches for the bundle (an md5sum would come the same way); "
            "pin the sha256 of the offline installer you trust, or {vX.Y.Z: sha256} of each release allowed",
        )
    elif why and isinstance(pin, dict) and version != "latest" and version not in pin:
        yield "harbor_installer_sha256", f"pins no sha256 for harbor_version {version}, and {why}: add it"
    if not ENV_NAME_RE.match(str(config["harbor_github_token_env"])):
        yield "harbor_github_token_env", "must be the name of an environment variable"


ARMORED_PUBLIC_KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
ARMORED_PRIVATE_KEY = b"-----BEGIN PGP PRIVATE KEY BLOCK-----"
OPENPGP_PUBLIC_KEY_TAG, OPENPGP_SECRET_KEY_TAG = 6, 5


def openpgp_key_kind(data):
    """ "public", "private" or None: what an OpenPGP key file holds (armored, or binary
    by its first packet's tag)."""
    if ARMORED_PUBLIC_KEY in data:
        return "public"
    if ARMORED_PRIVATE_KEY in data:
        return "private"
    if not data or not data[0] & 0x80:
        return None
    tag = data[0] & 0x3F if data[0] & 0x40 else (data[0] >> 2) & 0x0F  # new or old packet format
    return {OPENPGP_PUBLIC_KEY_TAG: "public", OPENPGP_SECRET_KEY_TAG: "private"}.get(tag)


def docker_repo_problems(config):
    """The internal repository Docker is installed from (``harbor_docker_*``): a URL,
    and the public key that signs it on the controller."""
    url, key = config["harbor_docker_repo_url"], config["harbor_docker_repo_key"]
    if url is None:
        for name in ("harbor_docker_repo_key", "harbor_docker_repo_suite", "harbor_docker_packages"):
            if config[name] is not None:
                yield name, "has no effect without harbor_docker_repo_url"
        return
    if not re.match(r"^https?://[^/\s]+\S*$", url):
        yield "harbor_docker_repo_url", "must be an http(s):// URL (the packages are signed: plain http will do)"
    elif "@" in url.split("/")[2]:
        yield (
            "harbor_docker_repo_url",
            "must not hold credentials (user:password@): it is written to the host's sources and shown in the "
            "operation's name; give the host apt's auth.conf or dnf's username/password yourself",
        )
    if not key:
        yield "harbor_docker_repo_key", "required with harbor_docker_repo_url: the repository's signing key"
    elif not Path(key).is_file():
        yield "harbor_docker_repo_key", f"no such file on the controller: {key}"
    else:
        kind = openpgp_key_kind(Path(key).read_bytes())
        if kind == "private":
            yield "harbor_docker_repo_key", f"{key} holds a private key: give the public key that verifies the packages"
        elif kind is None:
            yield "harbor_docker_repo_key", f"{key} is not an OpenPGP public key (armored or binary)"


# The offline Trivy database keys: the database file each bundle holds beside its
# metadata.json (trivy-db, trivy-java-db), checked on the host before it is placed.
TRIVY_BUNDLE_KEYS = ("harbor_trivy_offline_db", "harbor_trivy_offline_java_db")


def _trivy_bundle_problems(config):
    for key in TRIVY_BUNDLE_KEYS:
        path = config[key]
        if not path:
            continue
        if not config["harbor_with_trivy"]:
            yield key, "needs harbor_with_trivy: without Trivy no adapter reads it"
        elif not Path(path).is_file():
            yield key, f"no such file on the controller: {path}"
    if config["harbor_trivy_offline_java_db"] and not config["harbor_trivy_offline_db"]:
        yield (
            "harbor_trivy_offline_java_db",
            "needs harbor_trivy_offline_db: Trivy scans with its vulnerability database",
        )


def _port_problems(config):
    ports = {"harbor_http_port": config["harbor_http_port"]}
    if config["harbor_tls_mode"] != "http":
        ports["harbor_https_port"] = config["harbor_https_port"]
    metric = config["harbor_metric"]
    if isinstance(metric, dict) and metric.get("enabled"):
        ports["harbor_metric"] = metric.get("port")
    seen = {}
    for key, port in ports.items():
        if not is_port(port):
            yield key, "port must be an integer from 1 to 65535"
            continue
        if port == HARBOR_LOG_PORT:
            yield key, f"port {port} is taken by harbor-log (127.0.0.1:{port})"
        if port in seen:
            yield key, f"port {port} is also used by {seen[port]}"
        seen.setdefault(port, key)


def _log_endpoint_problems(config):
    # Harbor's prepare writes it unquoted into rsyslog's configuration.
    host = (config["harbor_log_external_endpoint"] or {}).get("host")
    if host and not (_is_ip(host) or _is_dns_name(host)):
        yield "harbor_log_external_endpoint", "host must be a DNS name or an IP address"


def _tls_problems(config):
    mode = config["harbor_tls_mode"]
    if mode == "http" and config["harbor_tls_strong_ssl_ciphers"]:
        # prepare sets strong_ssl_ciphers from the https section only.
        yield "harbor_tls_strong_ssl_ciphers", "has no effect without TLS (harbor_tls_mode is http)"
    sans = config["harbor_tls_extra_sans"]
    if isinstance(sans, list):
        for name in sans:
            if not isinstance(name, str) or not (_is_ip(name) or _is_dns_name(name.removeprefix("*."))):
                yield "harbor_tls_extra_sans", "every entry must be a DNS name or an IP address"
                break
    if mode != "provided":
        return
    paths = {}
    for key in ("harbor_tls_certificate", "harbor_tls_private_key", "harbor_tls_chain"):
        path = config[key]
        if not path:
            if key != "harbor_tls_chain":
                yield key, "required when harbor_tls_mode is provided"
        elif not Path(path).is_file():
            yield key, f"no such file on the controller: {path}"
        else:
            paths[key] = Path(path)
    if "harbor_tls_certificate" in paths and "harbor_tls_private_key" in paths and config["harbor_hostname"]:
        for why in tls.check_pair(
            paths["harbor_tls_certificate"].read_bytes(),
            paths["harbor_tls_private_key"].read_bytes(),
            config["harbor_hostname"],
        ):
            yield "harbor_tls_certificate", why
    if "harbor_tls_chain" in paths:
        chain = paths["harbor_tls_chain"].read_bytes()
        try:
            tls.load_certificates(chain)
        except tls.TlsError as error:
            yield "harbor_tls_chain", str(error)
            return
        certificate = paths["harbor_tls_certificate"].read_bytes() if "harbor_tls_certificate" in paths else b""
        if tls.is_certificate(certificate):  # what else it is: the certificate's problem
            for why in tls.chain_problems(certificate, chain):
                yield "harbor_tls_chain", why


def _url_problems(config):
    # Harbor writes it raw into env files, the registry's config.yml and nginx: a name
    # or address and a port leave nothing there to misread.
    url = config["harbor_external_url"]
    if url is None:
        return
    match = EXTERNAL_URL_RE.match(url)
    host = match and match.group("host")
    port = match and match.group("port")
    if not (host and (_is_dns_name(host) or _is_ip(host.strip("[]"))) and (port is None or 1 <= int(port) <= 65535)):
        yield "harbor_external_url", "must be http(s)://host[:port] (a DNS name or IP, and a port from 1 to 65535)"


def server_path_problem(path):
    """Why ``path`` can't be a server path the deploy and Harbor's scripts use, or None.

    Only letters, digits and ``._-/``: the paths go into shell commands and systemd
    units, and Harbor's ``prepare`` script reads ``data_volume`` with
    ``awk '{print $NF}'``, so a blank would silently mount another directory."""
    if not isinstance(path, str) or not path.startswith("/"):
        return "must be an absolute path on the server"
    if not SERVER_PATH_RE.match(path):
        bad = sorted({char for char in path if not SERVER_PATH_RE.match("/" + char)})
        return (
            f"may contain only letters, digits and . _ - / (not {' '.join(repr(c) for c in bad)}): "
            "it goes into shell commands and Harbor's prepare script, which splits it at blanks"
        )
    if "/../" in f"{path}/" or "/./" in f"{path}/" or "//" in path:
        return "must be a normalised path (no //, /./ or /../)"
    return None


# The server folders that are Harbor's alone: a restore, a purge or a release prune
# deletes what they hold, so each must be a folder of its own, apart from the others.
DEDICATED_KEYS = ("harbor_data_volume", "harbor_log_location", "harbor_backup_dir", "harbor_install_dir")
# The folders the Filesystem Hierarchy Standard (3.0) gives to the system or shares
# between programs (with the usual /lib64, /usr/libexec and /var/backups).
SHARED_DIRS = frozenset(
    (
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt",
        "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
        "/usr", "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/sbin", "/usr/share",
        "/usr/src", "/usr/local", "/usr/local/bin", "/usr/local/etc", "/usr/local/include", "/usr/local/lib",
        "/usr/local/sbin", "/usr/local/share", "/usr/local/src",
        "/var", "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail",
        "/var/opt", "/var/run", "/var/spool", "/var/tmp",
    )
)  # fmt: skip
# Folders in memory or made up by the kernel: what is there is gone at a reboot.
VOLATILE_DIRS = ("/dev", "/proc", "/run", "/sys", "/tmp")
# The deploy's own fixed folders, which uninstall deletes.
DEPLOY_DIRS = {
    REMOTE_CACHE: "the deploy's installer cache",
    UPGRADE_LOG_DIR: "the deploy's upgrade logs",
    SERVER_TLS_DIR: "the deploy's TLS files",
}


def _within(path, folder):
    """Whether ``path`` is ``folder`` or inside it (both normalised, without a trailing /)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def dedicated_folder_problems(config):
    """Why the folders of ``DEDICATED_KEYS`` are not Harbor's alone, as ``(key, why)``:
    one is a system folder, lies where nothing is kept across a reboot, or overlaps
    another (the releases beside ``harbor_install_dir`` and the deploy's own folders
    included). An overlap is named by the key set away from its default (the inner one
    when both are)."""
    folders = {
        key: config[key].rstrip("/") or "/" for key in DEDICATED_KEYS if server_path_problem(config[key]) is None
    }
    for key, path in list(folders.items()):
        volatile = next((folder for folder in VOLATILE_DIRS if _within(path, folder)), None)
        if path in SHARED_DIRS:
            del folders[key]
            yield (
                key,
                f"{path} is a system folder other programs use: give Harbor a folder of its own "
                f"(e.g. {KEYS_BY_NAME[key].default}); a restore, a purge or a release prune deletes what it holds",
            )
        elif volatile:
            del folders[key]
            yield key, f"{path} is under {volatile}, which is not kept across a reboot: give Harbor a folder on disk"
    install = folders.get("harbor_install_dir")
    keys = list(folders)
    for index, key in enumerate(keys):
        path = folders[key]
        for other in keys[index + 1 :]:
            inner, outer = (other, key) if _within(folders[other], folders[key]) else (key, other)
            if _within(folders[inner], folders[outer]):
                yield _overlap(config, folders, inner, outer)
        if install and key != "harbor_install_dir" and path.startswith(f"{install}-v"):
            yield (
                key,
                f"{path} is where the releases of harbor_install_dir go ({install}-v*): "
                "pruning old releases would delete it",
            )
        for folder, what in DEPLOY_DIRS.items():
            if _within(path, folder) or _within(folder, path):
                yield key, f"{path} overlaps {folder}, {what}: give Harbor a folder of its own"


def _overlap(config, folders, inner, outer):
    """The problem of folder ``inner`` inside ``outer``, named by ``inner``; of two
    equal folders, named by the key set away from its default: the one to change.
    (Every folder around a default one is a system folder, refused already.)"""
    why = (
        "each must be a folder of its own: a restore, a purge or a release prune of one would delete the other's files"
    )
    if folders[inner] == folders[outer]:
        if config[inner] == KEYS_BY_NAME[inner].default:
            inner, outer = outer, inner
        return inner, f"{folders[inner]} is also {outer}: {why}"
    return inner, f"{folders[inner]} is inside {outer} ({folders[outer]}): {why}"


def _path_problems(config):
    for key in DEDICATED_KEYS:
        why = server_path_problem(config[key])
        if why:
            yield key, why
    yield from dedicated_folder_problems(config)


def _record_value_problems(config):
    purging = config["harbor_upload_purging"]
    for field in ("age", "interval"):
        match = PURGE_HOURS_RE.match(str(purging.get(field)))
        if match and int(match.group(1)) < 2:
            yield "harbor_upload_purging", f"{field} must be <n>h with n >= 2 (e.g. 168h)"
    cache = config["harbor_cache"]
    if cache.get("enabled") and isinstance(cache.get("expire_hours"), int) and cache["expire_hours"] <= 0:
        yield "harbor_cache", "expire_hours must be an integer > 0"


def _storage_problems(config):
    storage = config["harbor_storage_service"]
    key = "harbor_storage_service"
    if storage is None:
        return
    drivers = [name for name in storage if name not in STORAGE_OPTIONS]
    if len(drivers) != 1:
        yield key, f"must name exactly one storage driver of {', '.join(STORAGE_DRIVERS)}"
    for driver in drivers:
        # Harbor's prepare would silently store on the filesystem instead: refused here.
        if driver not in STORAGE_DRIVERS:
            yield key, f"storage driver {driver!r} is not one of {', '.join(STORAGE_DRIVERS)}"
        elif driver != "filesystem" and not (isinstance(storage[driver], dict) and storage[driver]):
            yield key, f"driver {driver} needs its configuration"
        elif isinstance(storage[driver], dict):
            yield from _driver_setting_problems(f"{key}.{driver}", storage[driver])
    bundle = storage.get("ca_bundle")
    if bundle is not None and server_path_problem(bundle):
        yield key, f"ca_bundle {server_path_problem(bundle)}"


# prepare writes each setting of the driver as one raw ``<name>: <value>`` line
# (make/photon/prepare/utils/registry.py get_storage_provider_info).
DRIVER_SETTING_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _driver_setting_problems(path, settings):
    for name, value in settings.items():
        if not (isinstance(name, str) and DRIVER_SETTING_RE.fullmatch(name)):
            yield path, f"setting {name!r} must be a name of letters, digits and _ (prepare writes it raw)"
        elif isinstance(value, list) or isinstance(value, dict) and reference_name(value) is None:
            yield (
                f"{path}.{name}",
                "must be a single value: prepare writes each setting of the driver on one line as Python "
                "prints it, which is no YAML for a list or a dict",
            )
        elif isinstance(value, float) and not math.isfinite(value):
            yield f"{path}.{name}", "must be a finite number"


def _trace_problems(config):
    """What prepare's Trace.validate refuses when tracing is enabled
    (make/photon/prepare/models.py): one exporter, a Jaeger collector endpoint or agent
    host, an OpenTelemetry endpoint and URL path."""
    trace = config["harbor_trace"]
    key = "harbor_trace"
    if not (trace and trace.get("enabled")):
        return
    exporters = [name for name in ("jaeger", "otel") if trace.get(name)]
    if len(exporters) != 1:
        yield key, "needs exactly one exporter when enabled, jaeger or otel (Harbor's prepare refuses none or both)"
    elif exporters == ["jaeger"] and bool(trace["jaeger"].get("endpoint")) == bool(trace["jaeger"].get("agent_host")):
        yield key, "jaeger needs its collector endpoint or its agent_host, one of them (Harbor's prepare)"
    elif exporters == ["otel"] and not (trace["otel"].get("endpoint") and trace["otel"].get("url_path")):
        yield key, "otel needs its endpoint and its url_path (Harbor's prepare)"


def _external_problems(config, secrets):
    database = config["harbor_external_database"]
    if (
        database is not None
        and "password" not in database
        and secrets is not None
        and secrets.external_db_password is None
    ):
        spec = SPECS_BY_NAME["external_db_password"]
        yield (
            "harbor_external_database",
            (
                f"password is required: in the dict, in {spec.env_var} or in "
                f"<harbor_secrets_dir>/<hostname>/{spec.name}"
            ),
        )
    host = (database or {}).get("host")
    if host and not (_is_dns_name(host) or _is_ip(host)):
        yield (
            "harbor_external_database.host",
            "must be a DNS name or an IP address: Harbor writes it unquoted into its database connection "
            "string (host=...), which reads a comma as several hosts and a path as a socket directory",
        )
    redis = config["harbor_external_redis"] or {}
    if "username" in redis:
        yield (
            "harbor_external_redis.username",
            "is not supported: Harbor v2.13 puts it into the Redis URLs of core, jobservice and trivy but "
            "not into the registry's config.yml, so the registry logs in as Redis' default user "
            "(goharbor/harbor#18892); use the default user's password only",
        )
    tls_options = redis.get("tlsOptions") or {}
    if tls_options.get("enable") and not tls_options.get("rootCA"):
        yield (
            "harbor_external_redis.tlsOptions",
            "rootCA is required when enable is true: Harbor's prepare reads it then (it fails with "
            "KeyError: 'rootCA' without it)",
        )
    elif tls_options.get("rootCA") and server_path_problem(tls_options["rootCA"]):
        yield "harbor_external_redis.tlsOptions", f"rootCA {server_path_problem(tls_options['rootCA'])}"


# Values Harbor's prepare replaces, so Harbor would run with another one
# (make/photon/prepare/utils/configs.py): ``x or default`` drops a 0, and
# max_job_duration_hours under 24 becomes 24.
IDLE_CONNS_ZERO = "prepare replaces 0 by 2 (-1 keeps no idle connection)"
REPLACED_ZEROS = (
    ("harbor_db_max_idle_conns", None, IDLE_CONNS_ZERO),
    ("harbor_external_database", "max_idle_conns", IDLE_CONNS_ZERO),
    ("harbor_external_redis", "registry_db_index", "prepare replaces 0 by 1 (Redis database 0 is core's)"),
    ("harbor_external_redis", "jobservice_db_index", "prepare replaces 0 by 2 (Redis database 0 is core's)"),
    ("harbor_external_redis", "trivy_db_index", "prepare replaces 0 by 5 (Redis database 0 is core's)"),
    ("harbor_external_redis", "idle_timeout_seconds", "prepare replaces 0 by 30"),
)
MIN_JOB_DURATION_HOURS = 24


def _replaced_value_problems(config):
    for key, field, why in REPLACED_ZEROS:
        value = config[key] if field is None else (config[key] or {}).get(field)
        if _is_int(value) and value == 0:
            yield key if field is None else f"{key}.{field}", f"must not be 0: {why}"
    hours = config["harbor_jobservice_max_job_duration_hours"]
    if _is_int(hours) and hours < MIN_JOB_DURATION_HOURS:
        yield (
            "harbor_jobservice_max_job_duration_hours",
            f"must be {MIN_JOB_DURATION_HOURS} or more: prepare raises a smaller value to {MIN_JOB_DURATION_HOURS}",
        )


# harbor-db's first start runs ALTER USER postgres ... PASSWORD '<database.password>' with
# the value pasted in as it is (make/photon/db/initdb.sh): a quote ends the string.
INITDB_QUOTE = (
    "contains a single quote: harbor-db's first start puts database.password into an SQL "
    "string as it is, so PostgreSQL refuses it and the database gets no password"
)
# Where prepare puts each password (make/photon/prepare/templates): every one into env
# files but the external Redis password, which goes URL-quoted into Redis URLs and raw
# into the registry's config.yml; the database passwords also into the connection
# string Harbor's services build (src/common/dao/pgsql.go). The same readers whatever
# the source (inventory, environment, secrets file).
PASSWORD_READERS = {
    "admin_password": (env_file_problem,),
    "db_password": (env_file_problem, conninfo_problem),
    "external_db_password": (env_file_problem, conninfo_problem),
    "external_redis_password": (raw_yaml_problem,),
}
# The external database's other values go where its password goes.
DATABASE_FIELD_READERS = {
    "db_name": PASSWORD_READERS["external_db_password"],
    "username": PASSWORD_READERS["external_db_password"],
    "password": PASSWORD_READERS["external_db_password"],
}


def _value_problems(config, secrets):
    """Values that would reach Harbor changed, named by key (never shown)."""
    referenced = secrets.referenced if secrets is not None else {}
    checks = []
    if secrets is not None:
        for name, readers in PASSWORD_READERS.items():
            secret = getattr(secrets, name)
            if secret is not None and not secrets.recovered(name):
                checks.append((f"{name} ({secret.source})", secret.reveal(), readers))
    for field in ("http_proxy", "https_proxy", "no_proxy"):
        value = config["harbor_proxy"].get(field)
        name = reference_name(value)
        if name in referenced:
            value = referenced[name].reveal()
        if isinstance(value, str) and value:
            checks.append((f"harbor_proxy.{field}", value, (env_file_problem,)))
    # Tracing settings go raw into the TRACE_* lines of core's, jobservice's and
    # registryctl's env files (make/photon/prepare/templates/*/env.jinja), the
    # attributes as JSON.
    trace = config["harbor_trace"] or {}
    if set(references(trace)) <= set(referenced):
        trace = resolved(trace, referenced)
    fields = [("namespace", trace.get("namespace"))]
    fields += [(f"jaeger.{name}", value) for name, value in (trace.get("jaeger") or {}).items()]
    fields += [(f"otel.{name}", value) for name, value in (trace.get("otel") or {}).items()]
    if trace.get("attributes"):
        fields.append(("attributes", json.dumps(trace["attributes"])))
    for field, value in fields:
        if isinstance(value, str):
            checks.append((f"harbor_trace.{field}", value, (env_file_problem,)))
    database = config["harbor_external_database"] or {}
    for field, readers in DATABASE_FIELD_READERS.items():
        if field in database:
            checks.append((f"harbor_external_database.{field}", database[field], readers))
    redis = config["harbor_external_redis"] or {}
    if redis.get("password"):
        checks.append(
            ("harbor_external_redis.password", redis["password"], PASSWORD_READERS["external_redis_password"])
        )
    storage = config["harbor_storage_service"] or {}
    if set(references(storage)) <= set(referenced):
        storage = resolved(storage, referenced)
    for driver, settings in storage.items():
        if driver in STORAGE_OPTIONS or not isinstance(settings, dict):
            continue
        for field, value in settings.items():
            if isinstance(value, str):
                checks.append((f"harbor_storage_service.{driver}.{field}", value, (go_yaml_problem,)))
    for key, value, readers in checks:
        why = next((found for found in (reader(value) for reader in readers) if found), None)
        if why:
            yield key, why
    database = secrets.db_password if secrets is not None else None
    if (
        database is not None
        and not config["harbor_external_database"]
        and not secrets.recovered("db_password")
        and "'" in database.reveal()
        and not env_file_problem(database.reveal())
        and not conninfo_problem(database.reveal())
    ):
        yield f"db_password ({database.source})", INITDB_QUOTE


def _reference_problems(config, secrets):
    for key in REFERENCE_KEYS:
        for name in references(config.get(key)):
            if not REFERENCE_NAME_RE.match(name):
                yield key, f"secret name {name!r} must be 1-64 of a-z, 0-9 and _"
            elif secrets is not None and name not in secrets.referenced:
                yield (
                    key,
                    (
                        f"secret {name} is missing: set {reference_env_var(name)} or put it in "
                        f"<harbor_secrets_dir>/<hostname>/{name}"
                    ),
                )


def _secret_problems(secrets):
    if secrets is None:
        return
    admin, database = secrets.admin_password, secrets.db_password
    # A value taken back from an installed Harbor is what it runs with: not judged again.
    for name, secret in (("admin_password", admin), ("db_password", database)):
        value = secret.reveal()
        if secrets.recovered(name):
            continue
        if not value:
            yield name, f"is empty ({secret.source})"
        elif value in DEFAULT_PASSWORDS:
            yield name, f"is one of Harbor's published default passwords ({secret.source})"
    if admin.reveal() and not secrets.recovered("admin_password") and not meets_harbor_password_rule(admin.reveal()):
        yield (
            "admin_password",
            (
                "must be 8-128 characters with a lowercase letter, an uppercase "
                f"letter and a digit, as Harbor requires ({admin.source})"
            ),
        )


def problems(data, secrets=None, other_keys=()):
    """Every ``(key, why)`` problem of host ``data``; ``secrets`` (HarborSecrets) is checked too.

    ``other_keys`` are further ``harbor_*`` keys that are legitimately present
    (e.g. keys of the client deploy set for all hosts).
    """
    found = list(_unknown_key_problems(data, other_keys))
    config = merged(data)
    shape_problems = list(schema.problems(config))
    found += shape_problems
    # The rules with meaning run on defaults (None for a required key) in place of misshapen
    # values: one message per mistake, and no rule ever sees a value of the wrong type.
    broken = {key.split("[")[0] for key, _ in shape_problems}
    fallback = defaults()
    config.update({key: fallback.get(key) for key in broken})
    checks = (
        hostname_problems,
        _version_problems,
        _installer_problems,
        docker_repo_problems,
        _trivy_bundle_problems,
        _port_problems,
        _log_endpoint_problems,
        _tls_problems,
        _url_problems,
        _path_problems,
        _record_value_problems,
        _replaced_value_problems,
        _storage_problems,
        _trace_problems,
    )
    for check in checks:
        found += [(key, why) for key, why in check(config) if key not in broken]
    found += _external_problems(config, secrets)
    found += _secret_problems(secrets)
    found += _reference_problems(config, secrets)
    if not found:
        found += _value_problems(config, secrets)
    return list(dict.fromkeys(found))


def validated(data, secrets=None, other_keys=()):
    """The merged configuration of ``data``; raises ``ConfigError`` listing every problem."""
    found = problems(data, secrets, other_keys)
    if found:
        raise ConfigError(found)
    return merged(data)
