import shlex

from pyinfra.api import FactBase

from harbor_deploy.lib.render.backing import SWIFT_CONTAINERS_SCRIPT

PACKAGES = (
    "postgresql",
    "redis-server",
    "memcached",
    "swift",
    "swift-proxy",
    "swift-account",
    "swift-container",
    "swift-object",
)

# Run by python3: can files at ``path`` (or its nearest existing parent) hold a user
# xattr of 2 KiB, as Swift's object server writes its metadata?
_XATTR_CHECK = r"""
import os, sys, tempfile
path = sys.argv[1]
while not os.path.isdir(path):
    path = os.path.dirname(path) or "/"
try:
    with tempfile.NamedTemporaryFile(dir=path) as probe:
        os.setxattr(probe.name, "user.swift.metadata", b"x" * 2048)
    print("xattr ok %s" % path)
except OSError as error:
    print("xattr %s %s" % (path, error.strerror or error))
"""


# The tables of the database's public schema: none until Harbor's core first migrates it.
TABLES_SQL = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"


class BackingState(FactBase[dict]):
    """
    Returns what a ``harbor_backing`` host has of its services, in one round trip: the
    OS (its ``ID`` then the ``ID_LIKE`` words of os-release) and codename, the installed
    packages of ``PACKAGES``, PostgreSQL clusters and the major version the
    ``postgresql`` package would install, whether the role and database exist and the
    role's SCRAM verifier and the tables of its database's public schema (asked over the
    local socket as postgres), systemd units' state,
    Swift's rings and hash settings, whether the Swift device's filesystem holds user
    xattrs, the containers present and each service's health. Read it with
    ``quiet_fact``: it holds Swift's hash path prefix and suffix and the verifier. Always succeeds.

    .. code:: python

        {"codename": "trixie", "os": ["debian"], "packages": ["postgresql", ...],
         "pg_clusters": ["17"], "pg_candidate": "17", "pg_role": True, "pg_database": True,
         "pg_verifier": "SCRAM-SHA-256$4096:...", "pg_tables": 0,
         "units": {"redis-server": {"enabled": "enabled", "active": "active"}},
         "rings": ["account", "container", "object"],
         "swift_hash": {"prefix": "...", "suffix": "..."}, "xattr": "ok /srv/node",
         "containers": {"harbor": "present"}, "swift_auth": None,
         "health": {"postgresql": True, "redis": True, "swift": True}}
    """

    @staticmethod
    def default():
        return {
            "codename": None,
            "os": [],
            "packages": [],
            "pg_clusters": [],
            "pg_candidate": None,
            "pg_role": False,
            "pg_database": False,
            "pg_verifier": None,
            "pg_tables": None,
            "units": {},
            "rings": [],
            "swift_hash": {},
            "xattr": None,
            "containers": {},
            "swift_auth": None,
            "health": {},
        }

    def command(self, db_port, db_name, db_username, redis_port, swift_port, account, user, containers, units, devices):
        q = shlex.quote
        role = db_username.replace("'", "''")
        role_sql = f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"
        db_sql = f"SELECT 1 FROM pg_database WHERE datname = '{db_name.replace(chr(39), chr(39) * 2)}'"
        verifier_sql = f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
        psql = f"runuser -u postgres -- psql -X -q -p {int(db_port)} -d postgres -tAc"
        psql_harbor = f"runuser -u postgres -- psql -X -q -p {int(db_port)} -d {q(db_name)} -tAc"
        return "; ".join(
            [
                '. /etc/os-release 2>/dev/null; echo "codename ${VERSION_CODENAME:-}"; '
                'echo "os ${ID:-} ${ID_LIKE:-}"',
                f"dpkg-query -W -f '${{Package}} ${{db:Status-Status}}\\n' {' '.join(PACKAGES)} 2>/dev/null"
                " | sed -n 's/^\\(\\S*\\) installed$/package \\1/p'",
                'for d in /etc/postgresql/*/main; do [ -d "$d" ] && echo "pg_cluster $(basename $(dirname $d))"; done',
                "apt-cache depends postgresql 2>/dev/null"
                " | sed -n 's/.*Depends: postgresql-\\([0-9][0-9]*\\)$/pg_candidate \\1/p'",
                f'command -v psql >/dev/null && [ "$({psql} {q(role_sql)} 2>/dev/null)" = 1 ] && echo pg_role',
                f'command -v psql >/dev/null && [ "$({psql} {q(db_sql)} 2>/dev/null)" = 1 ] && echo pg_database',
                f'command -v psql >/dev/null && echo "pg_verifier $({psql} {q(verifier_sql)} 2>/dev/null)"',
                f'command -v psql >/dev/null && echo "pg_tables $({psql_harbor} {q(TABLES_SQL)} 2>/dev/null)"',
                f"for u in {' '.join(q(u) for u in units)}; do "
                'echo "unit $u e=$(systemctl is-enabled $u 2>/dev/null)'
                ' a=$(systemctl is-active $u 2>/dev/null)"; done',
                'for k in account container object; do [ -s /etc/swift/$k.ring.gz ] && echo "ring $k"; done',
                "sed -n 's/^swift_hash_path_\\(prefix\\|suffix\\) *= *\\(.*\\)$/swift_hash \\1 \\2/p'"
                " /etc/swift/swift.conf 2>/dev/null",
                f"python3 -c {q(_XATTR_CHECK)} {q(devices)} 2>/dev/null",
                f"[ -f /etc/swift/proxy-server.conf ] && python3 -c {q(SWIFT_CONTAINERS_SCRIPT)} "
                f"check {int(swift_port)} {q(account)} {q(user)} {' '.join(q(c) for c in containers)} 2>/dev/null",
                f"pg_isready -q -h 127.0.0.1 -p {int(db_port)} 2>/dev/null && echo 'health postgresql'",
                f"redis-cli -h 127.0.0.1 -p {int(redis_port)} ping 2>/dev/null"
                " | grep -q NOAUTH && echo 'health redis'",
                f"curl -fsS -m 5 http://127.0.0.1:{int(swift_port)}/healthcheck 2>/dev/null"
                " | grep -q OK && echo 'health swift'",
                "true",
            ]
        )

    def process(self, output):
        found = self.default()
        for line in output:
            kind, _, rest = line.partition(" ")
            words = rest.split()
            if kind == "codename":
                found["codename"] = rest.strip() or None
            elif kind == "os" and words:
                found["os"] = words
            elif kind == "package":
                found["packages"].append(rest.strip())
            elif kind == "pg_cluster":
                found["pg_clusters"].append(rest.strip())
            elif kind == "pg_candidate":
                found["pg_candidate"] = rest.strip()
            elif kind in ("pg_role", "pg_database"):
                found[kind] = True
            elif kind == "pg_verifier":
                found["pg_verifier"] = rest.strip() or None
            elif kind == "pg_tables" and rest.strip().isdigit():
                found["pg_tables"] = int(rest.strip())
            elif kind == "unit" and words:
                flags = dict(word.split("=", 1) for word in words[1:] if "=" in word)
                found["units"][words[0]] = {"enabled": flags.get("e", ""), "active": flags.get("a", "")}
            elif kind == "ring":
                found["rings"].append(rest.strip())
            elif kind == "swift_hash" and len(words) == 2:
                found["swift_hash"][words[0]] = words[1]
            elif kind == "xattr":
                found["xattr"] = rest.strip()
            elif kind == "container" and len(words) == 2:
                found["containers"][words[0]] = words[1]
            elif kind == "swift-auth":
                found["swift_auth"] = rest.strip()
            elif kind == "health":
                found["health"][rest.strip()] = True
        return found


