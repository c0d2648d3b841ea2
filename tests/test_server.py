"""The real servers on 127.0.0.1: gunicorn with several workers on one file, and `python -m backend`."""

import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend import seed
from tests.servers import DEV_SERVER, GUNICORN, Server, request


@pytest.fixture
def serve(tmp_path):
    """Start a server with some settings; it is stopped at the end of the test."""
    started = []

    def start(command=GUNICORN, **env):
        server = Server(tmp_path / f"server-{len(started)}", command, **env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def test_gunicorn_workers_seed_an_empty_file_once(serve):
    base = serve(WEB_CONCURRENCY="3", SEED_IF_EMPTY="1").base
    status, feed = request(base, "/events?limit=1000")
    assert status == 200
    assert len(feed["events"]) == len(seed.demo_events(0))  # the same shape whatever day it lands on
    status, body = request(base, "/metrics/workers")
    assert status == 200 and len(body["workers"]) == 6


def test_parallel_senders_on_several_workers_store_each_event_once(serve):
    base = serve(WEB_CONCURRENCY="3").base
    batches = [[{"timestamp": f"2026-01-15T08:{minute:02d}:{second:02d}Z", "worker_id": f"W{minute % 4}",
                 "workstation_id": "S1", "event_type": "working", "event_id": f"e-{minute}-{second}"}
                for second in range(0, 60, 10)] for minute in range(30)]
    # Every batch is sent three times at once from different connections, as retries would be.
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda batch: request(base, "/events", batch), batches * 3))
    assert all(status in (200, 201) for status, _ in answers), [a for a in answers if a[0] >= 300][:3]
    assert sum(body["accepted"] for _, body in answers) == 30 * 6
    status, feed = request(base, "/events?limit=1000")
    assert len(feed["events"]) == 30 * 6
    assert len({e["event_id"] for e in feed["events"]}) == 30 * 6


def test_python_m_backend_serves_api_and_dashboard(serve):
    base = serve(DEV_SERVER, SEED_IF_EMPTY="1").base
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
    status, body = request(base, "/metrics/factory")
    assert status == 200 and body["factory"]["worker_count"] == 6
    status, body = request(base, "/nope")
    assert status == 404 and body["status"] == 404


def test_gunicorn_sets_what_the_app_built_apart_from_full_collections_before_forking():
    import gc
    import runpy

    from tests.servers import REPO_ROOT

    settings = runpy.run_path(f"{REPO_ROOT}/gunicorn.conf.py")
    assert settings["preload_app"] is True  # the app exists before the fork
    before = gc.get_freeze_count()
    try:
        settings["pre_fork"](None, None)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


def test_a_body_too_large_to_read_still_gets_its_413_from_gunicorn(serve):
    # The body is refused unread: gunicorn's own close drains it, so the answer is not lost to a reset.
    base = serve(MAX_BODY_BYTES="1000").base
    events = [{"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "workstation_id": "S1",
               "event_type": "working", "event_id": f"e{number}"} for number in range(500)]
    status, body = request(base, "/events", events)
    assert status == 413, body
    status, body = request(base, "/events", events[:1])
    assert status == 201, body
