"""The HTTP server of the stand-ins for Harbor's Go services (core, jobservice and the
idle ones), listening as Go does: Harbor v2.13.1 serves core through beego's
``web.RunWithMiddleWares`` (src/core/main.go), jobservice and registryctl through
``http.Server.ListenAndServe`` (src/jobservice/api/server.go, src/registryctl/main.go),
each on Go's ``net.Listen``.

Go's ``net.Listen`` queues as many pending connections as the kernel allows
(``maxListenerBacklog`` in net/sock_linux.go: ``/proc/sys/net/core/somaxconn``,
capped at 65535 as Linux keeps it in 16 bits, ``syscall.SOMAXCONN`` when unreadable
or 0), where Python's socketserver
queues 5: a burst of clients (twenty docker hosts asking for a token at once) would
see SYNs dropped and retried a second later, which real Harbor never shows.
"""

from http.server import ThreadingHTTPServer

SOMAXCONN_PATH = "/proc/sys/net/core/somaxconn"
GO_FALLBACK_BACKLOG = 128  # syscall.SOMAXCONN, what Go uses when somaxconn is unreadable


def listener_backlog(path=SOMAXCONN_PATH):
    try:
        with open(path) as somaxconn:
            backlog = int(somaxconn.read().split()[0])
    except (OSError, ValueError, IndexError):
        return GO_FALLBACK_BACKLOG
    return min(backlog, 65535) if backlog > 0 else GO_FALLBACK_BACKLOG


class GoHTTPServer(ThreadingHTTPServer):
    request_queue_size = listener_backlog()
