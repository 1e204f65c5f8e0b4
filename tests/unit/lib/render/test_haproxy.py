"""HAProxy's configuration for several Harbor nodes: every node in every backend,
checked on /api/v2.0/ping over TLS when the nodes serve it, TLS passed through or
ended at the load balancer, clients sticking to one node."""

import pytest

from harbor_deploy.lib.render import haproxy

NODES = [{"name": "harbor-1", "address": "10.0.0.1"}, {"name": "harbor-2", "address": "10.0.0.2"}]
PORTS, NODE_PORTS = {"https": 443, "http": 80}, {"https": 8443, "http": 8081}
CA = "/etc/haproxy/harbor-ca.crt"


def lines(text):
    return [line.strip() for line in text.splitlines()]


def test_passthrough_forwards_tls_and_checks_each_node_over_tls():
    config = lines(haproxy.render(NODES, PORTS, NODE_PORTS, "passthrough", node_ca=CA))
    assert config.count("mode tcp") == 4 and "bind :443" in config and "bind :80" in config
    assert (
        f"server harbor-2 10.0.0.2:8443 check inter 2s fall 2 rise 2 check-ssl verify required ca-file {CA}" in config
    )
    # The HTTP port of a TLS node only redirects: its check goes to the HTTPS port.
    assert (
        f"server harbor-1 10.0.0.1:8081 check inter 2s fall 2 rise 2 port 8443 check-ssl verify required ca-file {CA}"
        in config
    )
    assert config.count("option httpchk GET /api/v2.0/ping") == 2 and config.count("balance source") == 2
    assert "stats socket /run/haproxy/admin.sock mode 600 level admin" in config


def test_termination_serves_the_certificate_and_speaks_tls_to_the_nodes():
    config = lines(
        haproxy.render(NODES, PORTS, NODE_PORTS, "terminate", node_ca=CA, certificate="/etc/haproxy/harbor.pem")
    )
    assert "bind :443 ssl crt /etc/haproxy/harbor.pem" in config and "bind :80" in config
    assert "http-request set-header X-Forwarded-Proto https" in config
    assert (
        f"server harbor-1 10.0.0.1:8443 check inter 2s fall 2 rise 2 check-ssl verify required ca-file {CA} ssl"
        in config
    )


def test_plain_http_nodes_are_checked_in_plain_http_and_a_bad_mode_is_refused():
    config = lines(haproxy.render(NODES[:1], {"http": 80}, {"http": 8081}, "passthrough"))
    assert "server harbor-1 10.0.0.1:8081 check inter 2s fall 2 rise 2" in config
    with pytest.raises(ValueError, match="passthrough, terminate"):
        haproxy.render(NODES, PORTS, NODE_PORTS, "offload")


@pytest.mark.parametrize("mode", haproxy.TLS_MODES)
def test_it_serves_as_its_own_user_in_a_chroot_with_request_and_idle_timeouts(mode):
    config = lines(haproxy.render(NODES, PORTS, NODE_PORTS, mode, node_ca=CA, certificate="/etc/haproxy/harbor.pem"))
    assert {"user haproxy", "group haproxy", "chroot /var/lib/haproxy"} <= set(config)
    assert {"timeout http-request 10s", "timeout http-keep-alive 10s", "timeout client-fin 30s"} <= set(config)
    # The runtime API drains nodes: root's alone (created before the switch of user).
    assert "stats socket /run/haproxy/admin.sock mode 600 level admin" in config


def test_passthrough_keeps_only_connections_that_start_talking_in_time():
    config = lines(haproxy.render(NODES, PORTS, NODE_PORTS, "passthrough", node_ca=CA))
    assert config.count("tcp-request inspect-delay 10s") == 2 and config.count("tcp-request content reject") == 2
    assert "tcp-request content accept if { req.ssl_hello_type 1 }" in config
    assert "tcp-request content accept if HTTP" in config
    terminated = lines(haproxy.render(NODES, PORTS, NODE_PORTS, "terminate", node_ca=CA, certificate="/x.pem"))
    assert not [line for line in terminated if line.startswith("tcp-request")]
