import base64
import json
import shlex

from pyinfra.api import FactBase

from harbor_deploy.lib.config.defaults import HARBOR_UID

# Where Harbor's trivy-adapter keeps its cache (docker_compose/docker-compose.yml.jinja
# mounts <data_volume>/trivy-adapter/trivy at /home/scanner/.cache/trivy), the folders of
# Trivy's two databases in it, and the scanner user owning them (prepare's DEFAULT_UID).
TRIVY_CACHE = "trivy-adapter/trivy"
DATABASE_FOLDERS = ("db", "java-db")
SCANNER_UID = HARBOR_UID
# Beside a database the server deploy placed: the sha256 of the bundle it came from.
BUNDLE_RECORD = "harbor-deploy-bundle.sha256"


class TrivyDatabases(FactBase[dict]):
    """
    Returns, for Trivy's vulnerability database (``db``) and Java database (``java-db``)
    in the trivy-adapter's cache under ``data_volume``: the folder's owner (uid:gid),
    whether anything in it is owned by another user than the scanner (uid 10000), its
    ``metadata.json`` (Trivy's ``Version``, ``UpdatedAt``, ``NextUpdate``,
    ``DownloadedAt``) and the sha256 of the bundle the server deploy placed it from; in
    one round trip. A folder that does not exist is left out.

    .. code:: python

        {
            "db": {"owner": "10000:10000", "foreign_owner": False, "bundle_sha256": "9f86d0...",
                   "metadata": {"Version": 2, "UpdatedAt": "2026-12-01T06:12:40.12Z", ...}},
        }
    """

    @staticmethod
    def default():
        return {}

    def command(self, data_volume):
        cache = shlex.quote(f"{data_volume.rstrip('/')}/{TRIVY_CACHE}")
        return (
            f"for folder in {' '.join(DATABASE_FOLDERS)}; do "
            f'path={cache}/"$folder"; [ -d "$path" ] || continue; '
            'printf "owner %s %s\\n" "$folder" "$(stat -c %u:%g "$path")"; '
            f'[ -n "$(find "$path" \\( ! -uid {SCANNER_UID} -o ! -gid {SCANNER_UID} \\) -print -quit)" ] && '
            'printf "foreign_owner %s\\n" "$folder"; '
            '[ -f "$path/metadata.json" ] && '
            'printf "metadata %s %s\\n" "$folder" "$(base64 -w0 < "$path/metadata.json")"; '
            f'[ -f "$path/{BUNDLE_RECORD}" ] && '
            f'printf "bundle %s %s\\n" "$folder" "$(cut -c1-64 "$path/{BUNDLE_RECORD}")"; '
            "done; true"
        )

    def process(self, output):
        found = {}
        for line in output:
            kind, _, rest = line.partition(" ")
            folder, _, value = rest.partition(" ")
            entry = found.setdefault(
                folder, {"owner": None, "foreign_owner": False, "metadata": None, "bundle_sha256": None}
            )
            if kind == "owner":
                entry["owner"] = value
            elif kind == "foreign_owner":
                entry["foreign_owner"] = True
            elif kind == "metadata":
                try:
                    entry["metadata"] = json.loads(base64.b64decode(value))
                except ValueError:
                    entry["metadata"] = None
            elif kind == "bundle":
                entry["bundle_sha256"] = value
        return found
