"""The Go services' stand-ins queue connections as Go's net.Listen does (the kernel's
somaxconn), not Python's 5."""

import socket
from http.server import BaseHTTPRequestHandler

from lab.standin.tests.support import load_runtime

go_listener = load_runtime("go_listener")


def test_the_backlog_is_somaxconn_capped_as_go_does(tmp_path):
    somaxconn = tmp_path / "somaxconn"
    somaxconn.write_text("4096\n")
    assert go_listener.listener_backlog(somaxconn) == 4096
    somaxconn.write_text("200000\n")
    assert go_listener.listener_backlog(somaxconn) == 65535
    somaxconn.write_text("0\n")
    assert go_listener.listener_backlog(somaxconn) == go_listener.GO_FALLBACK_BACKLOG
    assert go_listener.listener_backlog(tmp_path / "missing") == go_listener.GO_FALLBACK_BACKLOG


def test_a_burst_of_clients_is_queued_while_the_server_is_busy():
    """Thirty connections while nothing accepts: each completes its handshake at once
    (with Python's backlog of 5 the later SYNs are dropped and retried a second on)."""
    server = go_listener.GoHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    clients = []
    try:
        for _ in range(30):
            clients.append(socket.create_connection(server.server_address, timeout=0.5))
    finally:
        for client in clients:
            client.close()
        server.server_close()
    assert len(clients) == 30
