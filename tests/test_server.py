"""The real servers on 127.0.0.1: gunicorn with several workers on one file, and `python -m backend`."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend import seed

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(base, path, body=None, method=None):
    """`(status, json)` of one HTTP request."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_healthy(base, process, deadline_s=30):
    """Poll /health until it answers; fail early if the server process ends."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.stdout.read()}")
        try:
            if request(base, "/health")[0] == 200:
                return
        except OSError:
            time.sleep(0.05)  # not up yet: the port is not listening
    raise AssertionError("server did not become healthy")


@pytest.fixture
def serve(tmp_path):
    """Start a server command with an environment; stop it at the end of the test."""
    started = []

    def start(command, **env):
        port = free_port()
        full_env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port),
                    "DATABASE_PATH": str(tmp_path / "data" / "factory.db"), **env}
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process)
        return base

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "backend.app:create_app()"]


def test_gunicorn_workers_seed_an_empty_file_once(serve):
    base = serve(GUNICORN, WEB_CONCURRENCY="3", SEED_IF_EMPTY="1")
    status, feed = request(base, "/events?limit=1000")
    assert status == 200
    expected = len(seed.demo_events(0))  # the same shape whatever day it lands on
    assert len(feed["events"]) == expected
    status, body = request(base, "/metrics/workers")
    assert status == 200 and len(body["workers"]) == 6


def test_parallel_senders_on_several_workers_store_each_event_once(serve):
    base = serve(GUNICORN, WEB_CONCURRENCY="3", SEED_IF_EMPTY="0")
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
    base = serve([sys.executable, "-m", "backend"], SEED_IF_EMPTY="1")
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
    status, body = request(base, "/metrics/factory")
    assert status == 200 and body["factory"]["worker_count"] == 6
    status, body = request(base, "/nope")
    assert status == 404 and body["status"] == 404
