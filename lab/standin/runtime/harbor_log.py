"""Stand-in for harbor-log: the syslog receiver every Harbor container logs to.

Listens on TCP 10514 (published as 127.0.0.1:1514) for docker's syslog logging
driver, writes each message to ``/var/log/docker/<tag>.log`` (the host's
log.local.location) and rotates those files by size like the real logrotate
setup: ``rotate`` and ``size`` are read from /etc/logrotate.d/logrotate.conf,
rotated files are gzipped as ``<tag>.log.<n>.gz``.
"""

import gzip
import os
import re
import shutil
import signal
import socketserver
import sys
import threading
from pathlib import Path

LOG_DIR = Path(os.environ.get("LOG_DIR", "/var/log/docker"))
ROTATE_CONFIG = Path(os.environ.get("LOGROTATE_CONFIG", "/etc/logrotate.d/logrotate.conf"))
PORT = int(os.environ.get("LOG_PORT", "10514"))
SIZE_UNITS = {"": 1, "k": 1024, "M": 1024**2, "G": 1024**3}
# Docker's default syslog format (no syslog-format option, as Harbor's compose file):
# <pri>Mmm dd hh:mm:ss tag[pid]: msg, without a host.
DOCKER_DEFAULT = re.compile(
    r"^<\d{1,3}>(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<tag>[^\s\[:]+)\[\d+\]: ?(?P<msg>.*)$", re.S
)
# RFC 3164 (syslog-format=rfc3164): <pri>timestamp host tag[pid]: msg
RFC3164 = re.compile(
    r"^<\d{1,3}>(?P<stamp>[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d|\S+) (?P<host>\S+) "
    r"(?P<tag>[^\s\[:]+)(?:\[\d+\])?: ?(?P<msg>.*)$",
    re.S,
)
# RFC 5424 (syslog-format=rfc5424*): <pri>1 timestamp host app procid msgid sd msg
RFC5424 = re.compile(r"^<\d{1,3}>1 (?P<stamp>\S+) (?P<host>\S+) (?P<tag>\S+) \S+ \S+ (?:-|\[.*?\]) ?(?P<msg>.*)$", re.S)


def rotation_settings(path=ROTATE_CONFIG):
    """(count, size in bytes) from a logrotate config; Harbor's defaults when absent."""
    count, size = 50, 200 * 1024**2
    text = path.read_text() if path.is_file() else ""
    found = re.search(r"^\s*rotate\s+(\d+)", text, re.M)
    if found:
        count = int(found.group(1))
    found = re.search(r"^\s*size\s+(\d+)([kMG]?)", text, re.M)
    if found:
        size = int(found.group(1)) * SIZE_UNITS[found.group(2)]
    return count, size


def parse(line, sender="-"):
    """(tag, text to write) of one syslog message; like rsyslog, the sender's address
    stands in for a host the message lacks."""
    for pattern in (DOCKER_DEFAULT, RFC5424, RFC3164):
        found = pattern.match(line)
        if found:
            tag = re.sub(r"[^A-Za-z0-9._-]", "_", found.group("tag"))
            host = found.groupdict().get("host") or sender
            return tag, f"{found.group('stamp')} {host} {found.group('tag')}: {found.group('msg')}"
    return "unknown", line


class LogFiles:
    """Appends to per-tag files and rotates them past the size limit."""

    def __init__(self, directory, count, size):
        self.directory, self.count, self.size = directory, count, size
        self.lock = threading.Lock()

    def write(self, tag, text):
        path = self.directory / f"{tag}.log"
        with self.lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with path.open("a") as handle:
                handle.write(text.rstrip("\n") + "\n")
            if path.stat().st_size > self.size:
                self.rotate(path)

    def rotate(self, path):
        if self.count == 0:
            path.unlink()
            return
        oldest = path.with_name(f"{path.name}.{self.count}.gz")
        oldest.unlink(missing_ok=True)
        for number in range(self.count - 1, 0, -1):
            older = path.with_name(f"{path.name}.{number}.gz")
            if older.exists():
                older.rename(path.with_name(f"{path.name}.{number + 1}.gz"))
        with path.open("rb") as source, gzip.open(path.with_name(f"{path.name}.1.gz"), "wb") as target:
            shutil.copyfileobj(source, target)
        path.write_bytes(b"")


def split_frames(buffer):
    """Complete messages in a TCP buffer (newline or octet-counted framing) and the rest."""
    messages = []
    while buffer:
        counted = re.match(rb"^(\d+) ", buffer)
        if counted:
            length = int(counted.group(1))
            start = counted.end()
            if len(buffer) < start + length:
                break
            messages.append(buffer[start : start + length])
            buffer = buffer[start + length :]
            continue
        line, newline, rest = buffer.partition(b"\n")
        if not newline:
            break
        if line.strip():
            messages.append(line)
        buffer = rest
    return messages, buffer


def make_handler(files):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            buffer = b""
            while True:
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                messages, buffer = split_frames(buffer + chunk)
                for message in messages:
                    files.write(*parse(message.decode("utf-8", "replace"), self.client_address[0]))
            if buffer.strip():
                files.write(*parse(buffer.decode("utf-8", "replace"), self.client_address[0]))

    return Handler


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    # As PID 1 python ignores SIGTERM: exit on it, so `docker stop` needs no 10s kill timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    count, size = rotation_settings()
    server = Server(("0.0.0.0", PORT), make_handler(LogFiles(LOG_DIR, count, size)))
    print(f"harbor-log stand-in listening on :{PORT}, writing {LOG_DIR}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
