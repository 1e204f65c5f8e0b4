import re
import shlex

from pyinfra.api import FactBase

from harbor_deploy.facts.output import key_values


class HostOverview(FactBase[dict]):
    """
    Returns what a deploy first needs to know about a host, in one round trip: the
    OS, the systemd state and the firewalld state (the docker engine is
    ``facts.docker.DockerEngine``).

    .. code:: python

        {
            "os_id": "debian",
            "os_version_id": "13",
            "os_codename": "trixie",
            "os_name": "Debian GNU/Linux 13 (trixie)",
            "systemd_state": "running",
            "firewalld_state": "running",
        }
    """

    def command(self):
        return (
            ". /etc/os-release 2>/dev/null; "
            'echo "os_id=$ID"; echo "os_version_id=$VERSION_ID"; '
            'echo "os_codename=$VERSION_CODENAME"; echo "os_name=$PRETTY_NAME"; '
            'echo "systemd_state=$(systemctl is-system-running 2>/dev/null)"; '
            # As firewall-cmd --state words it, without its interpreter start (~0.25 s).
            'echo "firewalld_state=$(systemctl is-active -q firewalld 2>/dev/null && echo running || echo not running)"'
        )

    def process(self, output):
        values = key_values(output)
        return {
            key: values.get(key) or None
            for key in ("os_id", "os_version_id", "os_codename", "os_name", "systemd_state", "firewalld_state")
        }


class ServerResources(FactBase[dict]):
    """
    Returns what Harbor's minimums and port checks need, in one round trip: CPU
    count, memory, free disk where ``path`` is (or its nearest existing parent),
    machine type, and the listening TCP ports with the program that owns each.

    .. code:: python

        {
            "cpus": 2, "memory_mib": 24105, "disk_free_mib": 79664, "machine": "x86_64",
            "listening": {22: "sshd", 8443: "docker-proxy"},
        }
    """

    def command(self, path="/"):
        return (
            f'p={shlex.quote(path)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; '
            'echo "cpus=$(nproc)"; '
            "echo \"memory_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)\"; "
            'echo "disk_free_mib=$(df -Pm "$p" | awk \'NR==2 {print $4}\')"; '
            'echo "machine=$(uname -m)"; '
            'ss -Hltnp 2>/dev/null | awk \'{print "listen=" $4 " " $6}\''
        )

    def process(self, output):
        values, listening = {}, {}
        for line in output:
            key, _, value = line.partition("=")
            if key == "listen":
                address, _, owner = value.partition(" ")
                program = re.search(r'\(\("([^"]+)"', owner)
                listening.setdefault(int(address.rsplit(":", 1)[1]), program.group(1) if program else None)
            elif key:
                values[key] = value
        return {
            "cpus": int(values.get("cpus") or 0),
            "memory_mib": int(values.get("memory_kib") or 0) // 1024,
            "disk_free_mib": int(values.get("disk_free_mib") or 0),
            "machine": values.get("machine") or None,
            "listening": listening,
        }


class FreeSpace(FactBase[dict]):
    """
    Returns the free space (MiB) of the filesystem each of ``paths`` is on (or would be:
    a missing path counts on its nearest existing parent), and that filesystem's
    mount point, in one round trip.

    .. code:: python

        {"/var/cache/harbor-deploy": {"free_mib": 75012, "mount": "/"}}
    """

    @staticmethod
    def default():
        return {}

    def command(self, paths):
        words = " ".join(shlex.quote(path) for path in paths) or "''"
        return (
            f"for path in {words}; do p=$path; "
            'while [ ! -e "$p" ]; do p=$(dirname "$p"); done; '
            'df -Pm "$p" | awk -v path="$path" \'NR==2 {print $4 "|" $6 "|" path}\'; done; true'
        )

    def process(self, output):
        states = {}
        for line in output:
            free, mount, path = line.split("|", 2)
            states[path] = {"free_mib": int(free), "mount": mount}
        return states


class SelinuxState(FactBase[dict]):
    """
    Returns the SELinux mode (``getenforce``, lowercased: "enforcing", "permissive",
    "disabled"; None where there is no SELinux) and the security context of each of
    ``paths`` (None when it has none, or is missing), in one round trip.

    .. code:: python

        {"mode": "enforcing", "labels": {"/data": "system_u:object_r:default_t:s0"}}
    """

    @staticmethod
    def default():
        return {"mode": None, "labels": {}}

    def command(self, paths):
        words = " ".join(shlex.quote(path) for path in paths) or "''"
        return (
            'echo "mode=$(getenforce 2>/dev/null)"; '
            f'for path in {words}; do echo "label $(stat -c %C "$path" 2>/dev/null) $path"; done; true'
        )

    def process(self, output):
        found = self.default()
        for line in output:
            if line.startswith("mode="):
                found["mode"] = line.removeprefix("mode=").strip().lower() or None
            elif line.startswith("label "):
                context, _, path = line.removeprefix("label ").partition(" ")
                if not path:  # stat printed nothing: the path is missing
                    context, path = "", context
                found["labels"][path] = context if ":" in context else None
        return found
