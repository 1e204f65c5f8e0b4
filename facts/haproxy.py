import shlex

from pyinfra.api import FactBase

from harbor_deploy.lib.render.haproxy import ADMIN_SOCKET


class HaproxyServers(FactBase[dict]):
    """
    Returns each server of HAProxy's backends as its runtime API reports it (``show
    stat``): status (``UP``, ``DOWN``, ``DRAIN``, ``MAINT``...), current sessions and
    requests answered; ``None`` when HAProxy does not answer on its admin socket.

    .. code:: python

        {"harbor_https": {"harbor-1": {"status": "UP", "sessions": 2, "answered": 1520}}}
    """

    def command(self, socket=ADMIN_SOCKET):
        return f"printf 'show stat\\n' | socat -t 5 stdio unix-connect:{shlex.quote(socket)} 2>/dev/null; true"

    def process(self, output):
        header = None
        found = {}
        for line in output:
            if line.startswith("# "):
                header = line[2:].split(",")
                continue
            if header is None or not line.strip():
                continue
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("svname") in ("FRONTEND", "BACKEND"):
                continue
            found.setdefault(row["pxname"], {})[row["svname"]] = {
                "status": row.get("status"),
                "sessions": int(row.get("scur") or 0),
                "answered": int(row.get("stot") or 0),
            }
        return found if header is not None else None
