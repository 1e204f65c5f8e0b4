"""Configure's kinds converged in its order against a stand-in Harbor, for the tests."""

from harbor_deploy.lib.harbor_api import resources
from lab.standin.tests.in_process import assert_valid_request, record_requests


def converge(client, store, config, monkeypatch):
    """Plan and apply every kind of ``config`` in configure's order: the changes made
    and the write requests sent (each checked against the swagger spec)."""
    sent = record_requests(monkeypatch)
    done = []
    for kind in resources.KINDS:
        specs = [kind.spec(raw) for raw in kind.entries(config)]
        if specs:
            for change in kind.plan(client, specs, store):
                change.apply()
                done.append(str(change))
    writes = [(method, path.split("?")[0], body) for method, path, body in sent if method not in ("GET", "HEAD")]
    for method, path, body in writes:
        assert_valid_request(method, path, body)
    monkeypatch.undo()
    return done, [(method, path) for method, path, _ in writes]