class BackingHealth(FactBase[dict]):
    """
    Returns whether each backing service answers on this host: PostgreSQL
    (``pg_isready``), Redis (a ``PING`` answered, ``NOAUTH`` included) and Swift's proxy
    (``/healthcheck``), on the ports given.

    .. code:: python

        {"postgresql": True, "redis": True, "swift": False}
    """

    def command(self, postgresql, redis, swift):
        return "; ".join(
            [
                f"pg_isready -q -h 127.0.0.1 -p {int(postgresql)} 2>/dev/null && echo postgresql",
                f"redis-cli -h 127.0.0.1 -p {int(redis)} ping 2>/dev/null | grep -q 'PONG\\|NOAUTH' && echo redis",
                f"curl -fsS -m 5 http://127.0.0.1:{int(swift)}/healthcheck 2>/dev/null | grep -q OK && echo swift",
                "true",
            ]
        )

    def process(self, output):
        answered = {line.strip() for line in output}
        return {name: name in answered for name in ("postgresql", "redis", "swift")}


class DatabaseDumps(FactBase[list]):
    """
    Returns the complete dumps of the shared database in ``backup_dir`` with ``label``
    in their name (``harbor-db-<UTC time>-<label>.pgdump`` beside its ``.sha256``),
    oldest first: a ``.partial`` one is not complete.

    .. code:: python

        ["harbor-db-20261207T101500Z-before-upgrade.pgdump"]
    """

    def command(self, backup_dir, label):
        return (
            f"cd {shlex.quote(backup_dir)} 2>/dev/null || exit 0; "
            f"for f in harbor-db-*Z-{shlex.quote(label)}.pgdump; do "
            '[ -f "$f" ] && [ -f "$f.sha256" ] && echo "$f"; done; true'
        )

    def process(self, output):
        return sorted(line for line in output if line.strip())
