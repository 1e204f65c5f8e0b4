import base64
import shlex

from pyinfra.api import FactBase


class PrivateFiles(FactBase[dict]):
    """
    Returns the files that exist of ``paths``, as bytes by path, and which of
    ``nonempty_dirs`` hold anything. The contents may be secrets (harbor.yml, keys):
    read this fact through ``facts.quiet.quiet_fact``, which keeps its output out of
    pyinfra's output at every verbosity. Its command always succeeds.

    .. code:: python

        {"files": {"/usr/local/harbor/harbor.yml": b"hostname: ..."},
         "nonempty": ["/data/database"]}
    """

    @staticmethod
    def default():
        return {"files": {}, "nonempty": []}

    def command(self, paths, nonempty_dirs=()):
        files = " ".join(shlex.quote(path) for path in paths) or "''"
        dirs = " ".join(shlex.quote(path) for path in nonempty_dirs) or "''"
        return (
            f"for path in {files}; do "
            '[ -f "$path" ] && printf "file %s %s\\n" "$path" "$(base64 -w0 < "$path")"; done; '
            f"for dir in {dirs}; do "
            '[ -n "$(ls -A "$dir" 2>/dev/null)" ] && printf "nonempty %s\\n" "$dir"; done; true'
        )

    def process(self, output):
        files, nonempty = {}, []
        for line in output:
            kind, _, rest = line.partition(" ")
            if kind == "file":
                path, _, encoded = rest.rpartition(" ")
                files[path] = base64.b64decode(encoded)
            elif kind == "nonempty":
                nonempty.append(rest)
        return {"files": files, "nonempty": nonempty}


# Files up to this size get a sha256; larger ones (installer bundles) only their size.
DIGEST_MAX_BYTES = 1024 * 1024


class FileStates(FactBase[dict]):
    """
    Returns, for each of ``paths`` that exists, its type, mode, owner (names, and ids:
    a user without a name on the host, as Harbor's uid 10000, is "UNKNOWN"), size and, for
    a regular file up to 1 MiB, its sha256; in one round trip. A ``*`` in a path is a
    shell glob (the rest is quoted), e.g. ``/usr/local/harbor-v*/harbor.yml``. A path
    that does not exist is left out.

    .. code:: python

        {
            "/etc/harbor/tls/server.crt": {"type": "file", "mode": "644", "user": "root",
                                           "group": "root", "uid": 0, "gid": 0, "size": 1233,
                                           "sha256": "9f86d0..."},
            "/var/cache/harbor-deploy": {"type": "directory", "mode": "755", "user": "root",
                                         "group": "root", "uid": 0, "gid": 0, "size": 4096,
                                         "sha256": None},
        }
    """

    @staticmethod
    def default():
        return {}

    def command(self, paths):
        words = " ".join("*".join(shlex.quote(part) for part in path.split("*")) for path in paths) or "''"
        # One stat for every path found and one sha256sum for the files small enough
        # (find's -size rounds up to KiB: -1025k is at most 1 MiB; -H follows a link given).
        return (
            f'set --; for path in {words}; do if [ -e "$path" ] || [ -L "$path" ]; then set -- "$@" "$path"; fi; done; '
            '[ $# -eq 0 ] || { stat -c "stat|%F|%a|%U|%G|%u|%g|%s|%n" -- "$@"; '
            f'find -H "$@" -maxdepth 0 -type f -size -{DIGEST_MAX_BYTES // 1024 + 1}k -exec sha256sum -- {{}} +; }}; '
            "true"
        )

    def process(self, output):
        states, digests = {}, {}
        for line in output:
            if line.startswith("stat|"):
                kind, mode, user, group, uid, gid, size, path = line[len("stat|") :].split("|", 7)
                states[path] = {
                    "type": {"regular file": "file", "regular empty file": "file", "symbolic link": "link"}.get(
                        kind, kind
                    ),
                    "mode": mode,
                    "user": user,
                    "group": group,
                    "uid": int(uid),
                    "gid": int(gid),
                    "size": int(size),
                    "sha256": None,
                }
            else:
                digest, _, path = line.partition("  ")
                digests[path] = digest
        for path, state in states.items():
            state["sha256"] = digests.get(path)
        return states
