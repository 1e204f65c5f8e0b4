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
