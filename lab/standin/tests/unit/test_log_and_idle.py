"""harbor-log's syslog receiver and the idle service stand-ins."""

import gzip
import json
import signal
import socket
import subprocess
import sys
import threading

import pytest
import requests

from lab.standin.tests.support import RUNTIME, load_runtime

harbor_log = load_runtime("harbor_log")
idle = load_runtime("idle")


def test_docker_default_syslog_lines_are_filed_by_tag_with_the_sender_as_host():
    # As dockerd's syslog driver sends them (captured on a lab host), times with colons in the text.
    line = '<30>Nov 27 18:01:29 registry[127]: time="2026-11-27T18:01:29.85Z" level=info msg="up"'
    assert harbor_log.parse(line, "172.19.0.1") == (
        "registry",
        'Nov 27 18:01:29 172.19.0.1 registry: time="2026-11-27T18:01:29.85Z" level=info msg="up"',
    )
    assert harbor_log.parse("<30>Nov  7 18:01:30 core[127]: 10:01 ok")[0] == "core"


def test_rfc_syslog_lines_are_filed_by_tag():
    tag, text = harbor_log.parse("<30>2026-11-27T17:45:01Z harbor-1 registry[812]: GET /v2/ 401")
    assert tag == "registry"
    assert text == "2026-11-27T17:45:01Z harbor-1 registry: GET /v2/ 401"
    assert harbor_log.parse("<27>Nov  7 17:45:01 harbor-1 core[1]: boom")[0] == "core"
    assert harbor_log.parse("<30>1 2026-11-27T17:45:01Z harbor-1 proxy 12 proxy - hi")[0] == "proxy"


def test_frames_are_split_on_newlines_and_octet_counts():
    messages, rest = harbor_log.split_frames(b"<30>a b c: one\n11 <30>1 a b cpartial")
    assert messages == [b"<30>a b c: one", b"<30>1 a b c"]
    assert rest == b"partial"


def test_rotation_settings_come_from_logrotate_conf(tmp_path):
    conf = tmp_path / "logrotate.conf"
    conf.write_text("/var/log/docker/*.log {\n    rotate 3\n    size 10k\n    copytruncate\n}\n")
    assert harbor_log.rotation_settings(conf) == (3, 10 * 1024)
    assert harbor_log.rotation_settings(tmp_path / "missing") == (50, 200 * 1024**2)


def test_files_rotate_by_size_keeping_count_gzipped(tmp_path):
    files = harbor_log.LogFiles(tmp_path, count=2, size=100)
    for number in range(13):
        files.write("core", f"line {number:02d} " + "x" * 30)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["core.log", "core.log.1.gz", "core.log.2.gz"]
    assert "line 12" in (tmp_path / "core.log").read_text()
    assert "line" in gzip.decompress((tmp_path / "core.log.1.gz").read_bytes()).decode()


def test_receiver_writes_what_a_syslog_client_sends(tmp_path):
    server = harbor_log.Server(("127.0.0.1", 0), harbor_log.make_handler(harbor_log.LogFiles(tmp_path, 5, 10**6)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address) as client:
            client.sendall(b"<30>2026-11-27T17:45:01Z h portal[7]: served /\n<30>2026-11-27T17:45:02Z h core[9]: ok\n")
        for _ in range(100):
            if (tmp_path / "core.log").exists():
                break
            threading.Event().wait(0.02)
    finally:
        server.shutdown()
        server.server_close()
    assert (tmp_path / "portal.log").read_text() == "2026-11-27T17:45:01Z h portal: served /\n"
    assert (tmp_path / "core.log").read_text() == "2026-11-27T17:45:02Z h core: ok\n"


@pytest.mark.parametrize(
    "name, path, content_type",
    [
        ("portal", "/", "text/html"),
        ("jobservice", "/api/v1/stats", "application/json"),
        ("exporter", "/metrics", "text/plain"),
    ],
)
def test_http_stand_ins_answer_their_health_paths(name, path, content_type):
    server = idle.GoHTTPServer(("127.0.0.1", 0), idle.http_handler(name))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        response = requests.get(f"http://127.0.0.1:{server.server_address[1]}{path}", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type


def test_the_trivy_adapter_reports_the_database_it_finds(tmp_path, monkeypatch):
    """harbor-scanner-trivy's GetMetadata: the database's UpdatedAt from
    <cache>/db/metadata.json as Go's RFC 3339, its next update only while updates are
    not skipped, the adapter's switches as true/false (prepare writes True/False)."""
    metadata = {"Version": 2, "UpdatedAt": "2026-12-01T06:12:40.123456789Z", "NextUpdate": "2026-12-02T06:12:40Z"}
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "metadata.json").write_text(json.dumps(metadata))
    for key, value in (("SCANNER_TRIVY_CACHE_DIR", str(tmp_path)), ("SCANNER_TRIVY_SKIP_UPDATE", "True")):
        monkeypatch.setenv(key, value)
    server = idle.GoHTTPServer(("127.0.0.1", 0), idle.http_handler("trivy-adapter"))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        answer = requests.get(f"http://127.0.0.1:{server.server_address[1]}/api/v1/metadata", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.headers["Content-Type"] == "application/vnd.scanner.adapter.metadata+json; version=1.0"
    found = answer.json()
    assert found["scanner"]["name"] == "Trivy"
    properties = found["properties"]
    assert properties["harbor.scanner-adapter/vulnerability-database-updated-at"] == "2026-12-01T06:12:40Z"
    assert "harbor.scanner-adapter/vulnerability-database-next-update-at" not in properties
    assert properties["env.SCANNER_TRIVY_SKIP_UPDATE"] == "true"
    assert properties["env.SCANNER_TRIVY_OFFLINE_SCAN"] == "false"
    (tmp_path / "db" / "metadata.json").unlink()
    assert (
        "harbor.scanner-adapter/vulnerability-database-updated-at"
        not in idle.adapter_metadata({"SCANNER_TRIVY_CACHE_DIR": str(tmp_path)})["properties"]
    )


def test_only_the_idle_services_are_served():
    assert idle.main(["serve", "log"]) == 2
    # harbor-db and redis are real servers now: no stand-in for them.
    assert idle.main(["serve", "redis"]) == 2
    assert idle.main(["check", "portal"]) == 2  # healthchecks are the images' own commands


def test_the_log_receivers_healthcheck_is_a_connection_to_its_port():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    check = ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"]
    assert subprocess.run(check, check=False).returncode == 0
    listener.close()
    assert subprocess.run(check, capture_output=True, check=False).returncode != 0


@pytest.mark.parametrize(
    "program, env",
    [
        ("core.py", {"CORE_PORT": "0", "DATA_DIR": "{tmp}"}),
        ("harbor_log.py", {"LOG_PORT": "0", "LOG_DIR": "{tmp}"}),
    ],
)
def test_services_exit_cleanly_on_sigterm(tmp_path, core_backing, program, env):
    """As container PID 1 an unhandled SIGTERM is ignored; the services handle it."""
    env = {name: value.format(tmp=tmp_path) for name, value in env.items()}
    if program == "core.py":
        env.update(core_backing)
    process = subprocess.Popen(
        [sys.executable, str(RUNTIME / program)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # core first logs its start-up steps (Redis, database, migrations).
        lines = iter(process.stdout.readline, "")
        assert any("listening" in line for line in lines)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.stdout.close()
