"""What a scaled-out Harbor's status reads: the load balancer's view of its nodes
(HAProxy's ``show stat``, captured from the lab's load balancer while both nodes
were being installed) and the backing services' answers."""

from harbor_deploy.facts.backing import BackingHealth
from harbor_deploy.facts.haproxy import HaproxyServers
from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.lib.plan.status import backing_problems, load_balancer_problems
from harbor_deploy.lib.render.backing import service_ports
from tests.conftest import FIXTURES

SHOW_STAT = (FIXTURES / "facts" / "haproxy_servers_lb_nodes_installing.txt").read_text().splitlines()


def test_every_node_of_every_backend_with_its_status_and_sessions():
    servers = HaproxyServers().process(SHOW_STAT)
    assert set(servers) == {"harbor_https", "harbor_http"}
    assert servers["harbor_https"]["client-5"] == {"status": "DOWN", "sessions": 0, "answered": 693}
    assert load_balancer_problems(servers) == [
        "node client-4 is DOWN in harbor_http",
        "node client-5 is DOWN in harbor_http",
        "node client-4 is DOWN in harbor_https",
        "node client-5 is DOWN in harbor_https",
    ]


def test_a_silent_or_empty_load_balancer_is_a_problem_and_all_up_is_none():
    assert HaproxyServers().process([]) is None
    assert load_balancer_problems(None) == ["HAProxy does not answer on its admin socket"]
    assert load_balancer_problems({}) == ["HAProxy balances no Harbor node"]
    up = {"harbor_https": {"a": {"status": "UP", "sessions": 1, "answered": 5}}}
    assert load_balancer_problems(up) == []


def test_backing_services_answer_on_the_ports_the_nodes_use():
    config = merged(
        {
            "harbor_external_database": {"host": "db", "port": 5433, "db_name": "r", "username": "h"},
            "harbor_external_redis": {"host": "db:6380"},
            "harbor_storage_service": {"s3": {"regionendpoint": "http://db:8081", "bucket": "harbor"}},
        }
    )
    assert service_ports(config) == {"postgresql": 5433, "redis": 6380, "swift": 8081}
    command = BackingHealth().command(**service_ports(config))
    assert (
        "pg_isready -q -h 127.0.0.1 -p 5433" in command and "-p 6380 ping" in command and ":8081/healthcheck" in command
    )
    health = BackingHealth().process(["postgresql", "swift"])
    assert health == {"postgresql": True, "redis": False, "swift": True}
    assert backing_problems(health) == ["redis does not answer"]
