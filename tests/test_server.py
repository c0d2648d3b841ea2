"""The real servers on 127.0.0.1: gunicorn with several workers on one file, and `python -m backend`."""

import json
import os
import platform
import runpy
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from tests.servers import DEV_SERVER, GUNICORN, REPO_ROOT, Server, request

EVENT = {"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "workstation_id": "S1",
         "event_type": "working", "event_id": "e1"}


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
    # Loaded once: the newest event's number in the demo is the count of events stored.
    status, feed = request(base, "/events?limit=1")
    assert status == 200
    stored = request(base, "/health")[1]["events"]
    assert int(feed["events"][0]["event_id"].removeprefix("demo-")) == stored
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


def test_a_body_too_large_to_read_still_gets_its_413(serve):
    # The body is refused unread: the server drains it, so the answer is not lost to a reset.
    base = serve(MAX_BODY_BYTES="1000").base
    events = [{"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "workstation_id": "S1",
               "event_type": "working", "event_id": f"e{number}"} for number in range(500)]
    status, body = request(base, "/events", events)
    assert status == 413, body
    status, body = request(base, "/events", events[:1])
    assert status == 201, body


def test_an_answer_given_before_the_body_arrives_reaches_the_client(serve):
    port = serve(INGEST_TOKEN="secret").port
    body = json.dumps({"events": [EVENT] * 300}).encode()
    head = (b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        # No token: the 401 is given before the body is read, while most of it is still to come.
        client.sendall(head + body[:2000])
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += client.recv(65536)
        client.sendall(body[2000:])
        while chunk := client.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 401 ")
    assert json.loads(rest)["status"] == 401


def database_handles(pid, database_path):
    """How many open files of process `pid` are the database file itself (one per connection)."""
    folder = f"/proc/{pid}/fd"
    handles = 0
    for fd in os.listdir(folder):
        try:
            handles += os.readlink(f"{folder}/{fd}") == os.path.realpath(database_path)
        except OSError:
            pass  # closed since it was listed
    return handles


def worker_pids(pid):
    """The processes whose parent is `pid`."""
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry))
        except OSError:
            pass  # ended since it was listed
    return children


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="open files are read from /proc")
def test_each_server_thread_keeps_at_most_one_database_connection(tmp_path):
    threads = runpy.run_path(f"{REPO_ROOT}/gunicorn.conf.py")["threads"]
    server = Server(tmp_path / "server", WEB_CONCURRENCY="2").start()
    try:
        # Far more requests at once than threads, so every thread of both workers serves some.
        with ThreadPoolExecutor(max_workers=4 * threads) as pool:
            answers = list(pool.map(lambda _: request(server.base, "/workers")[0], range(16 * threads)))
        assert answers == [200] * (16 * threads)
        workers = worker_pids(server.process.pid)
        assert len(workers) == 2
        handles = [database_handles(pid, server.database_path) for pid in workers]
        assert all(1 <= count <= threads + 1 for count in handles), handles  # and the roll-up keeper's
        assert database_handles(server.process.pid, server.database_path) == 0  # none kept from before the fork
    finally:
        server.stop()


# In a process that ran a settings file: sixteen threads alive at once, each asking malloc for
# memory, then the number of arenas glibc's `malloc_info` reports (without a limit glibc gives each
# thread one of its own), and the interpreter's switch interval.
PROCESS_SETTINGS = textwrap.dedent("""
    import ctypes, json, runpy, sys, threading
    runpy.run_path(sys.argv[1])
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.open_memstream.restype = ctypes.c_void_p
    together = threading.Barrier(17)
    def allocate():
        libc.malloc(1000)
        together.wait()
    threads = [threading.Thread(target=allocate) for _ in range(16)]
    for thread in threads:
        thread.start()
    together.wait()
    text, size = ctypes.c_char_p(), ctypes.c_size_t()
    stream = ctypes.c_void_p(libc.open_memstream(ctypes.byref(text), ctypes.byref(size)))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(json.dumps({"arenas": text.value.decode().count("<heap nr="), "switch_s": sys.getswitchinterval()}))
""")


def process_settings(settings_file):
    done = subprocess.run([sys.executable, "-c", PROCESS_SETTINGS, settings_file], capture_output=True, text=True,
                          check=True, env={**os.environ, "PORT": "5000"})
    return json.loads(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_a_server_process_shares_two_malloc_arenas_and_switches_threads_often():
    assert process_settings(f"{REPO_ROOT}/gunicorn.conf.py") == {"arenas": 2, "switch_s": 0.0005}
    # What the settings change: Python's own switch interval, and an arena for each thread.
    unset = process_settings(os.devnull)
    assert unset["arenas"] > 2 and unset["switch_s"] == 0.005


def test_each_server_process_computes_the_rollups_a_backfill_left_stale(serve, tmp_path):
    # Ten days of history in one request leave most of their hours stale; without any further
    # request, the process's keeper computes them, so readers do not work them out from events.
    server = serve()
    now = time.time_ns() // 1_000_000 // 3_600_000 * 3_600_000  # this hour's start, in epoch ms
    events = [{"timestamp": datetime.fromtimestamp((now - hour * 3_600_000 + minute * 60_000) / 1000, UTC).isoformat(),
               "worker_id": f"W{hour % 3}", "workstation_id": "S1", "event_type": kind}
              for hour in range(1, 10 * 24) for minute, kind in ((1, "working"), (30, "idle"))]
    assert request(server.base, "/events", {"events": events})[0] == 201
    conn = sqlite3.connect(server.database_path)
    try:
        def stale():
            return conn.execute("SELECT COUNT(*) FROM rollup_hours WHERE stale = 1 AND hour < ?",
                                (now // 3_600_000,)).fetchone()[0]
        assert stale() > 0  # the keeper's first look is a few seconds away
        deadline = time.monotonic() + 60
        while stale():  # polling a condition, not a wait standing in for one
            assert time.monotonic() < deadline, f"{stale()} hours still stale"
            time.sleep(0.05)
    finally:
        conn.close()


def test_nginx_passes_every_api_route_to_the_backend():
    # In Docker the API is reached only through nginx: a route its pattern misses is a 404 there.
    import pathlib
    import re

    from backend import openapi

    template = (pathlib.Path(REPO_ROOT) / "deploy" / "nginx" / "default.conf.template").read_text()
    (pattern,) = re.findall(r"location ~ (\^/\(events[^ ]*)\s*\{", template)
    missed = [path for path in openapi.DOCUMENT["paths"] if path != "/" and not re.match(pattern, path)]
    assert missed == []
